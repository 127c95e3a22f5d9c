"""``sut-server --metrics-port``: the node's figures for operators, in Prometheus' format.

Cheap on the hot path by construction: counters and gauges are not updated per sample at all,
they are read from the node's own books (``NodeServer.statistics``) when Prometheus scrapes.
Only what the books lack is recorded as it happens, once per message: the bytes of each
SampleBatch in (the reader thread) and, for each ResponseBatch out (the writer thread), its
bytes and the results' timestamps, appended to a deque. A background thread (and every
scrape) turns those stamps into the per-stage latency histograms with numpy, off the
node's threads.
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ._errors import BindError, ConfigError
from ._work import FINAL, Result

STAGES = ("queueing", "decompression", "compute", "sending", "node")
"""queueing: received -> a worker picked it up; decompression: -> decoded; compute: -> the
backend answered; sending: -> its ResponseBatch was handed to gRPC; node: all of it."""
BUCKETS_S = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
DRAIN_S = 0.5

# (metric name after lon_node_, help, the NodeStatistics field or StreamObserver bytes_* field)
COUNTERS = (
    ("samples_received", "Samples that arrived on Infer streams", "samples_received"),
    ("samples_answered", "Final results sent", "samples_answered"),
    ("samples_failed", "Samples answered with an error (decoding or backend)", "samples_failed"),
    ("samples_refused", "Samples that arrived after their stream closed", "samples_refused"),
    ("samples_cancelled", "Samples left unanswered by a stream that ended", "samples_cancelled"),
    ("bytes_received", "Bytes of SampleBatches received", "bytes_received"),
    ("bytes_sent", "Bytes of ResponseBatches sent", "bytes_sent"),
    ("backend_batches", "Backend calls", "batches"),
    ("streams_served", "Infer streams served (ended or open)", "streams_served"),
)
GAUGES = (
    ("in_flight_samples", "Samples received and not yet answered", "in_flight_samples"),
    ("in_flight_bytes", "Bytes of samples received and not yet answered", "in_flight_bytes"),
    ("queue_depth", "Work waiting for a worker (messages; samples when batching)", "queued"),
    ("streams_open", "Infer streams open now", "streams_open"),
)


class StreamObserver:
    """What the streams report as messages go by; each call is a few list/deque appends."""

    def __init__(self) -> None:
        # Appended by the node's threads (a deque's append is atomic), emptied by ``drain``.
        # Per ResponseBatch: (received, picked, decompressed, computed) of each final result,
        # flat; when it was sent; its bytes.
        self._stamps: collections.deque[tuple[list[int], int, int]] = collections.deque()
        self._received: collections.deque[int] = collections.deque()
        self.bytes_received = 0
        self.bytes_sent = 0
        self._lock = threading.Lock()
        edges = np.asarray(BUCKETS_S) * 1e9
        self._edges = edges
        self.counts = {stage: np.zeros(len(edges) + 1, dtype=np.int64) for stage in STAGES}
        self.sums_s = dict.fromkeys(STAGES, 0.0)

    def received(self, nbytes: int) -> None:
        """A SampleBatch of ``nbytes`` arrived (the stream's reader thread)."""
        self._received.append(nbytes)

    def sent(self, results: Sequence[Result], sent_ns: int, nbytes: int) -> None:
        """A ResponseBatch of ``nbytes`` holding ``results`` went out (the writer thread)."""
        flat: list[int] = []
        add = flat.extend
        for r in results:
            if r.kind == FINAL:
                add((r.received_ns, r.picked_ns, r.decompressed_ns, r.computed_ns))
        self._stamps.append((flat, sent_ns, nbytes))

    def drain(self) -> None:
        """Bin the stamps recorded since the last drain (any thread; never the node's)."""
        stamps: list[list[int]] = []
        sent_at: list[int] = []
        received, sent_bytes = 0, 0
        while True:
            try:
                received += self._received.popleft()
            except IndexError:
                break
        while True:
            try:
                results, sent, nbytes = self._stamps.popleft()
            except IndexError:
                break
            sent_bytes += nbytes
            stamps.append(results)
            sent_at.append(sent)
        with self._lock:
            self.bytes_received += received
            self.bytes_sent += sent_bytes
        counts = [len(r) // 4 for r in stamps]
        total = sum(counts)
        if not total:
            return
        flat = np.fromiter(itertools.chain.from_iterable(stamps), np.int64, count=4 * total)
        arrived, picked, decompressed, computed = flat.reshape(total, 4).T
        sent_ns = np.repeat(np.asarray(sent_at, dtype=np.int64), counts)
        parts = {
            "queueing": picked - arrived,
            "decompression": decompressed - picked,
            "compute": computed - decompressed,
            "sending": sent_ns - computed,
            "node": sent_ns - arrived,
        }
        with self._lock:
            for stage, values in parts.items():
                values = np.maximum(values, 0)
                self.counts[stage] += np.bincount(
                    np.searchsorted(self._edges, values, side="left"),
                    minlength=len(self._edges) + 1,
                )
                self.sums_s[stage] += float(values.sum()) / 1e9

    def histograms(self) -> dict[str, tuple[list[tuple[str, float]], float]]:
        """Per stage: cumulative (le, count) buckets ending with +Inf, and the sum in seconds."""
        self.drain()
        out = {}
        with self._lock:
            for stage in STAGES:
                cumulative = np.cumsum(self.counts[stage]).tolist()
                buckets = [(repr(le), float(c)) for le, c in zip(BUCKETS_S, cumulative)]
                buckets.append(("+Inf", float(cumulative[-1])))
                out[stage] = (buckets, self.sums_s[stage])
        return out


class NodeCollector:
    """The node's metrics, read from its books at each scrape."""

    def __init__(
        self, statistics: Callable[[], Any], observer: StreamObserver, info: dict[str, str]
    ) -> None:
        self._statistics = statistics
        self._observer = observer
        self._info = info

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
            InfoMetricFamily,
        )

        s = self._statistics()
        o = self._observer
        histograms = o.histograms()  # drains first, so the byte counts are current too
        yield InfoMetricFamily("lon_node", "The node: name, backend and version", value=self._info)
        for name, text, attribute in COUNTERS:
            source = o if attribute.startswith("bytes_") else s
            yield CounterMetricFamily(f"lon_node_{name}", text, value=getattr(source, attribute))
        for name, text, attribute in GAUGES:
            yield GaugeMetricFamily(f"lon_node_{name}", text, value=getattr(s, attribute))
        family = HistogramMetricFamily(
            "lon_node_stage_seconds",
            "Time of each answered sample in each stage on the node",
            labels=["stage"],
        )
        for stage, (buckets, total) in histograms.items():
            family.add_metric([stage], buckets, total)
        yield family


class MetricsServer:
    """The HTTP endpoint serving ``/metrics`` from its own registry, and the drain thread."""

    def __init__(
        self,
        host: str,
        port: int,
        statistics: Callable[[], Any],
        observer: StreamObserver,
        info: dict[str, str],
    ) -> None:
        try:
            from prometheus_client import CollectorRegistry, start_http_server
        except ImportError:
            raise ConfigError(
                "--metrics-port needs prometheus_client: pip install 'lon[metrics]'"
            ) from None

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(NodeCollector(statistics, observer, info))
        address = host.strip("[]") or "0.0.0.0"
        try:
            self._http, self._thread = start_http_server(port, address, registry=self.registry)
        except OSError as exc:
            raise BindError(
                f"--metrics-port {port}: cannot listen on {address}: {exc.strerror}"
            ) from None
        self.port = int(self._http.server_address[1])
        self.host = address
        self._observer = observer
        self._stop = threading.Event()
        self._drainer = threading.Thread(target=self._drain, name="sut-metrics", daemon=True)
        self._drainer.start()

    def _drain(self) -> None:
        while not self._stop.wait(DRAIN_S):
            self._observer.drain()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        self._drainer.join()
