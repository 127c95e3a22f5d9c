"""Results computation: hand-computed metrics and checks, and the official logs as an oracle."""

from __future__ import annotations

import io
import json
import math
import time

import numpy as np
import pytest

from loadgen._detail_log import (
    DetailLog,
    log_effective_settings,
    log_requested_settings,
    log_results,
)
from loadgen._effective import EffectiveSettings, effective_settings
from loadgen._enums import TestMode, TestScenario
from loadgen._records import PerformanceRecord
from loadgen._results import (
    PERCENTILES,
    PerformanceResult,
    compute_results,
    perf_constraints_met,
)
from loadgen._settings import TestSettings
from tests.line_count import count_python_lines

from . import official_logs

SS, MS, SERVER, OFFLINE = (
    TestScenario.SingleStream,
    TestScenario.MultiStream,
    TestScenario.Server,
    TestScenario.Offline,
)


def settings(scenario: TestScenario, **fields: object) -> EffectiveSettings:
    s = TestSettings()
    s.scenario = scenario
    s.mode = TestMode.PerformanceOnly
    s.min_duration_ms = 1000
    s.min_query_count = 10
    for k, v in fields.items():
        setattr(s, k, v)
    return effective_settings(s, 10, 100)


def record(
    eff: EffectiveSettings,
    latencies: list[int] | np.ndarray,
    *,
    queries: int | None = None,
    query_latencies: list[int] | None = None,
    issue_s: float = 2.0,
    scheduled_s: float = 2.0,
    done_s: float = 2.5,
) -> PerformanceRecord:
    lat = np.asarray(latencies, dtype=np.int64)
    return PerformanceRecord(
        settings=eff,
        queries_issued=len(lat) if queries is None else queries,
        sample_latency_ns=lat,
        query_latency_ns=np.asarray(query_latencies or [], dtype=np.int64),
        final_query_scheduled_offset_ns=int(scheduled_s * 1e9),
        final_query_issue_offset_ns=int(issue_s * 1e9),
        final_query_all_done_offset_ns=int(done_s * 1e9),
        max_completion_offset_ns=int(done_s * 1e9),
    )


# --- hand-computed ---------------------------------------------------------------------------


def test_percentiles_index_floor_n_p_and_means_are_integer_divisions():
    lat = [50, 10, 40, 20, 30, 31, 32, 33, 34, 35]  # sorted: 10 20 30 31 32 33 34 35 40 50
    r = compute_results(record(settings(SS), lat))
    assert (r.samples.min, r.samples.max) == (10, 50)
    assert r.samples.mean == 315 // 10  # 31, not 31.5
    # floor(10 * p): .5->5, .9->9, .95->9, .97->9, .99->9, .999->9
    assert r.samples.percentiles == (33, 50, 50, 50, 50, 50)
    assert r.samples.target == 50  # SingleStream default 0.90
    assert r.sample_count == 10 and r.query_count == 10


def test_percentile_of_the_config_rounded_999_reads_index_999():
    lat = np.arange(1000, dtype=np.int64)
    eff = settings(SS, single_stream_target_latency_percentile=99.9 * 0.01)
    r = compute_results(record(eff, lat))
    assert r.samples.target == int(lat[int(1000 * 0.9990000000000001)]) == 999
    assert r.samples.percentiles[PERCENTILES.index(0.999)] == 999


def test_single_stream_rates():
    r = compute_results(record(settings(SS), [1_000_000] * 101, issue_s=2.0))
    assert r.qps_with_loadgen_overhead == 100 / 2.0  # (n - 1) / last issue
    assert r.qps_without_loadgen_overhead == 1 / (1_000_000 / 1e9)


def test_server_rates_and_overlatency():
    eff = settings(SERVER, server_target_latency_ns=1000)
    lat = [999, 1000, 1001, 5000]
    r = compute_results(record(eff, lat, scheduled_s=3.0, done_s=4.0))
    assert r.overlatency_query_count == 2  # strictly over the target
    assert r.scheduled_samples_per_sec == 3 / 3.0
    assert r.completed_samples_per_sec == 3 / 4.0


def test_offline_rate_and_duration_come_from_the_largest_latency():
    eff = settings(OFFLINE, offline_expected_qps=100.0, min_duration_ms=1000)
    r = compute_results(record(eff, [400_000_000, 1_000_000_000, 2], queries=1))
    assert r.samples_per_second == 3 / 1.0
    assert r.min_duration_met
    r = compute_results(record(eff, [999_999_999], queries=1))
    assert not r.min_duration_met
    assert r.min_duration_recommendation == (
        "Increase expected QPS so the loadgen pre-generates a larger (coalesced) query."
    )


def test_multi_stream_query_statistics():
    eff = settings(MS, multi_stream_samples_per_query=2)
    r = compute_results(record(eff, [1, 2, 3, 4], queries=2, query_latencies=[9, 7]))
    assert r.queries is not None
    assert (r.queries.min, r.queries.max, r.queries.mean) == (7, 9, 8)
    assert r.queries.target == 9  # floor(2 * .99) = 1
    assert r.samples.mean == 2


@pytest.mark.parametrize(
    "scenario, field, text",
    [
        (SS, "final_query_issue_offset_ns", "Decrease the expected latency"),
        (MS, "final_query_issue_offset_ns", "Decrease the expected latency"),
        (SERVER, "final_query_scheduled_offset_ns", "Increase the target QPS"),
    ],
)
def test_min_duration_uses_the_scenarios_clock(scenario, field, text):
    eff = settings(scenario, min_duration_ms=1000)
    rec = record(eff, [10] * 1000, query_latencies=[10] * 1000, issue_s=5, scheduled_s=5)
    setattr(rec, field, 999_999_999)
    r = compute_results(rec)
    assert not r.min_duration_met and r.min_duration_recommendation.startswith(text)
    setattr(rec, field, 1_000_000_000)
    assert compute_results(rec).min_duration_met


def test_min_queries_needs_both_queries_and_samples():
    eff = settings(MS, multi_stream_samples_per_query=8, min_query_count=10)
    assert eff.min_sample_count == 80
    ok = record(eff, [1] * 80, queries=10, query_latencies=[1] * 10)
    assert compute_results(ok).min_queries_met
    short = record(eff, [1] * 79, queries=10, query_latencies=[1] * 10)
    r = compute_results(short)
    assert not r.min_queries_met and not r.valid
    assert r.invalid_reason.endswith("The test exited early, before enough queries were issued.")
    assert r.recommendations[-1] == (
        "The test exited early, before enough queries were issued.\n"
        "   See the detailed log for why this may have occurred."
    )


def test_server_perf_constraints_and_find_peak_check():
    eff = settings(SERVER, server_target_latency_ns=100, min_duration_ms=0)
    good = compute_results(record(eff, [100] * 500))
    assert good.perf_constraints_met and perf_constraints_met(good) == (True, "")
    bad = compute_results(record(eff, [101] * 500))
    assert perf_constraints_met(bad) == (False, "Reduce target QPS to improve latency.")
    assert not bad.valid
    assert bad.invalid_reason.startswith("Reduce target QPS to improve latency. ")
    # FindPeak ignores duration and early stopping: a short run may still pass it.
    tiny = compute_results(record(eff, [1] * 5))
    assert not tiny.early_stopping_met and perf_constraints_met(tiny)[0]


def test_only_early_stopping_failing_gives_an_empty_invalid_reason():
    eff = settings(SS, min_duration_ms=0)
    r = compute_results(record(eff, [5] * 20))
    assert not r.valid and not r.early_stopping_met
    assert r.invalid_reason == "" and r.recommendations == []


def token_record(eff: EffectiveSettings, n: int, ttft: int, tpot: int) -> PerformanceRecord:
    rec = record(eff, [ttft + 2 * tpot] * n)
    rec.first_token_latency_ns = np.full(n, ttft, dtype=np.int64)
    rec.time_per_output_token_ns = np.full(n, tpot, dtype=np.int64)
    rec.token_count = 3 * n
    return rec


def test_server_token_constraints_join_both_recommendations():
    eff = settings(
        SERVER, use_token_latencies=True, ttft_latency=1000, tpot_latency=100, min_duration_ms=0
    )
    both = compute_results(token_record(eff, 600, ttft=1001, tpot=101))
    assert perf_constraints_met(both) == (
        False,
        "TTFT constrain not met: Reduce target QPS to improve latency.\n"
        " * TPOT constrain not met: Reduce target QPS to improve latency.",
    )
    assert both.invalid_reason.startswith(
        "TTFT constrain not met: Reduce target QPS to improve latency.  * TPOT constrain"
    )
    only_tpot = compute_results(token_record(eff, 600, ttft=1000, tpot=101))
    assert only_tpot.perf_constraints_recommendation.startswith("TPOT constrain not met")


def test_token_early_stopping_skips_ttft_when_tpot_fails():
    eff = settings(
        SERVER, use_token_latencies=True, ttft_latency=1000, tpot_latency=100, min_duration_ms=0
    )
    r = compute_results(token_record(eff, 600, ttft=5, tpot=101))
    assert not r.early_stopping_met
    assert r.early_stopping_tpot_text.startswith(" * Run unsuccessful.")
    assert r.early_stopping_ttft_text == ""
    r = compute_results(token_record(eff, 600, ttft=5, tpot=1))
    assert r.early_stopping_met
    assert r.early_stopping_tpot_text == r.early_stopping_ttft_text == " * Run successful."


def test_token_rates_keep_the_official_units():
    eff = settings(SS, use_token_latencies=True, min_duration_ms=0)
    r = compute_results(token_record(eff, 100, ttft=1000, tpot=500))  # latency 2000 ns
    assert r.token_count == 300
    assert r.token_throughput == 300 / (2000 * 100)  # tokens per ns, as upstream
    assert r.tps_without_loadgen_overhead == pytest.approx(300 / (2000e-9 * 100))
    assert r.tps_with_loadgen_overhead == 300 / 2.0
    assert r.first_token is not None and r.first_token.mean == 1000
    assert r.time_per_output_token is not None and r.time_per_output_token.max == 500


def test_inferred_token_rates():
    eff = settings(
        OFFLINE, infer_token_latencies=True, token_latency_scaling_factor=69, min_duration_ms=0
    )
    r = compute_results(record(eff, [500_000_000, 1_000_000_000], queries=1))
    assert r.inferred_tokens_per_second == 2 * 69 / 1.0
    eff = settings(SERVER, infer_token_latencies=True, token_latency_scaling_factor=69)
    r = compute_results(record(eff, [1, 1, 1], done_s=2.0))
    assert r.inferred_completed_tokens_per_second == 2 * 69 / 2.0


def test_an_empty_run_gives_zeros_and_ieee_rates_instead_of_raising():
    r = compute_results(record(settings(SERVER), [], queries=0, scheduled_s=0, done_s=0))
    assert r.sample_count == 0 and r.query_count == 0 and r.samples.max == 0
    assert math.isinf(r.completed_samples_per_sec)  # (0 - 1) wraps as size_t, / 0
    assert not r.valid
    r = compute_results(record(settings(OFFLINE), [], queries=0))
    assert math.isnan(r.samples_per_second)  # 0 / 0


def test_result_does_not_modify_the_record():
    rec = record(settings(SS), [3, 1, 2])
    compute_results(rec)
    assert rec.sample_latency_ns.tolist() == [3, 1, 2]


def test_two_million_latencies_are_summarised_vectorized_outside_early_stopping():
    rng = np.random.default_rng(1)
    lat = rng.integers(1000, 10**7, size=2_000_000, dtype=np.int64)
    eff = settings(OFFLINE, min_duration_ms=0)
    # Vectorized (fast on any machine): a few hundred Python lines, not one per latency.
    r, lines = count_python_lines(lambda: compute_results(record(eff, lat, queries=1)))
    assert lines < 10_000, lines
    assert r.samples.target == int(np.sort(lat)[int(2_000_000 * 0.99)])


# --- the official logs as an oracle ----------------------------------------------------------

# Keys whose values depend on the run's exact start time, which the trace does not give.
TIME_DEPENDENT = {
    "result_qps_with_loadgen_overhead",
    "result_token_throughput_with_loadgen_overhead",
    "result_completed_tokens_per_second",
    "result_completed_samples_per_sec",
    "result_scheduled_samples_per_sec",
    "num_errors",
}

ORACLE_RUNS = [
    official_logs.run_settings(scenario, tokens)
    for scenario in ("SingleStream", "MultiStream", "Server", "Offline")
    for tokens in (False, True)
] + [
    # Server runs that fail the latency bound, and that pass early stopping with t > 0.
    official_logs.run_settings("Server", server_target_latency_ns=15_000),
    official_logs.run_settings(
        "Server", server_target_qps=4000.0, min_duration_ms=150, server_target_latency_ns=50_000_000
    ),
    official_logs.run_settings("MultiStream", multi_stream_samples_per_query=3),
]


def our_settings(values: dict[str, object]) -> TestSettings:
    s = TestSettings()
    for key, value in values.items():
        if key == "scenario":
            value = TestScenario[str(value)]
        elif key == "mode":
            value = TestMode[str(value)]
        setattr(s, key, value)
    return s


def ours_for(run: official_logs.OfficialRun) -> tuple[EffectiveSettings, dict[str, object], str]:
    """Our results for the same measurements: (effective settings, detail values, detail text)."""
    requested = our_settings(run.settings)
    eff = effective_settings(requested, official_logs.PERFORMANCE_COUNT, official_logs.TOTAL_COUNT)
    result = compute_results(official_logs.record_from_trace(run, eff))
    buf = io.StringIO()
    detail = DetailLog(buf, time.perf_counter_ns())
    log_requested_settings(detail, requested)
    log_effective_settings(detail, eff)
    log_results(detail, result)
    values = {}
    for line in buf.getvalue().splitlines():
        entry = json.loads(line[len(":::MLLOG ") :])
        values[entry["key"]] = entry["value"]
    return result, values, buf.getvalue()


def duration_is_close(result: PerformanceResult) -> bool:
    """Whether the approximate start could flip min_duration_met (SingleStream/MultiStream)."""
    if result.scenario not in (SS, MS):
        return False  # Server's offsets and Offline's latencies are exact
    min_s = result.settings.min_duration_ms / 1000
    return abs(result.final_query_issued_s - min_s) < 0.1 * min_s


@pytest.fixture(scope="module")
def oracle_runs():
    pytest.importorskip("mlperf_loadgen")
    return official_logs.official_runs(*ORACLE_RUNS)


@pytest.mark.parametrize("index", range(len(ORACLE_RUNS)))
def test_results_equal_the_official_ones_for_the_same_latencies(oracle_runs, index):
    run = oracle_runs[index]
    result, ours, _ = ours_for(run)
    skip = set(TIME_DEPENDENT)
    if duration_is_close(result):
        skip |= {"result_min_duration_met", "result_validity", "result_invalid_reason"}
    compared = 0
    for entry in run.detail:
        key = entry["key"]
        if key.startswith(("result_", "early_stopping")) and key not in skip:
            assert ours[key] == entry["value"], key
            compared += 1
    assert compared >= 15


def test_oracle_runs_cover_passing_and_failing_checks(oracle_runs):
    seen = {
        (e["key"], e["value"])
        for run in oracle_runs
        for e in run.detail
        if e["key"] in ("early_stopping_met", "result_perf_constraints_met")
    }
    assert seen == {
        ("early_stopping_met", True),
        ("early_stopping_met", False),
        ("result_perf_constraints_met", True),
        ("result_perf_constraints_met", False),
    }
