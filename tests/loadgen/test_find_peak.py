"""FindPeakPerformance: the bisection on a probe that runs nothing, then a whole search on a
virtual clock."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np

import loadgen as lg
from loadgen._detail_log import DetailLog
from loadgen._effective import EffectiveSettings, effective_settings
from loadgen._find_peak import find_peak_performance
from loadgen._records import PerformanceRecord
from loadgen._results import PerformanceResult, compute_results
from loadgen.clock import VirtualClock

from .test_scenarios import CountingQSL

MS = 1_000_000


def server_settings(**fields: object) -> lg.TestSettings:
    s = lg.TestSettings()
    s.scenario = lg.TestScenario.Server
    s.mode = lg.TestMode.FindPeakPerformance
    s.server_target_qps = 100
    s.server_target_latency_ns = 10 * MS
    for k, v in fields.items():
        setattr(s, k, v)
    return s


def result_with_latency(eff: EffectiveSettings, latency_ns: int) -> PerformanceResult:
    """The real results of a run whose 10 samples all took ``latency_ns``."""
    record = PerformanceRecord(
        settings=eff,
        queries_issued=10,
        sample_latency_ns=np.full(10, latency_ns, dtype=np.int64),
        query_latency_ns=np.zeros(0, np.int64),
        final_query_scheduled_offset_ns=9 * MS,
        final_query_issue_offset_ns=9 * MS,
        final_query_all_done_offset_ns=9 * MS + latency_ns,
        max_completion_offset_ns=9 * MS + latency_ns,
    )
    return compute_results(record)


class CapacityProbe:
    """Meets the 10 ms bound up to ``capacity`` QPS, misses it above; records what it probed."""

    def __init__(self, capacity: float) -> None:
        self.capacity = capacity
        self.probed: list[float] = []

    def __call__(self, eff: EffectiveSettings) -> PerformanceResult:
        self.probed.append(eff.target_qps)
        return result_with_latency(eff, MS if eff.target_qps <= self.capacity else 50 * MS)


def search(capacity: float, **fields: object):
    eff = effective_settings(server_settings(**fields), 16, 64)
    probe = CapacityProbe(capacity)
    out = io.StringIO()
    result, peak = find_peak_performance(eff, probe, DetailLog(out, 0))
    messages = [
        json.loads(line[len(":::MLLOG ") :])["value"] for line in out.getvalue().splitlines()
    ]
    return probe.probed, result, peak, messages


def test_bounds_double_then_bisect_to_one_decimal():
    probed, result, peak, messages = search(530)
    assert probed == [
        100.0, 200.0, 400.0, 800.0,  # the lower bound, then doubling until one fails
        600.0, 500.0, 550.0, 525.0, 537.5, 531.25, 528.125, 529.6875, 530.46875, 530.078125,
        529.8828125, 529.98046875,  # halving [400, 800) until floor(10 lo) + 1 >= floor(10 hi)
    ]  # fmt: skip
    assert peak == 529.98046875
    assert result.settings.target_qps == peak and result.perf_constraints_met
    assert "FindPeakPerformance: Found boundaries: [400.000000, 800.000000)" in messages
    assert messages[-1] == "FindPeakPerformance: Found peak performance field: 529.980469"


def test_step_size_and_precision_shape_the_search():
    probed, _, peak, _ = search(
        530,
        server_find_peak_qps_boundary_step_size=3.0,  # x4 per step
        server_find_peak_qps_decimals_of_precision=0,
    )
    assert probed[:3] == [100.0, 400.0, 1600.0]
    assert probed[3:] == [
        1000.0, 700.0, 550.0, 475.0, 512.5, 531.25, 521.875, 526.5625, 528.90625, 530.078125,
        529.4921875,
    ]  # fmt: skip
    assert peak == 529.4921875  # floor(529.49) + 1 >= floor(530.08): whole QPS resolved


def test_a_failing_lower_bound_ends_the_search_with_no_peak():
    probed, result, peak, messages = search(99.9)
    assert probed == [100.0] and peak is None
    assert not result.perf_constraints_met
    assert any(
        str(m).startswith("FindPeakPerformance: Initial lower bound does not satisfy")
        for m in messages
    )


def test_find_peak_outside_server_logs_the_error_and_probes_nothing():
    eff = effective_settings(server_settings(scenario=lg.TestScenario.Offline), 16, 64)
    probe = CapacityProbe(1)
    detail = DetailLog(io.StringIO(), 0)
    assert find_peak_performance(eff, probe, detail) == (None, None)
    assert probe.probed == [] and detail.error_count == 1


# --- a whole search, run by the LoadGen on virtual time ----------------------------------------


class QueueSUT(lg.SystemUnderTest):
    """One server that takes ``service_ns`` per sample, first come first served."""

    def __init__(self, clock: VirtualClock, service_ns: int) -> None:
        self.clock, self.service_ns = clock, service_ns
        self.free_at = 0

    def name(self) -> str:
        return "QueueSUT"

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        for s in samples:
            self.free_at = max(self.free_at, self.clock.now_ns()) + self.service_ns
            response = [lg.QuerySampleResponse(s.id, b"")]
            self.clock.call_at(self.free_at, lg.QuerySamplesComplete, response)

    def flush_queries(self) -> None:
        pass


def test_find_peak_run_on_virtual_time_finds_a_peak_below_the_sut_capacity(tmp_path):
    clock = VirtualClock()
    s = server_settings(
        server_target_qps=50, min_duration_ms=2000, min_query_count=100
    )  # a 1 ms server: 1000 QPS at most, far less within a 10 ms p99
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    qsl = CountingQSL()
    report = lg.run_test(QueueSUT(clock, MS), qsl, s, ls, clock=clock)
    peak = report.find_peak_qps
    text = Path(report.detail_path).read_text()
    bounds = re.findall(r"FindBoundaries: Checking fields \[[0-9.]+, ([0-9.]+)\)", text)
    mids = re.findall(r"Testing the mid value of bounds \[[0-9.]+, [0-9.]+\): ([0-9.]+)", text)
    # Its own sample set for the base probe and each boundary probe; one for the bisection.
    assert len(qsl.loaded) == 1 + len(bounds) + 1
    assert f"Found peak performance field: {peak:f}" in text
    assert report.result is not None and report.result.perf_constraints_met
    # Doubling from 50 passes up to 800 QPS (80 % busy) and fails at 1600 (overloaded); the
    # bisection of [800, 1600) ends below the 1000 QPS the server can do at all.
    assert bounds == ["100.000000", "200.000000", "400.000000", "800.000000", "1600.000000"]
    assert peak is not None and 800 <= peak < 1000
    assert len(mids) == 13 and float(mids[0]) == 1200
    # The same search again on a fresh clock probes the same rates: virtual time is exact.
    fresh = VirtualClock()
    again = lg.run_test(QueueSUT(fresh, MS), CountingQSL(), s, ls, clock=fresh)
    assert again.find_peak_qps == peak
