"""Single measurement runs for ``network.py``: our LoadGen driving the QDL against real nodes.

Every run builds a fresh QDL over gRPC (``streams`` Infer streams per node), runs one test with
``loadgen.run_test`` (which also hands back the Server issue delays) and closes the QDL. The
null-SUT run answers inline in this process, so its latency is the LoadGen's own share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

import loadgen
from qdl import (
    CompressionConfig,
    DispatchConfig,
    EncodingQSL,
    QueryDispatchLibrary,
    SyntheticQSL,
    SyntheticSpec,
    TlsConfig,
    make_binding,
)

LATENCY_BOUND_NS = 10_000_000
"""The Server latency bound the search holds the p99 to."""


class LowEntropyQSL(EncodingQSL):
    """Image-like samples that compress well: a smooth gradient, flat areas, a little noise."""

    def __init__(
        self, shape: tuple[int, ...], count: int, compression: CompressionConfig, **kw: Any
    ) -> None:
        self.shape = shape
        super().__init__(count, kw.get("performance_count"), compression)

    def name(self) -> str:
        return f"LowEntropyQSL({'x'.join(map(str, self.shape))}:uint8)"

    def _array(self, index: int) -> np.ndarray:
        rng = np.random.default_rng([7, index])
        flat = np.zeros(int(np.prod(self.shape)), dtype=np.uint8)
        # Half the sample a slow ramp, the rest zeros; 1 % of bytes sprinkled with noise.
        ramp = len(flat) // 2
        flat[:ramp] = (np.arange(ramp) // 512 + index) % 256
        noisy = rng.integers(0, len(flat), len(flat) // 100)
        flat[noisy] = rng.integers(0, 256, len(noisy), dtype=np.uint8)
        return flat.reshape(self.shape)


def synthetic_qsl(
    spec: str, compression: str = "none", data: str = "random", performance_count: int = 0
) -> EncodingQSL:
    """A loaded-on-demand QSL: ``data`` "random" (SyntheticQSL) or "low-entropy"."""
    config = CompressionConfig(compression)
    parsed = SyntheticSpec.parse(spec)
    count = performance_count or None
    if data == "random":
        return SyntheticQSL(parsed, performance_count=count, compression=config)
    return LowEntropyQSL(parsed.shape, parsed.count, config, performance_count=count)


@dataclasses.dataclass
class RunResult:
    """What one test run measured."""

    valid: bool
    result: Any  # loadgen PerformanceResult
    issue_delay_ns: np.ndarray
    elapsed_s: float
    bytes_sent: int = 0
    bytes_received: int = 0
    samples: int = 0
    cpu_s: tuple[float, ...] = ()  # CPU seconds during the test: this process, then each node
    samples_per_message: dict[int, int] = dataclasses.field(default_factory=dict)  # all nodes
    results_per_message: dict[int, int] = dataclasses.field(default_factory=dict)
    rss_growth_per_sample: float | None = None  # bytes, when the run was watched (``watch_rss``)
    rss_whole_run_per_sample: float | None = None  # the same from before the test started
    workers_cpu_s: float = 0.0  # CPU seconds of the dispatch worker processes, all together
    ring_delay_ns: tuple[int, int] = (0, 0)  # completion-ring wait p50, p99 (with workers)


def rss_bytes() -> int:
    """This process's resident set size (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


class RssWatch:
    """Samples (completed samples, RSS) every ``period_s`` while a run is under way; the growth
    per sample is the slope between the first point past ``skip`` of the run (the LoadGen's
    start-up allocations are behind it) and the last one."""

    def __init__(self, qdl: QueryDispatchLibrary, period_s: float = 0.5) -> None:
        self.points: list[tuple[int, int]] = []
        self._qdl = qdl
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-watch", daemon=True)

    def __enter__(self) -> RssWatch:
        self.before = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.points.append((self._qdl.statistics().samples_completed, rss_bytes()))

    def growth_per_sample(self, skip: float = 0.2) -> float | None:
        points = [p for p in self.points if p[0] > 0]
        if len(points) < 3:
            return None
        first = points[int(len(points) * skip)]
        last = points[-1]
        samples = last[0] - first[0]
        return (last[1] - first[1]) / samples if samples > 0 else None

    def whole_run_per_sample(self) -> float | None:
        """RSS growth from before the test (the LoadGen's schedule and query objects, made
        before it starts issuing, included) to its last point, per sample."""
        if not self.points or not self.points[-1][0]:
            return None
        return (self.points[-1][1] - self.before) / self.points[-1][0]


def _merged(histograms: Sequence[dict[int, int]]) -> dict[int, int]:
    total: dict[int, int] = {}
    for histogram in histograms:
        for n, count in histogram.items():
            total[n] = total.get(n, 0) + count
    return dict(sorted(total.items()))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc; 0.0 where unavailable)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settings(scenario: str, **fields: Any) -> loadgen.TestSettings:
    settings = loadgen.TestSettings()
    settings.scenario = loadgen.TestScenario[scenario]
    settings.mode = loadgen.TestMode.PerformanceOnly
    for name, value in fields.items():
        setattr(settings, name, value)
    return settings


def _log_settings(outdir: str) -> loadgen.LogSettings:
    log = loadgen.LogSettings()
    log.log_output.outdir = outdir
    log.enable_trace = False
    return log


def run_network(
    addresses: Sequence[str],
    qsl: EncodingQSL,
    settings: loadgen.TestSettings,
    streams: int = 1,
    node_pids: Sequence[int] = (),
    framing: str = "opportunistic",
    watch_rss: bool = False,
    tls: TlsConfig | None = None,
    wire: str = "auto",
    workers: int = 0,
) -> RunResult:
    """One test of our LoadGen through the QDL against the nodes at ``addresses``, its gRPC
    work in this process or in ``workers`` dispatch worker processes."""
    config = DispatchConfig(
        streams_per_node=streams, framing=framing, tls=tls, wire=wire, dispatch_workers=workers
    )
    qdl = QueryDispatchLibrary.over_grpc(addresses, qsl, make_binding("ours"), config)
    watch = RssWatch(qdl) if watch_rss else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="lon-netbench-") as outdir:
        qdl.connect()
        try:
            pids = [os.getpid(), *node_pids]
            worker_pids = qdl.workers.pids() if qdl.workers is not None else []
            cpu0 = [cpu_seconds(p) for p in pids]
            wcpu0 = sum(cpu_seconds(p) for p in worker_pids)
            start = time.perf_counter()
            with watch:
                report = loadgen.run_test(qdl, qsl, settings, _log_settings(outdir), "")
            elapsed = time.perf_counter() - start
            cpu = tuple(cpu_seconds(p) - c for p, c in zip(pids, cpu0))
            workers_cpu = sum(cpu_seconds(p) for p in worker_pids) - wcpu0
        finally:
            qdl.close()
    if qdl.failure is not None:
        raise RuntimeError(f"network run failed: {qdl.failure}")
    stats = qdl.statistics()
    return RunResult(
        valid=report.validity == "VALID",
        result=report.result,
        issue_delay_ns=np.asarray(report.issue_delay_ns),
        elapsed_s=elapsed,
        bytes_sent=sum(n.transport.bytes_sent for n in stats.nodes),
        bytes_received=sum(n.transport.bytes_received for n in stats.nodes),
        samples=stats.samples_completed,
        cpu_s=cpu,
        samples_per_message=_merged([n.transport.samples_per_message for n in stats.nodes]),
        results_per_message=_merged([n.transport.results_per_message for n in stats.nodes]),
        rss_growth_per_sample=watch.growth_per_sample() if isinstance(watch, RssWatch) else None,
        rss_whole_run_per_sample=(
            watch.whole_run_per_sample() if isinstance(watch, RssWatch) else None
        ),
        workers_cpu_s=workers_cpu,
        ring_delay_ns=_ring_delay(qdl),
    )


def _ring_delay(qdl: QueryDispatchLibrary) -> tuple[int, int]:
    if qdl.workers is None:
        return (0, 0)
    delays = qdl.workers.ring_delays()
    return (delays.p50, delays.p99)


class NullSUT(loadgen.SystemUnderTest):
    """Answers every sample at once, on the issuing thread: the LoadGen's own latency."""

    def name(self) -> str:
        return "null"

    def issue_query(self, samples: list[Any]) -> None:
        response = loadgen.QuerySampleResponse
        loadgen.QuerySamplesComplete([response(s.id, 0, 0) for s in samples])

    def flush_queries(self) -> None:
        pass


def run_null(qsl: EncodingQSL, settings: loadgen.TestSettings) -> RunResult:
    with tempfile.TemporaryDirectory(prefix="lon-netbench-") as outdir:
        start = time.perf_counter()
        report = loadgen.run_test(NullSUT(), qsl, settings, _log_settings(outdir), "")
        elapsed = time.perf_counter() - start
    return RunResult(
        report.validity == "VALID", report.result, np.asarray(report.issue_delay_ns), elapsed
    )


def server_settings(qps: float, duration_ms: int) -> loadgen.TestSettings:
    return _settings(
        "Server",
        server_target_qps=float(qps),
        server_target_latency_ns=LATENCY_BOUND_NS,
        server_target_latency_percentile=0.99,
        min_duration_ms=duration_ms,
        min_query_count=100,
    )


def offline_settings(expected_qps: float, duration_ms: int) -> loadgen.TestSettings:
    return _settings(
        "Offline",
        offline_expected_qps=float(expected_qps),
        min_duration_ms=duration_ms,
        min_query_count=1,
    )


def single_stream_settings(duration_ms: int) -> loadgen.TestSettings:
    return _settings(
        "SingleStream",
        single_stream_expected_latency_ns=300_000,
        min_duration_ms=duration_ms,
        min_query_count=100,
    )
