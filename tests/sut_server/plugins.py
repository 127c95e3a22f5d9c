"""Backends used by the tests through the ``module:Class`` plugin mechanism."""

from __future__ import annotations

import asyncio
import struct
import threading
import time

from sut_server import AsyncBackend, Backend, BackendError, InferRequest, InferResult, OptionReader


class BatchSize(Backend):
    """Answers each sample with (batch size, sample index) as two little-endian int32."""

    name = "batch-size"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.delay_s = opts.number("delay_ms", 0.0, minimum=0.0) / 1e3
        opts.finish()

    def infer(self, requests):
        if self.delay_s:
            time.sleep(self.delay_s)
        return [struct.pack("<ii", len(requests), r.sample_index) for r in requests]


class Failing(Backend):
    """Raises for a batch holding sample index 13; says per sample when the payload is b"bad"."""

    name = "failing"

    def infer(self, requests):
        if any(r.sample_index == 13 for r in requests):
            raise RuntimeError("unlucky sample")
        return [InferResult(error="bad input") if r.data == b"bad" else r.data for r in requests]


class Counting(Backend):
    """Sleeps ``delay_ms`` per batch and counts the samples it ran."""

    name = "counting"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.delay_s = opts.number("delay_ms", 50.0, minimum=0.0) / 1e3
        opts.finish()
        self.ran = 0
        self._lock = threading.Lock()

    def infer(self, requests):
        time.sleep(self.delay_s)
        with self._lock:
            self.ran += len(requests)
        return [b"done"] * len(requests)


class NotABackend:
    """Has no infer(): loading it must fail with a clear message."""

    def __init__(self, options: dict[str, str]) -> None:
        pass


class BrokenInit(Backend):
    def __init__(self, options: dict[str, str]) -> None:
        raise ValueError("the model file is missing")

    def infer(self, requests):
        raise AssertionError("never built")


class ThreadName(Backend):
    """Answers with the name of the thread that ran it; ``inline=1`` declares it inline."""

    name = "thread-name"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.inline = opts.integer("inline", 0) == 1
        opts.finish()

    def infer(self, requests):
        return [threading.current_thread().name.encode()] * len(requests)


class Gated(Backend):
    """Holds every batch until the test opens ``GATE``: work that cannot finish before it."""

    name = "gated"
    GATE = threading.Event()
    STARTED = threading.Event()  # set once a batch is waiting at the gate

    def infer(self, requests):
        Gated.STARTED.set()
        if not Gated.GATE.wait(60):
            raise RuntimeError("the test never opened the gate")
        return [r.data for r in requests]


class Fields(Backend):
    """Answers with what a request offers a backend: its attribute names, then its fields."""

    name = "fields"

    def infer(self, requests):
        return [
            " ".join(sorted(n for n in dir(r) if not n.startswith("__"))).encode()
            + f" | {r.sample_index} {r.dtype} {r.shape} {r.data!r}".encode()
            for r in requests
        ]


class StaggeredLLM(AsyncBackend):
    """Per request: the first token after ``(count - sample_index) x step_ms`` (later samples
    first), the final result one step later; records the peak of concurrent generate calls."""

    name = "staggered-llm"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.count = opts.integer("count", 8, minimum=0)
        self.step_s = opts.number("step_ms", 20.0, minimum=0.0) / 1e3
        self.hold_s = opts.number("hold_ms", 0.0, minimum=0.0) / 1e3
        self.concurrency = opts.integer("concurrency", 256, minimum=1)
        self.fail_index = opts.integer("fail_index", -1)
        self.options = opts.finish()
        self.active = 0
        self.peak = 0

    async def generate(self, request: InferRequest) -> InferResult:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            index = request.sample_index
            if index == self.fail_index:
                raise ValueError(f"no answer for sample {index}")
            await asyncio.sleep(self.hold_s + max(0, self.count - index) * self.step_s)
            request.first_token(struct.pack("<i", index))
            await asyncio.sleep(self.step_s)
            return InferResult(payload=struct.pack("<ii", index, self.peak), n_tokens=2)
        finally:
            self.active -= 1

    def describe(self) -> dict[str, str]:
        return {"url": "http://127.0.0.1:1/v1", "model": "staggered", "version": ""}


class NeverReady(AsyncBackend):
    """An engine backend whose engine never comes up: start() fails with one clear line."""

    name = "never-ready"

    async def start(self) -> None:
        raise BackendError("engine at http://127.0.0.1:1/v1 not ready within 0 s")

    async def generate(self, request: InferRequest) -> bytes:
        return b""


class BrokenStart(AsyncBackend):
    """A plugin whose start() has a bug: the node still says it in one line."""

    name = "broken-start"

    async def start(self) -> None:
        raise RuntimeError("engine client misconfigured")

    async def generate(self, request: InferRequest) -> bytes:
        return b""
