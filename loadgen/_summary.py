"""mlperf_log_summary.txt: the human-readable report, byte for byte in the official layout.

The TEST04 compliance script parses this file by its labels ("Scenario", "Result is",
"Early stopping 90.0th percentile estimate", "Completed samples per second", ...), so every
label keeps the official spelling and odd spacing (spec §6.2). Bools print as 0/1, plain
doubles as %g, rates as fixed-point with 2 decimals.
"""

from __future__ import annotations

from typing import TextIO

from ._effective import EffectiveSettings
from ._enums import TestMode, TestScenario
from ._results import PERCENTILES, LatencyStats, PerformanceResult

RULE = "================================================"
CONCAT_WARNING = (
    "WARNING: sample_concatenate_permutation was set to true. \n"
    "Generated samples per query might be different as the one in the setting.\n"
    "Check the generated_samples_per_query line in the detailed log for the real\n"
    "samples_per_query value"
)


def _g(x: float) -> str:
    """A double as C++ ostream prints it by default (%g, 6 significant digits)."""
    return format(float(x), "g")


def _f2(x: float) -> str:
    """A double with 2 fixed decimals (the official DoubleToString)."""
    return f"{float(x):.2f}"


def _b(x: bool) -> str:
    return "1" if x else "0"


def _stats_lines(
    stats: LatencyStats, min_label: str, max_label: str, mean_label: str, pct_label: str
) -> list[str]:
    lines = [min_label + str(stats.min), max_label + str(stats.max), mean_label + str(stats.mean)]
    lines += [f"{p * 100:.2f}{pct_label}{v}" for p, v in zip(PERCENTILES, stats.percentiles)]
    return lines


def _latency_lines(stats: LatencyStats) -> list[str]:
    return _stats_lines(
        stats,
        "Min latency (ns)                : ",
        "Max latency (ns)                : ",
        "Mean latency (ns)               : ",
        " percentile latency (ns)   : ",
    )


def _result_lines(sut_name: str, r: PerformanceResult) -> list[str]:
    s = r.settings
    scenario = s.scenario
    pct = f"{s.target_latency_percentile * 100:.1f}"
    lines = [RULE, "MLPerf Results Summary", RULE]
    lines += [
        f"SUT name : {sut_name}",
        f"Scenario : {TestScenario(scenario).name}",
        f"Mode     : {TestMode(s.mode).name}",
    ]
    if scenario == TestScenario.SingleStream:
        lines.append(f"{pct}th percentile latency (ns) : {r.samples.target}")
    elif scenario == TestScenario.MultiStream:
        lines.append(f"{pct}th percentile latency (ns) : {(r.queries or LatencyStats()).target}")
    elif scenario == TestScenario.Server:
        lines.append("Completed samples per second    : " + _f2(r.completed_samples_per_sec))
    else:
        lines.append("Samples per second: " + _g(r.samples_per_second))

    if s.use_token_latencies:
        ttft_target = (r.first_token or LatencyStats()).target
        if scenario in (TestScenario.SingleStream, TestScenario.MultiStream):
            lines.append(f"{pct}th first token percentile latency (ns) : {ttft_target}")
        elif scenario == TestScenario.Offline:
            lines.append("Tokens per second: " + _g(r.tokens_per_second))
        else:
            lines.append("Completed tokens per second: " + _f2(r.completed_tokens_per_second))
    if s.infer_token_latencies:
        if scenario == TestScenario.Offline:
            lines.append("Tokens per second (inferred): " + _g(r.inferred_tokens_per_second))
        elif scenario == TestScenario.Server:
            lines.append(
                "Completed tokens per second (inferred): "
                + _f2(r.inferred_completed_tokens_per_second)
            )

    lines.append("Result is : " + ("VALID" if r.valid else "INVALID"))
    if r.has_perf_constraints:
        lines.append("  Performance constraints satisfied : " + _yes(r.perf_constraints_met))
    lines.append("  Min duration satisfied : " + _yes(r.min_duration_met))
    lines.append("  Min queries satisfied : " + _yes(r.min_queries_met))
    lines.append("  Early stopping satisfied: " + _yes(r.early_stopping_met))
    if not r.valid:
        lines.append("Recommendations:")
        lines += [" * " + rec for rec in r.recommendations]
    if scenario != TestScenario.Offline:
        if not s.use_token_latencies:
            lines += ["Early Stopping Result:", r.early_stopping_text]
        else:
            lines += ["TTFT Early Stopping Result:", r.early_stopping_ttft_text]
            lines += ["TPOT Early Stopping Result:", r.early_stopping_tpot_text]

    lines += ["\n" + RULE, "Additional Stats", RULE]
    if scenario == TestScenario.SingleStream:
        lines.append("QPS w/ loadgen overhead         : " + _f2(r.qps_with_loadgen_overhead))
        lines.append("QPS w/o loadgen overhead        : " + _f2(r.qps_without_loadgen_overhead))
        lines.append("")
    elif scenario == TestScenario.Server:
        lines.append("Scheduled samples per second : " + _f2(r.scheduled_samples_per_sec))
    elif scenario == TestScenario.MultiStream:
        lines.append("Per-query latency:  ")
        lines += _latency_lines(r.queries or LatencyStats())
    if scenario != TestScenario.MultiStream:
        lines += _latency_lines(r.samples)

    if s.use_token_latencies:
        lines.append("")
        if scenario == TestScenario.SingleStream:
            lines.append("TPS w/ loadgen overhead         : " + _f2(r.tps_with_loadgen_overhead))
            lines.append("TPS w/o loadgen overhead        : " + _f2(r.tps_without_loadgen_overhead))
        elif scenario == TestScenario.Server:
            lines.append(
                "Completed tokens per second                 : "
                + _f2(r.completed_tokens_per_second)
            )
        if scenario != TestScenario.Offline:
            lines += _stats_lines(
                r.first_token or LatencyStats(),
                "Min First Token latency (ns)                : ",
                "Max First Token latency (ns)                : ",
                "Mean First Token latency (ns)               : ",
                " percentile first token latency (ns)   : ",
            )
            lines.append("")
            lines += _stats_lines(
                r.time_per_output_token or LatencyStats(),
                "Min Time per Output Token (ns)                : ",
                "Max Time per Output Token (ns)                : ",
                "Mean Time per Output Token (ns)               : ",
                " percentile time to output token (ns)   : ",
            )
    lines += ["\n" + RULE, "Test Parameters Used", RULE]
    lines += _settings_lines(s)
    return lines


def _yes(x: bool) -> str:
    return "Yes" if x else "NO"


def _settings_lines(s: EffectiveSettings) -> list[str]:
    lines = [f"samples_per_query : {s.samples_per_query}", f"target_qps : {_g(s.target_qps)}"]
    if not s.use_token_latencies:
        lines.append(f"target_latency (ns): {s.target_latency_ns}")
    else:
        lines.append(f"ttft_latency (ns): {s.server_ttft_latency}")
        lines.append(f"tpot_latency (ns): {s.server_tpot_latency}")
    lines += [
        f"max_async_queries : {s.max_async_queries}",
        f"min_duration (ms): {s.min_duration_ms}",
        f"max_duration (ms): {s.max_duration_ms}",
        f"min_query_count : {s.min_query_count}",
        f"max_query_count : {s.max_query_count}",
        f"qsl_rng_seed : {s.qsl_rng_seed}",
        f"sample_index_rng_seed : {s.sample_index_rng_seed}",
        f"schedule_rng_seed : {s.schedule_rng_seed}",
        f"accuracy_log_rng_seed : {s.accuracy_log_rng_seed}",
        f"accuracy_log_probability : {_g(s.accuracy_log_probability)}",
        f"accuracy_log_sampling_target : {s.accuracy_log_sampling_target}",
        f"print_timestamps : {_b(s.print_timestamps)}",
        f"performance_issue_unique : {_b(s.performance_issue_unique)}",
        f"performance_issue_same : {_b(s.performance_issue_same)}",
        f"performance_issue_same_index : {s.performance_issue_same_index}",
        f"performance_sample_count : {s.performance_sample_count}",
        f"accuracy_sample_count : {s.accuracy_sample_count}",
    ]
    if s.sample_concatenate_permutation:
        lines.append(CONCAT_WARNING)
    return lines


def footer(warning_count: int, error_count: int) -> str:
    """The warning and error counts, each as ``\\n<message>\\n`` (written in every mode)."""
    if warning_count == 0:
        warnings = "No warnings encountered during test."
    elif warning_count == 1:
        warnings = "1 warning encountered. See detailed log."
    else:
        warnings = f"{warning_count} warnings encountered. See detailed log."
    if error_count == 0:
        errors = "No errors encountered during test."
    elif error_count == 1:
        errors = "1 ERROR encountered. See detailed log."
    else:
        errors = f"{error_count} ERRORS encountered. See detailed log."
    return f"\n{warnings}\n\n{errors}\n"


FAILED_PREFIX = "  Run failed : "


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines included) as single spaces."""
    return " ".join(str(text).split()) or "unknown reason"


def failure_lines(sut_name: str, scenario: str, mode: str, reason: str) -> list[str]:
    """The summary's header for a run that did not finish: INVALID, and why."""
    return [
        RULE,
        "MLPerf Results Summary",
        RULE,
        f"SUT name : {sut_name}",
        f"Scenario : {scenario}",
        f"Mode     : {mode}",
        "Result is : INVALID",
        FAILED_PREFIX + one_line(reason),
        "",
    ]


def summary_text(
    sut_name: str,
    effective: EffectiveSettings,
    result: PerformanceResult | None,
    warning_count: int,
    error_count: int,
    failure: str | None = None,
) -> str:
    """The whole summary file as a string (see ``write_summary``)."""
    body = ""
    if failure is not None:
        scenario = TestScenario(effective.scenario).name
        mode = TestMode(effective.mode).name
        lines = failure_lines(sut_name, scenario, mode, failure)
        lines += [RULE, "Test Parameters Used", RULE, *_settings_lines(effective)]
        body = "".join(line + "\n" for line in lines)
    elif result is not None:
        body = "".join(line + "\n" for line in _result_lines(sut_name, result))
    return body + footer(warning_count, error_count)


def write_summary(
    stream: TextIO,
    sut_name: str,
    effective: EffectiveSettings,
    result: PerformanceResult | None,
    warning_count: int,
    error_count: int,
    failure: str | None = None,
) -> None:
    """Write mlperf_log_summary.txt: the performance report (if any), then the counts footer.

    ``result`` None means no performance run (accuracy mode): the footer is the whole file.
    ``failure`` (why the run did not finish) replaces the report with an INVALID header.
    The "Test Parameters Used" block shows ``result.settings`` (the settings of the run being
    reported, e.g. FindPeakPerformance's final QPS), so ``effective`` only matters without one.
    """
    stream.write(summary_text(sut_name, effective, result, warning_count, error_count, failure))
    stream.flush()
