"""The results of a performance run: every metric, percentile and validity check (spec §5).

``compute_results`` turns what a run measured (a PerformanceRecord) into a PerformanceResult,
following the official PerformanceSummary: percentiles are ``sorted[floor(n * p)]``, means are
integer divisions, seconds are ``ns / 1e9``, and every rate is the same double division (a
zero divisor gives inf or nan, as in C++, instead of raising). The summary and the detail log
are both written from one PerformanceResult, so they cannot disagree.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._early_stopping import EarlyStoppingOutcome, early_stopping
from ._effective import EffectiveSettings
from ._enums import TestMode, TestScenario
from ._records import PerformanceRecord

PERCENTILES = (0.50, 0.90, 0.95, 0.97, 0.99, 0.999)
"""The fixed percentiles every report lists (the target percentile is reported on its own)."""

_U64 = 1 << 64

MIN_QUERIES_RECOMMENDATION = "The test exited early, before enough queries were issued."
MIN_QUERIES_SUMMARY_HINT = "\n   See the detailed log for why this may have occurred."
PERF_CONSTRAINTS_RECOMMENDATION = "Reduce target QPS to improve latency."
TTFT_RECOMMENDATION = "TTFT constrain not met: Reduce target QPS to improve latency."
TPOT_RECOMMENDATION = "TPOT constrain not met: Reduce target QPS to improve latency."
MIN_DURATION_RECOMMENDATIONS = {
    TestScenario.SingleStream: "Decrease the expected latency so the loadgen pre-generates more "
    "queries.",
    TestScenario.MultiStream: "Decrease the expected latency so the loadgen pre-generates more "
    "queries.",
    TestScenario.Server: "Increase the target QPS so the loadgen pre-generates more queries.",
    TestScenario.Offline: "Increase expected QPS so the loadgen pre-generates a larger "
    "(coalesced) query.",
}


@dataclass(frozen=True)
class LatencyStats:
    """Statistics of one latency array (ns): min, max, integer mean and percentiles.

    ``target`` is the value at the run's target percentile; ``percentiles[i]`` the value at
    ``PERCENTILES[i]``. All zero when the array was empty, as in the official LoadGen.
    """

    min: int = 0
    max: int = 0
    mean: int = 0
    target: int = 0
    percentiles: tuple[int, ...] = (0,) * len(PERCENTILES)


@dataclass(frozen=True)
class PerformanceResult:
    """Everything the summary and the detail log report about one performance run.

    Times (``*_s``) are seconds since the run's start. Rates follow the official formulas
    (spec §5.2, §5.3) including their quirks: ``token_throughput`` is in tokens per *ns*, and
    the Server rates divide ``sample_count - 1``.
    """

    settings: EffectiveSettings
    sample_count: int  # sample latencies recorded (every issued sample)
    query_count: int  # result_query_count: queries issued (0 if no sample was recorded)
    queries_issued: int
    overlatency_query_count: int  # Server: sample latencies > target_latency_ns
    samples: LatencyStats  # per-sample latencies
    queries: LatencyStats | None  # MultiStream: per-query latencies; None otherwise
    first_token: LatencyStats | None  # token runs with first-token data: TTFT
    time_per_output_token: LatencyStats | None  # token runs with first-token data: TPOT
    token_count: int
    max_latency_s: float
    final_query_scheduled_s: float
    final_query_issued_s: float
    final_query_all_done_s: float
    # Rates (the scenario decides which ones are reported).
    qps_with_loadgen_overhead: float  # SingleStream
    qps_without_loadgen_overhead: float  # SingleStream
    scheduled_samples_per_sec: float  # Server
    completed_samples_per_sec: float  # Server (the checker's metric)
    samples_per_second: float  # Offline (the checker's metric)
    tokens_per_second: float  # Offline token runs
    completed_tokens_per_second: float  # token runs but Offline (summary: Server only)
    tps_with_loadgen_overhead: float  # SingleStream token runs, summary
    tps_without_loadgen_overhead: float  # SingleStream token runs, summary
    token_throughput_with_loadgen_overhead: float  # token runs but Offline, detail
    token_throughput: float  # token runs but Offline, detail (tokens per ns, as upstream)
    inferred_tokens_per_second: float  # Offline with infer_token_latencies
    inferred_completed_tokens_per_second: float  # Server with infer_token_latencies
    # Validity.
    min_duration_met: bool
    min_queries_met: bool
    perf_constraints_met: bool
    early_stopping_met: bool
    min_duration_recommendation: str  # "" when met
    perf_constraints_recommendation: str  # "" when met
    # Early stopping: texts keep their newlines; ttft/tpot are used in token runs instead.
    early_stopping_text: str
    early_stopping_ttft_text: str
    early_stopping_tpot_text: str
    early_stopping_latency_ss: int
    early_stopping_latency_ms: int

    @property
    def scenario(self) -> TestScenario:
        return self.settings.scenario

    @property
    def mode(self) -> TestMode:
        return self.settings.mode

    @property
    def target_percentile(self) -> float:
        return self.settings.target_latency_percentile

    @property
    def has_perf_constraints(self) -> bool:
        return self.settings.scenario == TestScenario.Server

    @property
    def valid(self) -> bool:
        """True when all four checks passed ("Result is : VALID"); logged errors do not count."""
        return (
            self.min_duration_met
            and self.min_queries_met
            and self.perf_constraints_met
            and self.early_stopping_met
        )

    @property
    def recommendations(self) -> list[str]:
        """The summary's "Recommendations:" bullets, without the leading " * "."""
        out = []
        if not self.perf_constraints_met:
            out.append(self.perf_constraints_recommendation)
        if not self.min_duration_met:
            out.append(self.min_duration_recommendation)
        if not self.min_queries_met:
            out.append(MIN_QUERIES_RECOMMENDATION + MIN_QUERIES_SUMMARY_HINT)
        return out

    @property
    def invalid_reason(self) -> str:
        """The detail log's ``result_invalid_reason`` (only logged when the run is invalid)."""
        text = ""
        if not self.perf_constraints_met:
            text += self.perf_constraints_recommendation + " "
        if not self.min_duration_met:
            text += self.min_duration_recommendation + " "
        if not self.min_queries_met:
            text += MIN_QUERIES_RECOMMENDATION
        return text.replace("\n", " ")


def fdiv(a: float, b: float) -> float:
    """``a / b`` with IEEE semantics: a zero divisor gives ±inf or nan instead of raising."""
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _u64(x: int) -> int:
    """``x`` as a C++ size_t/uint64 value (wrapped modulo 2**64)."""
    return x % _U64


def _mean(total: int, n: int) -> int:
    """C++ ``int64 / size_t``: both operands become unsigned; the result is read back signed."""
    q = _u64(total) // n
    return q - _U64 if q >= 1 << 63 else q


def _index(n: int, p: float, size: int) -> int:
    """``sorted[n * p]``'s index (double product truncated), kept inside the array."""
    return min(int(n * p), size - 1)


def latency_stats(sorted_ns: np.ndarray, n: int, target_percentile: float) -> LatencyStats:
    """Stats of an ascending array whose official "count" is ``n`` (sample or query count)."""
    size = len(sorted_ns)
    if size == 0 or n == 0:
        return LatencyStats()
    total = int(np.sum(sorted_ns, dtype=np.int64))
    return LatencyStats(
        min=int(sorted_ns[0]),
        max=int(sorted_ns[-1]),
        mean=_mean(total, n),
        target=int(sorted_ns[_index(n, target_percentile, size)]),
        percentiles=tuple(int(sorted_ns[_index(n, p, size)]) for p in PERCENTILES),
    )


def _min_duration_met(
    s: EffectiveSettings, record: PerformanceRecord, max_latency_s: float
) -> bool:
    min_duration_s = s.min_duration_ms / 1000
    if s.scenario == TestScenario.Offline:
        return max_latency_s >= min_duration_s
    if s.scenario == TestScenario.Server:
        return record.final_query_scheduled_offset_ns / 1e9 >= min_duration_s
    return record.final_query_issue_offset_ns / 1e9 >= min_duration_s


def _perf_constraints(
    s: EffectiveSettings,
    samples: LatencyStats,
    first_token: LatencyStats | None,
    tpot: LatencyStats | None,
) -> tuple[bool, str]:
    """Server only: the latency bound at the target percentile (TTFT and TPOT in token runs)."""
    if s.scenario != TestScenario.Server:
        return True, ""
    if not s.use_token_latencies:
        if samples.target > s.target_latency_ns:
            return False, PERF_CONSTRAINTS_RECOMMENDATION
        return True, ""
    ttft_target = first_token.target if first_token else 0
    tpot_target = tpot.target if tpot else 0
    text = ""
    if ttft_target > s.server_ttft_latency:
        text = TTFT_RECOMMENDATION
    if tpot_target > s.server_tpot_latency:
        text = TPOT_RECOMMENDATION if not text else text + "\n * " + TPOT_RECOMMENDATION
    return text == "", text


def _early_stopping_all(
    s: EffectiveSettings,
    queries_issued: int,
    sorted_samples: np.ndarray,
    sorted_queries: np.ndarray,
    sorted_ttft: np.ndarray,
    sorted_tpot: np.ndarray,
) -> tuple[bool, str, str, str, int, int]:
    """(met, text, ttft text, tpot text, latency_ss, latency_ms) as the official evaluates them.

    Token runs evaluate TPOT first and TTFT only if TPOT passed; the estimates keep the last
    value any evaluation set.
    """
    p = s.target_latency_percentile

    def run(lat: np.ndarray, target_ns: int) -> EarlyStoppingOutcome:
        return early_stopping(s.scenario, queries_issued, lat, sorted_queries, p, target_ns)

    if not s.use_token_latencies:
        out = run(sorted_samples, s.target_latency_ns)
        return out.met, out.text, "", "", out.latency_ss or 0, out.latency_ms or 0
    outcomes = [run(sorted_tpot, s.server_tpot_latency)]
    if outcomes[0].met:
        outcomes.append(run(sorted_ttft, s.server_ttft_latency))
    ss = ms = 0
    for out in outcomes:
        ss = out.latency_ss if out.latency_ss is not None else ss
        ms = out.latency_ms if out.latency_ms is not None else ms
    ttft_text = outcomes[1].text if len(outcomes) > 1 else ""
    met = all(out.met for out in outcomes)
    return met, "", ttft_text, outcomes[0].text, ss, ms


def compute_results(record: PerformanceRecord, *, in_place: bool = False) -> PerformanceResult:
    """Every metric, percentile and check of one performance run (spec §5.1-§5.5).

    ``in_place`` sorts the record's sample latencies where they are, instead of a copy (8
    bytes a sample less at a long run's peak), for a caller that has no further use for them.
    """
    s = record.settings
    scenario = s.scenario
    p = s.target_latency_percentile
    lat = np.asarray(record.sample_latency_ns, dtype=np.int64)
    if in_place:
        lat.sort()
    else:
        lat = np.sort(lat)
    n = len(lat)
    issued = int(record.queries_issued)
    samples = latency_stats(lat, n, p)

    queries: LatencyStats | None = None
    qlat = np.sort(np.asarray(record.query_latency_ns, dtype=np.int64))
    if scenario == TestScenario.MultiStream:
        queries = latency_stats(qlat, issued if n else 0, p)

    overlatency = 0
    if scenario == TestScenario.Server and n:
        overlatency = n - int(np.searchsorted(lat, s.target_latency_ns + 1, side="left"))

    ttft = np.sort(np.asarray(record.first_token_latency_ns, dtype=np.int64))
    tpot = np.sort(np.asarray(record.time_per_output_token_ns, dtype=np.int64))
    first_token_stats: LatencyStats | None = None
    tpot_stats: LatencyStats | None = None
    if s.use_token_latencies and n and len(ttft):
        first_token_stats = latency_stats(ttft, n, p)
        tpot_stats = latency_stats(tpot, n, p)

    max_latency_s = max(int(lat[-1]), 0) / 1e9 if n else 0.0
    scheduled_s = record.final_query_scheduled_offset_ns / 1e9
    issued_s = record.final_query_issue_offset_ns / 1e9
    done_s = record.final_query_all_done_offset_ns / 1e9
    n_minus_1 = float(_u64(n - 1))
    tokens = int(record.token_count) if s.use_token_latencies else 0
    factor = _u64(int(s.token_latency_scaling_factor))
    mean_s = samples.mean / 1e9

    es_met, es_text, ttft_text, tpot_text, es_ss, es_ms = _early_stopping_all(
        s, issued, lat, qlat, ttft, tpot
    )
    perf_met, perf_text = _perf_constraints(s, samples, first_token_stats, tpot_stats)
    duration_met = _min_duration_met(s, record, max_latency_s)

    return PerformanceResult(
        settings=s,
        sample_count=n,
        query_count=issued if n else 0,
        queries_issued=issued,
        overlatency_query_count=overlatency,
        samples=samples,
        queries=queries,
        first_token=first_token_stats,
        time_per_output_token=tpot_stats,
        token_count=tokens,
        max_latency_s=max_latency_s,
        final_query_scheduled_s=scheduled_s,
        final_query_issued_s=issued_s,
        final_query_all_done_s=done_s,
        qps_with_loadgen_overhead=fdiv(n_minus_1, issued_s),
        qps_without_loadgen_overhead=fdiv(1.0, mean_s),
        scheduled_samples_per_sec=fdiv(n_minus_1, scheduled_s),
        completed_samples_per_sec=fdiv(n_minus_1, done_s),
        samples_per_second=fdiv(float(n), max_latency_s),
        tokens_per_second=fdiv(float(tokens), max_latency_s),
        completed_tokens_per_second=fdiv(float(tokens), done_s),
        tps_with_loadgen_overhead=fdiv(float(tokens), issued_s),
        tps_without_loadgen_overhead=fdiv(float(tokens), mean_s * n),
        token_throughput_with_loadgen_overhead=fdiv(float(tokens), issued_s),
        token_throughput=fdiv(float(tokens), float(_u64(samples.mean * n))),
        inferred_tokens_per_second=fdiv(float(_u64(n * factor)), max_latency_s),
        inferred_completed_tokens_per_second=fdiv(float(_u64((n - 1) * factor)), done_s),
        min_duration_met=duration_met,
        min_queries_met=issued >= s.min_query_count and n >= s.min_sample_count,
        perf_constraints_met=perf_met,
        early_stopping_met=es_met,
        min_duration_recommendation="" if duration_met else MIN_DURATION_RECOMMENDATIONS[scenario],
        perf_constraints_recommendation=perf_text,
        early_stopping_text=es_text,
        early_stopping_ttft_text=ttft_text,
        early_stopping_tpot_text=tpot_text,
        early_stopping_latency_ss=es_ss,
        early_stopping_latency_ms=es_ms,
    )


def perf_constraints_met(result: PerformanceResult) -> tuple[bool, str]:
    """FindPeakPerformance's pass/fail: the latency bounds only, not duration or early stopping.

    Returns (met, recommendation); the recommendation is "" when met.
    """
    return result.perf_constraints_met, result.perf_constraints_recommendation
