"""The summary file: exact text for known results, and the official label sequences."""

from __future__ import annotations

import io
import re

import pytest

from loadgen._effective import effective_settings
from loadgen._enums import TestScenario
from loadgen._results import compute_results
from loadgen._summary import footer, summary_text, write_summary

from . import official_logs
from .test_detail_log import KEY_RUNS
from .test_results import ORACLE_RUNS, duration_is_close, our_settings, record, settings

SERVER_VALID = """\
================================================
MLPerf Results Summary
================================================
SUT name : Network SUT
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : 239.60
Result is : VALID
  Performance constraints satisfied : Yes
  Min duration satisfied : Yes
  Min queries satisfied : Yes
  Early stopping satisfied: Yes
Early Stopping Result:
 * Run successful.

================================================
Additional Stats
================================================
Scheduled samples per second : 299.50
Min latency (ns)                : 100
Max latency (ns)                : 100
Mean latency (ns)               : 100
50.00 percentile latency (ns)   : 100
90.00 percentile latency (ns)   : 100
95.00 percentile latency (ns)   : 100
97.00 percentile latency (ns)   : 100
99.00 percentile latency (ns)   : 100
99.90 percentile latency (ns)   : 100

================================================
Test Parameters Used
================================================
samples_per_query : 1
target_qps : 500
target_latency (ns): 1000
max_async_queries : 0
min_duration (ms): 1000
max_duration (ms): 0
min_query_count : 10
max_query_count : 0
qsl_rng_seed : 0
sample_index_rng_seed : 0
schedule_rng_seed : 0
accuracy_log_rng_seed : 0
accuracy_log_probability : 0
accuracy_log_sampling_target : 0
print_timestamps : 0
performance_issue_unique : 0
performance_issue_same : 0
performance_issue_same_index : 0
performance_sample_count : 10
accuracy_sample_count : 100

No warnings encountered during test.

2 ERRORS encountered. See detailed log.
"""


def test_a_valid_server_summary_byte_for_byte():
    eff = settings(TestScenario.Server, server_target_latency_ns=1000, server_target_qps=500)
    result = compute_results(record(eff, [100] * 600, scheduled_s=2.0, done_s=2.5))
    out = io.StringIO()
    write_summary(out, "Network SUT", eff, result, 0, 2)
    assert out.getvalue() == SERVER_VALID


def test_accuracy_mode_summary_is_the_footer_alone():
    eff = settings(TestScenario.Offline)
    out = io.StringIO()
    write_summary(out, "SUT", eff, None, 0, 0)
    assert out.getvalue() == (
        "\nNo warnings encountered during test.\n\nNo errors encountered during test.\n"
    )


@pytest.mark.parametrize(
    "warnings, errors, text",
    [
        (
            1,
            1,
            "\n1 warning encountered. See detailed log.\n"
            "\n1 ERROR encountered. See detailed log.\n",
        ),
        (
            3,
            12,
            "\n3 warnings encountered. See detailed log.\n"
            "\n12 ERRORS encountered. See detailed log.\n",
        ),
    ],
)
def test_footer_counts(warnings, errors, text):
    assert footer(warnings, errors) == text


def test_invalid_single_stream_lists_recommendations_and_the_concat_warning():
    eff = settings(
        TestScenario.SingleStream,
        min_query_count=1000,
        min_duration_ms=5000,
        sample_concatenate_permutation=True,
    )
    result = compute_results(record(eff, list(range(1, 101)), issue_s=1.0))
    lines = summary_text("S", eff, result, 0, 0).split("\n")
    i = lines.index("Recommendations:")
    assert lines[i + 1 : i + 4] == [
        " * Decrease the expected latency so the loadgen pre-generates more queries.",
        " * The test exited early, before enough queries were issued.",
        "   See the detailed log for why this may have occurred.",
    ]
    assert lines[i + 4 : i + 9] == [
        "Early Stopping Result:",
        " * Processed at least 64 queries (100).",
        " * Would discard 2 highest latency queries.",
        " * Early stopping 90.0th percentile estimate: 98",
        " * Not enough queries processed for 99.0th percentile",
    ]
    warning_at = lines.index("WARNING: sample_concatenate_permutation was set to true. ")
    assert lines[warning_at + 3] == "samples_per_query value"
    assert "QPS w/ loadgen overhead         : 99.00" in lines


def test_the_parameters_block_shows_the_reported_runs_settings():
    import dataclasses

    base = settings(TestScenario.Server)
    probe = dataclasses.replace(base, target_qps=1499.023438)
    result = compute_results(record(probe, [1] * 10))
    assert "target_qps : 1499.02\n" in summary_text("S", base, result, 0, 0)


# --- the official layout ---------------------------------------------------------------------

FOOTER = re.compile(r"^(No|\d+) (warnings?|errors?|ERRORS?) encountered")
# Lines whose numbers depend on the run's exact start time, which the trace does not give.
TIME_DEPENDENT = (
    "QPS w/ loadgen overhead",
    "TPS w/ loadgen overhead",
    "Completed tokens per second",
    "Completed samples per second",
    "Scheduled samples per second",
)


def labels(text: str) -> list[str]:
    """The text left of ':' on every line (the footer lines reduced to their kind)."""
    out = []
    for line in text.split("\n"):
        m = FOOTER.match(line)
        out.append(f"<{m.group(2).lower().rstrip('s')} count>" if m else line.split(":")[0])
    return out


def our_summary(run: official_logs.OfficialRun) -> tuple[str, bool]:
    requested = our_settings(run.settings)
    eff = effective_settings(requested, official_logs.PERFORMANCE_COUNT, official_logs.TOTAL_COUNT)
    if run.settings["mode"] == "AccuracyOnly":
        return summary_text("PySUT", eff, None, 0, 0), False
    result = compute_results(official_logs.record_from_trace(run, eff))
    return summary_text("PySUT", eff, result, 0, 0), duration_is_close(result)


@pytest.fixture(scope="module")
def summary_runs():
    pytest.importorskip("mlperf_loadgen")
    return official_logs.official_runs(*ORACLE_RUNS, *KEY_RUNS)


def test_label_sequences_and_latency_lines_match_the_official_summary(summary_runs):
    for run in summary_runs:
        ours, close = our_summary(run)
        assert labels(ours) == labels(run.summary), run.settings
        for mine, theirs in zip(ours.split("\n"), run.summary.split("\n")):
            if FOOTER.match(theirs) or theirs.startswith(TIME_DEPENDENT):
                continue
            if close and theirs.startswith(("Result is", "  Min duration", " * Decrease")):
                continue
            assert mine == theirs, run.settings
