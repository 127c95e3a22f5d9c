"""Timing logic on a virtual clock: verdicts, early stopping, stall and max_duration limits.

Every run here lives on ``VirtualClock`` time: a SUT that answers "3 ms after issue" does so
exactly, however busy the machine, so the expectations are exact numbers, not tolerances.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

import loadgen as lg
from loadgen.clock import RealClock, VirtualClock

from .test_scenarios import CountingQSL

MS = 1_000_000


class TimedSUT(lg.SystemUnderTest):
    """Answers every sample ``latency_ns(i)`` of clock time after it is issued (never if None).

    ``issue_ns`` is how long each IssueQuery call itself blocks, in clock time.
    """

    def __init__(self, clock: VirtualClock, latency_ns=3 * MS, issue_ns: int = 0) -> None:
        self.clock = clock
        self.latency = latency_ns if callable(latency_ns) else (lambda i: latency_ns)
        self.issue_ns = issue_ns
        self.issued_at: list[int] = []
        self.samples = 0

    def name(self) -> str:
        return "TimedSUT"

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        self.issued_at.append(self.clock.now_ns())
        if self.issue_ns:
            self.clock.sleep_until(self.clock.now_ns() + self.issue_ns)
        for s in samples:
            delay = self.latency(self.samples)
            self.samples += 1
            if delay is None:
                continue
            response = [lg.QuerySampleResponse(s.id, b"")]
            if delay == 0:
                lg.QuerySamplesComplete(response)
            else:
                self.clock.call_later(delay, lg.QuerySamplesComplete, response)

    def flush_queries(self) -> None:
        pass


def settings(scenario: lg.TestScenario, **fields: object) -> lg.TestSettings:
    s = lg.TestSettings()
    s.scenario = scenario
    s.mode = lg.TestMode.PerformanceOnly
    for k, v in fields.items():
        setattr(s, k, v)
    return s


def run(tmp_path, sut, s, clock, **kw) -> lg.TestReport:
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    return lg.run_test(sut, CountingQSL(), s, ls, clock=clock, **kw)


def detail(report_or_dir) -> dict[str, object]:
    path = getattr(report_or_dir, "detail_path", None) or Path(report_or_dir) / (
        "mlperf_log_detail.txt"
    )
    out: dict[str, object] = {}
    with open(path) as f:
        for line in f:
            e = json.loads(line[len(":::MLLOG ") :])
            out.setdefault(e["key"], e["value"])
    return out


def detail_entries(directory) -> list[dict]:
    with open(Path(directory) / "mlperf_log_detail.txt") as f:
        return [json.loads(line[len(":::MLLOG ") :]) for line in f]


# --- the clock itself --------------------------------------------------------------------------


def test_callbacks_run_in_time_order_at_their_due_time():
    clock = VirtualClock()
    seen: list[tuple[str, int]] = []
    clock.call_at(30, lambda: seen.append(("c", clock.now_ns())))
    clock.call_at(10, lambda: seen.append(("a", clock.now_ns())))
    clock.call_at(10, lambda: seen.append(("b", clock.now_ns())))  # a tie keeps its order
    assert clock.sleep_until(20) == 20
    assert seen == [("a", 10), ("b", 10)]
    clock.advance(15)
    assert seen[-1] == ("c", 30) and clock.now_ns() == 35 and clock.pending() == 0


def test_wait_jumps_to_the_callback_that_sets_the_event_or_to_the_deadline():
    clock = VirtualClock(start_ns=100)
    event = threading.Event()
    clock.call_later(7, event.set)
    assert clock.wait(event, 1_000) is True and clock.now_ns() == 107
    event.clear()
    assert clock.wait(event, 5_000) is False and clock.now_ns() == 5_000


def test_wall_time_follows_the_virtual_time_and_time_never_goes_back():
    clock = VirtualClock(start_ns=0, epoch_ns=10**18)
    clock.advance(5)
    assert clock.wall_ns() == 10**18 + 5
    assert clock.sleep_until(1) == 5  # a past target returns at once
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(-1)


def test_the_real_clock_reads_perf_counter_ns_itself():
    import time

    assert RealClock().now_ns is time.perf_counter_ns  # no wrapper on the hot path


# --- latency and the Server verdict ------------------------------------------------------------


@pytest.mark.parametrize(
    "target_ns, validity", [(3 * MS, "VALID"), (3 * MS - 1, "INVALID")], ids=["at", "below"]
)
def test_server_at_100_qps_with_a_3_ms_sut_has_p99_exactly_3_ms(tmp_path, target_ns, validity):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.Server,
        server_target_qps=100,
        server_target_latency_ns=target_ns,
        min_duration_ms=1000,
        min_query_count=459,  # what early stopping needs at p99 with no query over the bound
    )
    report = run(tmp_path, TimedSUT(clock), s, clock)
    d = detail(report)
    assert d["result_99.00_percentile_latency_ns"] == 3 * MS
    assert d["result_min_latency_ns"] == d["result_max_latency_ns"] == 3 * MS
    assert report.issue_delay_ns.tolist() == [0] * 459  # every query issued on schedule
    assert report.validity == validity
    assert d["result_perf_constraints_met"] is (validity == "VALID")
    assert d["early_stopping_met"] is (validity == "VALID")


def test_server_latency_counts_from_the_schedule_so_a_slow_issuer_cannot_hide_it(tmp_path):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.Server,
        server_target_qps=2000,  # due every 0.5 ms on average; each IssueQuery blocks 3 ms
        min_query_count=50,
        min_duration_ms=10,
    )
    sut = TimedSUT(clock, latency_ns=0, issue_ns=3 * MS)
    report = run(tmp_path, sut, s, clock)
    issued = sut.issued_at
    scheduled = [t - d for t, d in zip(issued, report.issue_delay_ns.tolist())]
    # Each query goes out at its scheduled time or as soon as the previous IssueQuery returns.
    for k in range(1, len(issued)):
        assert issued[k] == max(scheduled[k], issued[k - 1] + 3 * MS)
    d = detail(report)
    # Answered inline when IssueQuery returns: latency = issue + 3 ms - scheduled.
    latencies = [i + 3 * MS - s for i, s in zip(issued, scheduled)]
    assert d["result_max_latency_ns"] == max(latencies)
    assert d["result_min_latency_ns"] == min(latencies)
    assert max(latencies) > 50 * 2 * MS  # the backlog grows: ~2.5 ms more per query


# --- SingleStream: min duration, min queries, early stopping ------------------------------------


def test_single_stream_ends_naturally_at_exactly_min_duration(tmp_path):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=MS,
        min_duration_ms=100,
        min_query_count=64,
    )
    sut = TimedSUT(clock, latency_ns=MS)
    report = run(tmp_path, sut, s, clock)
    d = detail(report)
    # One query in flight; the next as soon as it is answered, at 0, 1, ..., 100 ms: the 101st
    # is the first issued at >= min_duration.
    assert sut.issued_at == [k * MS for k in range(101)]
    assert d["result_query_count"] == 101
    assert d["result_min_latency_ns"] == d["result_max_latency_ns"] == MS
    assert d["result_qps_with_loadgen_overhead"] == 1000.0  # 100 queries over 100 ms
    assert d["result_min_duration_met"] is True and report.validity == "VALID"
    assert report.errors == report.warnings == 0  # the clocks agree: virtual time is both
    # The trace's samples lie on the same timeline (us): issued at k ms, answered 1 ms later.
    trace = json.loads(Path(report.trace_path).read_text())
    marks = [(e["ph"], e["ts"]) for e in trace["traceEvents"] if e.get("name") == "Sample"]
    assert marks == [m for k in range(101) for m in (("b", k * 1000.0), ("e", k * 1000.0 + 1000))]
    assert trace["otherData"]["ts"] == clock.wall_ns() / 1000 - clock.now_ns() / 1000
    text = str(d["early_stopping_result"])
    assert "Early stopping 90.0th percentile estimate: 1000000 " in text
    assert "least 662 total queries" in text  # too few for the 99th percentile estimate


def test_single_stream_that_runs_out_of_queries_misses_min_duration(tmp_path):
    clock = VirtualClock()
    # Expected 10 ms, but the SUT answers in 1 ms: 21 queries cover only 20 ms of 100.
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=10 * MS,
        min_duration_ms=100,
        min_query_count=10,
    )
    report = run(tmp_path, TimedSUT(clock, latency_ns=MS), s, clock)
    d = detail(report)
    assert d["result_query_count"] == 21
    assert d["result_min_duration_met"] is False and report.validity == "INVALID"
    assert "Ran out of generated queries" in str(d["error_runtime"])


def test_max_query_count_below_min_query_count_misses_min_queries(tmp_path):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=MS,
        min_duration_ms=10,
        min_query_count=100,
        max_query_count=80,
    )
    report = run(tmp_path, TimedSUT(clock, latency_ns=MS), s, clock)
    d = detail(report)
    assert d["result_query_count"] == 80
    assert d["result_min_queries_met"] is False and report.validity == "INVALID"
    assert clock.now_ns() == 80 * MS  # the 80th answer, 1 ms after the 80th issue


@pytest.mark.parametrize("queries, met", [(63, False), (64, True)])
def test_single_stream_early_stopping_needs_64_queries_at_p90(tmp_path, queries, met):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=MS,
        min_duration_ms=1,
        min_query_count=queries,
    )
    report = run(tmp_path, TimedSUT(clock, latency_ns=MS), s, clock)
    d = detail(report)
    assert d["result_query_count"] == queries
    assert d["early_stopping_met"] is met
    if not met:
        assert d["early_stopping_result"] == (
            " * Only processed 63 queries.  * Need to process at least 64 queries for early "
            "stopping."
        )


def test_early_stopping_discards_the_highest_latencies_from_the_estimate(tmp_path):
    # 100 queries: 9 take 5 ms, the rest 1 ms. p90 of the measured latencies (rank 90) is
    # 1 ms; early stopping at 100 queries discards only 2 of the 9 slow ones (rank 97): 5 ms.
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=MS,
        min_duration_ms=1,
        min_query_count=100,
    )
    sut = TimedSUT(clock, latency_ns=lambda i: 5 * MS if i % 10 == 9 and i < 90 else MS)
    report = run(tmp_path, sut, s, clock)
    d = detail(report)
    assert d["result_query_count"] == 100
    assert d["result_90.00_percentile_latency_ns"] == MS
    assert d["early_stopping_met"] is True
    text = str(d["early_stopping_result"])
    assert "Would discard 2 highest latency queries." in text
    assert "Early stopping 90.0th percentile estimate: 5000000" in text
    assert clock.now_ns() == 91 * MS + 9 * 5 * MS


# --- runs that end because the SUT stops answering ---------------------------------------------


def test_sut_that_never_answers_ends_after_exactly_the_stall_timeout(tmp_path):
    clock = VirtualClock()
    s = settings(lg.TestScenario.SingleStream, min_query_count=10, min_duration_ms=10)
    with pytest.raises(lg.TestAborted, match="completed no sample for 0.5 s"):
        run(tmp_path, TimedSUT(clock, latency_ns=None), s, clock, stall_timeout_s=0.5)
    assert clock.now_ns() == 500 * MS
    errors = [e for e in detail_entries(tmp_path) if e["metadata"]["is_error"]]
    assert errors[0]["value"].startswith("Test aborted: the SUT completed no sample")
    assert errors[0]["time_ms"] == 500.0
    assert "ERROR" in (tmp_path / "mlperf_log_summary.txt").read_text()


def test_stall_timeout_counts_from_the_latest_answer(tmp_path):
    # Offline: one query; the SUT answers the first three samples 100 ms apart, then no more.
    clock = VirtualClock()
    s = settings(lg.TestScenario.Offline, offline_expected_qps=10, min_duration_ms=1000)
    sut = TimedSUT(clock, latency_ns=lambda i: (i + 1) * 100 * MS if i < 3 else None)
    with pytest.raises(lg.TestAborted, match="outstanding"):
        run(tmp_path, sut, s, clock, stall_timeout_s=0.5)
    assert clock.now_ns() == 300 * MS + 500 * MS


@pytest.mark.parametrize(
    "max_duration_ms, ends_at_ns",
    [(200, 200 * MS + 1000 * MS), (20_000, 20_000 * MS + 2_000 * MS)],
    ids=["1s-grace", "10%-grace"],
)
def test_max_duration_plus_its_grace_bounds_the_wait_for_a_silent_sut(
    tmp_path, max_duration_ms, ends_at_ns
):
    clock = VirtualClock()
    s = settings(lg.TestScenario.Offline, max_duration_ms=max_duration_ms, min_duration_ms=10)
    with pytest.raises(lg.TestAborted, match="max_duration_ms"):
        run(tmp_path, TimedSUT(clock, latency_ns=None), s, clock)
    assert clock.now_ns() == ends_at_ns  # not the 300 s stall timeout


def test_max_duration_stops_issuing_once_it_is_exceeded(tmp_path):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.SingleStream,
        single_stream_expected_latency_ns=MS,
        min_duration_ms=10_000,
        max_duration_ms=50,
    )
    report = run(tmp_path, TimedSUT(clock, latency_ns=MS), s, clock)
    d = detail(report)
    # Issued at 0..51 ms: after the one at 51 ms the elapsed time exceeds 50 ms.
    assert d["result_query_count"] == 52
    assert "Max test duration reached. duration_ns 51000000" in str(d["error_runtime"])


def test_server_stops_issuing_at_too_many_outstanding_queries(tmp_path):
    clock = VirtualClock()
    s = settings(
        lg.TestScenario.Server,
        server_target_qps=100,
        server_max_async_queries=2,
        min_duration_ms=1000,
        min_query_count=100,
    )
    sut = TimedSUT(clock, latency_ns=1000 * MS)  # answers long after the next queries are due
    report = run(tmp_path, sut, s, clock)
    d = detail(report)
    assert len(sut.issued_at) == 3  # the third makes 3 outstanding, more than 2
    assert d["error_runtime"] == (
        "IssueQueryThread 0 Ending early: Too many outstanding queries. issued 3 outstanding 3"
    )
    assert clock.now_ns() == sut.issued_at[-1] + 1000 * MS  # then waits for all three answers
    assert d["result_min_queries_met"] is False and report.validity == "INVALID"
