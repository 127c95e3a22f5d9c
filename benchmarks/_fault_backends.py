"""Backends that misbehave on purpose, for benchmarks/faults.py (sut-server --backend
benchmarks._fault_backends:NAME, run from the project root)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence

from sut_server.backends.base import Backend, InferRequest, InferResult, OptionReader


class HangOne(Backend):
    """Echo, except that the ``hang_at``-th sample received is never answered (its worker
    sleeps until the node stops): one hung sample while the node keeps answering others."""

    name = "hang-one"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.hang_at = opts.integer("hang_at", 100, minimum=1)
        self.options = opts.finish()
        self._seen = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        with self._lock:
            first = self._seen + 1
            self._seen += len(requests)
        if first <= self.hang_at < first + len(requests):
            print(f"hang-one: hanging sample {self.hang_at}", file=sys.stderr, flush=True)
            self._closed.wait()
        return [r.data for r in requests]

    def close(self) -> None:
        self._closed.set()


class ErrorEvery(Backend):
    """Echo, except that every ``every``-th sample received is answered with an error."""

    name = "error-every"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.every = opts.integer("every", 7, minimum=1)
        self.options = opts.finish()
        self._seen = 0
        self._lock = threading.Lock()

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        out: list[InferResult | bytes] = []
        for r in requests:
            with self._lock:
                self._seen += 1
                bad = self._seen % self.every == 0
            out.append(InferResult(error="injected error") if bad else r.data)
        return out
