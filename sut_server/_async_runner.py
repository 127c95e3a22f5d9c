"""The per-request side of the engine: one asyncio event loop that runs an ``AsyncBackend``.

LLM serving engines batch continuously themselves, so a node in front of one keeps hundreds of
requests in flight at once and must pass each request's first token on the moment it exists.
Threads per request would cost a stack and a GIL hand-off each; here every sample is one
coroutine on ONE loop, in a thread this runner owns, starts and joins:

    reader thread --submit(work)--> loop: queue its samples --(<= concurrency)--> generate()
                                    first_token() ---------> stream writer (KIND_FIRST_TOKEN)
                                    final result ----------> stream writer (KIND_FINAL)

Samples wait in arrival order while ``concurrency`` are in flight (a deque, not a task per
waiting sample: an Offline query can bring tens of thousands at once). A sample whose stream has
ended by the time its turn comes is skipped, as the worker threads skip theirs.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import inspect
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from protos.v1 import sut_node_pb2 as pb

from ._codec import CodecError, Decoder
from ._counters import WorkerCounters
from ._errors import BackendError
from ._work import Pending, Row, Work, each_sample, error_result, now_ns
from .backends.base import InferRequest, InferResult

T = TypeVar("T")


class AsyncRunner:
    """Runs ``backend.generate`` for each submitted sample on its own event loop thread."""

    def __init__(self, backend: Any, label: str, counters: WorkerCounters) -> None:
        self.backend = backend
        self.label = label
        self.concurrency = _concurrency(backend, label)
        self._counters = counters
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sut-async-backend", daemon=True
        )
        self._waiting: collections.deque[tuple[Work, pb.Sample | Row]] = collections.deque()
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._decoder = Decoder()
        self._idle: asyncio.Event | None = None  # set while nothing waits or runs
        self._closed = False

    @property
    def queued(self) -> int:
        """Samples waiting for a turn (read without a lock: a gauge, not a book)."""
        return len(self._waiting)

    def start(self) -> None:
        """Start the loop and await ``backend.start()`` on it (raising what it raises)."""
        self._thread.start()
        self._call(self._make_idle())
        start = getattr(self.backend, "start", None)
        if start is None:
            return
        try:
            self._call(start())
        except BackendError:
            raise
        except Exception as exc:  # a plugin's bug: still one line for the user, not a traceback
            raise BackendError(f"backend {self.label!r} failed to start: {exc!r}") from exc

    def submit(self, work: Work) -> None:
        """Queue the samples of one received message (called on a stream's reader thread)."""
        self._loop.call_soon_threadsafe(self._accept, work)

    def close(self, timeout: float) -> None:
        """Let queued and running samples finish (up to ``timeout`` s), then ``aclose()`` the
        backend, stop the loop and join its thread."""
        if self._closed or not self._thread.is_alive():
            self._closed = True
            return
        self._closed = True
        try:
            self._call(self._drain(), timeout + 1.0)
        except concurrent.futures.TimeoutError:
            self._call(self._cancel(), 5.0)  # what is still running after the grace is dropped
        aclose = getattr(self.backend, "aclose", None)
        if aclose is not None:
            try:
                self._call(aclose(), 5.0)
            except Exception as exc:  # closing must not hide the run's own outcome
                print(f"sut-server: backend {self.label}: aclose() failed: {exc!r}", flush=True)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5.0)
        if not self._thread.is_alive():
            self._loop.close()

    # --- on the loop -----------------------------------------------------------------------

    async def _make_idle(self) -> None:
        self._idle = asyncio.Event()
        self._idle.set()

    def _accept(self, work: Work) -> None:
        self._waiting.extend((work, sample) for sample in each_sample(work.samples))
        self._pump()

    def _pump(self) -> None:
        waiting = self._waiting
        while waiting and self._running < self.concurrency:
            work, sample = waiting.popleft()
            if work.stream.closed:
                self._counters.skipped += 1
                continue
            self._running += 1
            if self._running > self._counters.peak_batch:
                self._counters.peak_batch = self._running  # peak in flight, for statistics
            task = self._loop.create_task(self._one(work, sample))
            self._tasks.add(task)
            task.add_done_callback(self._finished)
        assert self._idle is not None
        if self._running or waiting:
            self._idle.clear()
        else:
            self._idle.set()

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._running -= 1
        self._pump()

    async def _one(self, work: Work, sample: pb.Sample | Row) -> None:
        counters = self._counters
        picked = now_ns()
        try:
            data = self._decoder.decode_parts(
                sample.payload, sample.compression, sample.uncompressed_size
            )
        except CodecError as exc:
            counters.failed += 1
            work.stream.deliver([error_result(work, sample.response_id, str(exc))])
            return
        books = Pending(sample.response_id, work, picked, now_ns())
        request = InferRequest(
            sample.sample_index, data, sample.dtype, tuple(sample.shape), books.first_token
        )
        counters.samples += 1
        counters.batches += 1
        try:
            result = await self.backend.generate(request)
            payload, n_tokens, error = _unpack(result)
        except Exception as exc:
            payload, n_tokens, error = b"", 0, f"backend {self.label} failed: {exc!r}"
        if error:
            counters.failed += 1
        work.stream.deliver([books.result(payload, n_tokens, error, now_ns())])

    async def _drain(self) -> None:
        assert self._idle is not None
        await self._idle.wait()

    async def _cancel(self) -> None:
        self._waiting.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- from other threads ----------------------------------------------------------------

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)


def _unpack(result: object) -> tuple[bytes, int, str]:
    if isinstance(result, InferResult):
        return result.payload, result.n_tokens, result.error
    if isinstance(result, (bytes, bytearray, memoryview)):
        return bytes(result), 0, ""
    raise TypeError(
        f"generate() returned {type(result).__name__} where bytes or InferResult belongs"
    )


def _concurrency(backend: Any, label: str) -> int:
    value = getattr(backend, "concurrency", 256)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BackendError(f"backend {label!r}: concurrency must be an integer >= 1, not {value!r}")
    return value


def is_async_backend(backend: Any) -> bool:
    """True for a per-request backend: one whose ``generate`` is a coroutine function."""
    return inspect.iscoroutinefunction(getattr(backend, "generate", None))
