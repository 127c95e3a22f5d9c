"""The backend side of a node: worker threads that decode, run the backend, and route results.

One engine, two backend styles. A synchronous ``Backend`` (``infer(batch)``) runs on the worker
threads described below; a per-request ``AsyncBackend`` (``async generate(request)``, LLM
serving engines) runs on one event loop instead (``_async_runner``). Both share the in-flight
limit, the node's books (``Pending``/``Result``) and the stream writers.

Each worker loops: take a batch from the work queue, decompress each sample (timed, inside the
node's measurement), call ``backend.infer`` once, and hand every result to its stream's writer.
Each decoded sample is an ``InferRequest`` for the backend and, beside it, a ``Pending`` for the
node (where and when its answer belongs). A sample that cannot be decoded, or a backend failure,
becomes a result with ``error`` set.

A backend that declares ``inline = True`` (cheap, non-blocking ``infer``, e.g. echo) skips the
workers when node-side batching is off: the stream's reader thread runs each message itself,
saving one thread hand-off (about 30 us of node time per sample here).
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

from protos.v1.columns import SampleRows

from ._async_runner import AsyncRunner, is_async_backend
from ._batcher import Batcher, MessageQueue, Slice, WorkQueue
from ._codec import CodecError, Decoder
from ._config import NodeConfig
from ._counters import WorkerCounters
from ._errors import ConfigError
from ._limit import InflightLimit
from ._work import Pending, Result, ResultSink, Work, error_result, now_ns
from .backends.base import InferRequest, InferResult


@dataclasses.dataclass(frozen=True)
class EngineStatistics:
    batches: int
    samples_computed: int
    samples_failed: int
    samples_skipped: int
    peak_batch: int
    queued: int


class Engine:
    """Owns the work queue, the in-flight limit and the worker threads; starts and joins them."""

    def __init__(self, backend: Any, backend_label: str, config: NodeConfig) -> None:
        self.backend = backend
        self.label = backend_label
        self.workers = config.workers
        self.limit = InflightLimit(config.max_inflight_samples, config.max_inflight_bytes)
        self.queue: WorkQueue = (
            Batcher(config.max_batch, config.batch_timeout_us)
            if config.max_batch
            else MessageQueue()
        )
        self.inline = bool(getattr(backend, "inline", False)) and not config.max_batch
        self._threads: list[threading.Thread] = []
        self._counters = [WorkerCounters() for _ in range(config.workers)]
        self.runner: AsyncRunner | None = None
        if is_async_backend(backend):
            if config.max_batch:
                raise ConfigError(
                    f"--max-batch does not apply to backend {backend_label!r}: it takes one "
                    "request at a time and its engine batches (set its concurrency instead)"
                )
            self.workers = 0  # no worker threads: the runner's loop does the work
            self.inline = False
            counters = WorkerCounters()
            self._counters = [counters]
            self.runner = AsyncRunner(backend, backend_label, counters)
        self._counters_lock = threading.Lock()
        self._local = threading.local()  # the decoder and counters of each inline reader thread
        self.failure: BaseException | None = None

    def describe(self) -> Mapping[str, str]:
        """What serves the backend (an engine's url, model, version), for Describe."""
        describe = getattr(self.backend, "describe", None)
        if not callable(describe):
            return {}
        info = describe()
        return {str(k): str(v) for k, v in info.items()} if isinstance(info, Mapping) else {}

    def start(self) -> None:
        """Start the workers, or the async runner (awaiting the backend's ``start()``: this
        is where a node in front of an engine waits for it)."""
        if self.runner is not None:
            self.runner.start()
            return
        for index in range(self.workers):
            thread = threading.Thread(
                target=self._run, args=(index,), name=f"sut-worker-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def submit(self, work: Work) -> None:
        """Queue ``work`` for the workers, or run it now on this thread if the backend is inline."""
        if self.runner is not None:
            self.runner.submit(work)
            return
        if not self.inline:
            self.queue.put(work)
            return
        local = self._local
        try:
            decoder, counters = local.decoder, local.counters
        except AttributeError:
            decoder, counters = local.decoder, local.counters = Decoder(), WorkerCounters()
            with self._counters_lock:
                self._counters.append(counters)
        self._guarded([(work, work.samples)], decoder, counters)

    def close(self, timeout: float) -> None:
        """Let the workers finish what is queued, then join them (up to ``timeout`` s)."""
        if self.runner is not None:
            self.runner.close(timeout)
        self.queue.close(self.workers)
        self.limit.close()
        for thread in self._threads:
            thread.join(timeout)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            print(
                f"sut-server: backend still busy after {timeout:g} s in {', '.join(alive)}; "
                "leaving it behind",
                file=sys.stderr,
                flush=True,
            )

    def statistics(self) -> EngineStatistics:
        with self._counters_lock:
            counters = list(self._counters)
        return EngineStatistics(
            batches=sum(c.batches for c in counters),
            samples_computed=sum(c.samples for c in counters),
            samples_failed=sum(c.failed for c in counters),
            samples_skipped=sum(c.skipped for c in counters),
            peak_batch=max((c.peak_batch for c in counters), default=0),
            queued=self.runner.queued if self.runner is not None else self.queue.depth(),
        )

    # --- worker threads --------------------------------------------------------------------

    def _run(self, index: int) -> None:
        decoder = Decoder()
        counters = self._counters[index]
        take = self.queue.take
        while True:
            batch = take()
            if batch is None:
                return
            self._guarded(batch, decoder, counters)

    def _guarded(self, batch: list[Slice], decoder: Decoder, counters: WorkerCounters) -> None:
        try:
            self._process(batch, decoder, counters)
        except Exception as exc:  # a bug in the node: keep serving, but say so loudly
            if self.failure is None:
                self.failure = exc
            traceback.print_exc(file=sys.stderr)

    def _process(self, batch: list[Slice], decoder: Decoder, counters: WorkerCounters) -> None:
        decode = decoder.decode
        requests: list[InferRequest] = []  # what the backend sees
        pending: list[Pending] = []  # beside it, what the node needs to answer each one
        picked = now_ns()  # the wait in the queue ends here, decompression starts
        for work, samples in batch:
            if work.stream.closed:
                counters.skipped += len(samples)
                continue
            if isinstance(samples, SampleRows):
                self._rows(work, samples, decoder, counters, picked, requests, pending)
                continue
            for sample in samples:
                try:
                    data = decode(sample)
                except CodecError as exc:
                    counters.failed += 1
                    work.stream.deliver([error_result(work, sample.response_id, str(exc))])
                    continue
                books = Pending(sample.response_id, work, picked, now_ns())
                request = InferRequest(
                    sample.sample_index, data, sample.dtype, tuple(sample.shape), books.first_token
                )
                requests.append(request)
                pending.append(books)
        if not requests:
            return
        count = len(requests)
        counters.batches += 1
        counters.samples += count
        if count > counters.peak_batch:
            counters.peak_batch = count
        results = self._infer(requests)
        computed = now_ns()
        by_stream: dict[ResultSink, list[Result]] = {}
        for books, result in zip(pending, results):
            if isinstance(result, bytes):
                item = books.result(result, 0, "", computed)
            else:
                if result.error:
                    counters.failed += 1
                item = books.result(result.payload, result.n_tokens, result.error, computed)
            stream = books.work.stream
            found = by_stream.get(stream)
            if found is None:
                by_stream[stream] = [item]
            else:
                found.append(item)
        for stream, items in by_stream.items():
            stream.deliver(items)

    @staticmethod
    def _rows(
        work: Work,
        rows: SampleRows,
        decoder: Decoder,
        counters: WorkerCounters,
        picked: int,
        requests: list[InferRequest],
        pending: list[Pending],
    ) -> None:
        """``_process`` for the rows of a columnar block, read column by column."""
        decode = decoder.decode_parts
        ids, indices, payloads = rows.response_ids, rows.sample_indices, rows.payloads
        compressions, sizes = rows.compressions, rows.uncompressed_sizes
        dtypes, shapes = rows.dtypes, rows.shapes
        for k, rid in enumerate(ids):
            try:
                data = decode(payloads[k], compressions[k], sizes[k])
            except CodecError as exc:
                counters.failed += 1
                work.stream.deliver([error_result(work, rid, str(exc))])
                continue
            books = Pending(rid, work, picked, now_ns())
            requests.append(InferRequest(indices[k], data, dtypes[k], shapes[k], books.first_token))
            pending.append(books)

    def _infer(self, requests: list[InferRequest]) -> Sequence[InferResult | bytes]:
        """Call the backend; normalise its answers; turn its failures into error results."""
        try:
            results = list(self.backend.infer(requests))
            if len(results) != len(requests):
                raise RuntimeError(f"returned {len(results)} results for {len(requests)} requests")
            for position, result in enumerate(results):
                if result.__class__ is bytes or isinstance(result, InferResult):
                    continue
                if isinstance(result, (bytearray, memoryview)):
                    results[position] = bytes(result)
                else:
                    raise TypeError(
                        f"returned {type(result).__name__} where bytes or InferResult belongs"
                    )
        except Exception as exc:
            failed: InferResult | bytes = InferResult(error=f"backend {self.label} failed: {exc!r}")
            return [failed] * len(requests)
        return results
