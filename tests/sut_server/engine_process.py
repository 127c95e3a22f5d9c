"""The reference engine as a real subprocess on 127.0.0.1:0, and helpers to drive backends."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from sut_server.backends.base import AsyncBackend, InferRequest, InferResult


class EngineProcess:
    """A running ``python -m sut_server.fake_engine``; ``url`` is its base URL."""

    def __init__(self, *args: str) -> None:
        # a file, not a pipe: a pipe nobody reads could fill and block the engine
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115  # closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sut_server.fake_engine", "--listen", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        assert self.proc.stdout is not None
        self.ready_line = self.proc.stdout.readline().strip()
        if "url=" not in self.ready_line:
            self.proc.kill()
            self.proc.wait()
            self.log.seek(0)
            raise RuntimeError(f"engine did not start: {self.log.read()}")
        self.url = self.ready_line.split("url=")[1].split()[0]
        self.errors = ""

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/stats")
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.errors = self.stderr()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()

    def stderr(self) -> str:
        """What the engine wrote on stderr so far."""
        if self.log.closed:
            return self.errors
        self.log.seek(0)
        return self.log.read()


@contextmanager
def engine(*args: str) -> Iterator[EngineProcess]:
    process = EngineProcess(*args)
    try:
        yield process
    finally:
        process.stop()


def prompt_request(index: int, prompt: Sequence[int], firsts: FirstTokens) -> InferRequest:
    data = np.asarray(prompt, dtype="<i4").tobytes()
    return InferRequest(
        index, data=data, dtype="int32", shape=(len(prompt),), on_first_token=firsts.record
    )


class FirstTokens:
    """Collects first tokens, noting whether each came before its generate() returned."""

    def __init__(self) -> None:
        self.tokens: dict[int, list[int]] = {}
        self.returned: set[int] = set()
        self.late: list[int] = []

    def record(self, request: InferRequest, payload: bytes) -> None:
        if request.sample_index in self.returned:
            self.late.append(request.sample_index)
        self.tokens.setdefault(request.sample_index, []).extend(
            np.frombuffer(payload, dtype="<i4").tolist()
        )


async def _generate_all(
    backend: AsyncBackend, prompts: Sequence[Sequence[int]], firsts: FirstTokens
) -> list[InferResult]:
    async def one(index: int, prompt: Sequence[int]) -> InferResult:
        result = await backend.generate(prompt_request(index, prompt, firsts))
        firsts.returned.add(index)
        assert isinstance(result, InferResult)
        return result

    await backend.start()
    try:
        return list(await asyncio.gather(*(one(i, p) for i, p in enumerate(prompts))))
    finally:
        await backend.aclose()


def generate_all(
    backend: AsyncBackend, prompts: Sequence[Sequence[int]]
) -> tuple[list[InferResult], FirstTokens]:
    """Start ``backend``, generate every prompt at once, close it: (results, first tokens)."""
    firsts = FirstTokens()
    results = asyncio.run(_generate_all(backend, prompts, firsts))
    return results, firsts


def ids_of(result: InferResult) -> list[int]:
    ids: list[int] = np.frombuffer(result.payload, dtype="<i4").tolist()
    return ids
