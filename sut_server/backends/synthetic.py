"""synthetic: a stand-in accelerator with a per-sample service time and a throughput cap.

Options (flags ``--service-time-us``, ``--max-qps``, ``--output-bytes`` or ``--backend-opt``):

    service_time_us  time one worker spends per sample (a batch of k takes k x this); default 0
    max_qps          samples/s the whole node can complete, across all workers; 0 = no cap
    output_bytes     size of each result; default 8

A batch of k samples finishes at the later of (start + k x service_time) and its slot in a node-wide
schedule that admits ``max_qps`` samples per second. The payload is the sample index as 8
little-endian bytes, repeated and cut to ``output_bytes``, so results can be told apart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from .base import Backend, InferRequest, InferResult, OptionReader


class SyntheticBackend(Backend):
    """Sleeps instead of computing; ``capacity`` is the throughput cap when one is set."""

    name = "synthetic"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.service_time_s = opts.number("service_time_us", 0.0, minimum=0.0, maximum=60e6) / 1e6
        self.max_qps = opts.number("max_qps", 0.0, minimum=0.0, maximum=1e9)
        self.output_bytes = opts.integer("output_bytes", 8, minimum=0, maximum=64 * 1024 * 1024)
        self.options = opts.finish()
        self._lock = threading.Lock()
        self._next_free = 0.0  # when the throughput cap lets the next sample complete

    @property
    def capacity(self) -> float | None:
        return self.max_qps or None

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        start = time.monotonic()
        count = len(requests)
        done = start + count * self.service_time_s
        if self.max_qps:
            with self._lock:
                self._next_free = max(start, self._next_free) + count / self.max_qps
                done = max(done, self._next_free)
        delay = done - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        return [self._output(request.sample_index) for request in requests]

    def _output(self, sample_index: int) -> bytes:
        size = self.output_bytes
        pattern = (sample_index & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")
        return (pattern * (size // 8 + 1))[:size]
