"""Normalised settings: what a run actually uses, derived from TestSettings and the QSL.

Mirrors the official TestSettingsInternal. ``problems`` holds the settings errors the official
LoadGen logs as ``error_invalid_test_settings``; the run goes on with the fallback values.
Settings no run can use (an infinite target_qps, except from an expected latency of 0 with no
duration to fill; a negative expected latency; a series too big for any machine's memory, see
``_limits``) raise ValueError instead: the official LoadGen hangs, crashes or runs out of
memory on them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._enums import TestMode, TestScenario
from ._limits import UNRUNNABLE_SAMPLES, describe_samples, generated_samples
from ._settings import TestSettings


@dataclass
class EffectiveSettings:
    requested: TestSettings
    scenario: TestScenario
    mode: TestMode
    samples_per_query: int
    target_qps: float
    target_latency_ns: int
    target_latency_percentile: float
    max_async_queries: int
    target_duration_ms: int
    min_duration_ms: int
    max_duration_ms: int
    min_query_count: int
    max_query_count: int
    min_sample_count: int
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int
    accuracy_log_rng_seed: int
    accuracy_log_probability: float
    accuracy_log_sampling_target: int
    print_timestamps: bool
    performance_issue_unique: bool
    performance_issue_same: bool
    performance_issue_same_index: int
    performance_sample_count: int
    accuracy_sample_count: int
    sample_concatenate_permutation: bool
    use_token_latencies: bool
    server_ttft_latency: int
    server_tpot_latency: int
    infer_token_latencies: bool
    token_latency_scaling_factor: int
    problems: list[str] = field(default_factory=list)

    @property
    def needs_first_token(self) -> bool:
        return self.use_token_latencies and self.scenario != TestScenario.Offline


def effective_settings(
    s: TestSettings, qsl_performance_count: int, qsl_total_count: int
) -> EffectiveSettings:
    """Normalise ``s`` (already overridden by audit.config) as the official LoadGen does."""
    problems: list[str] = []
    scenario = TestScenario(s.scenario)
    target_qps = 1.0
    target_latency_ns = 0
    max_async = 1
    if scenario == TestScenario.SingleStream:
        target_qps = _rate(s.single_stream_expected_latency_ns, "single_stream_expected_latency_ns")
        percentile = s.single_stream_target_latency_percentile
    elif scenario == TestScenario.MultiStream:
        target_qps = _rate(s.multi_stream_expected_latency_ns, "multi_stream_expected_latency_ns")
        percentile = s.multi_stream_target_latency_percentile
    elif scenario == TestScenario.Server:
        if s.server_target_qps >= 0.0:
            target_qps = float(s.server_target_qps)
        else:
            problems.append(
                "Invalid value for server_target_qps requested. "
                f"requested: {s.server_target_qps:g} using: {target_qps:g}"
            )
        target_latency_ns = int(s.server_target_latency_ns)
        percentile = s.server_target_latency_percentile
        max_async = int(s.server_max_async_queries)
    else:
        percentile = 0.99
        if s.offline_expected_qps >= 0.0:
            target_qps = float(s.offline_expected_qps)
        else:
            problems.append(
                "Invalid value for offline_expected_qps requested. "
                f"requested: {s.offline_expected_qps:g} using: {target_qps:g}"
            )

    if math.isinf(target_qps) and scenario in (TestScenario.Server, TestScenario.Offline):
        raise ValueError(f"target_qps is {target_qps:g}: the LoadGen cannot schedule that rate")
    psc = int(s.performance_sample_count_override) or int(qsl_performance_count)
    asc = int(s.accuracy_sample_count_override) or int(qsl_total_count)
    spq = int(s.multi_stream_samples_per_query) if scenario == TestScenario.MultiStream else 1
    target_duration_ms = int(s.min_duration_ms)
    min_query_count = int(s.min_query_count)
    if TestMode(s.mode) != TestMode.AccuracyOnly:
        _check_infinite_rate(s, scenario, target_qps)
        samples = generated_samples(scenario, target_qps, target_duration_ms, min_query_count, spq)
        if samples >= UNRUNNABLE_SAMPLES:
            raise ValueError(
                f"these settings would pre-generate {describe_samples(samples)} for one "
                f"performance run (target_qps {target_qps:g}, min_duration_ms "
                f"{target_duration_ms}, min_query_count {min_query_count}), more than any "
                "machine can hold"
            )

    if scenario == TestScenario.Offline:
        target_sample_count = int(1.1 * (target_duration_ms / 1000.0) * target_qps)
        spq = psc if s.performance_issue_unique else max(min_query_count, target_sample_count)
        min_query_count = 1
        target_duration_ms = 0

    concat = bool(s.sample_concatenate_permutation)
    if concat and scenario == TestScenario.SingleStream:
        expected = int(2.0 * (target_duration_ms / 1000.0) * target_qps)
        min_query_count = max(min_query_count, expected)
        p = int(qsl_performance_count)
        if p > 0:
            min_query_count += p - (min_query_count % p)

    if s.performance_issue_same and s.performance_issue_same_index >= psc:
        problems.append(
            "Sample Idx to be repeated in performance_issue_same mode cannot be greater than "
            "loaded performance_sample_count. performance_issue_same_index: "
            f"{s.performance_issue_same_index} performance_sample_count: {psc}"
        )
    if s.performance_issue_unique and s.performance_issue_same:
        problems.append(
            "Performance_issue_unique and performance_issue_same, both cannot be true at the "
            f"same time. performance_issue_unique: {int(bool(s.performance_issue_unique))} "
            f"performance_issue_same: {int(bool(s.performance_issue_same))}"
        )

    return EffectiveSettings(
        requested=s,
        scenario=scenario,
        mode=TestMode(s.mode),
        samples_per_query=spq,
        target_qps=target_qps,
        target_latency_ns=target_latency_ns,
        target_latency_percentile=float(percentile),
        max_async_queries=max_async,
        target_duration_ms=target_duration_ms,
        min_duration_ms=int(s.min_duration_ms),
        max_duration_ms=int(s.max_duration_ms),
        min_query_count=min_query_count,
        max_query_count=int(s.max_query_count),
        min_sample_count=min_query_count * spq,
        qsl_rng_seed=int(s.qsl_rng_seed),
        sample_index_rng_seed=int(s.sample_index_rng_seed),
        schedule_rng_seed=int(s.schedule_rng_seed),
        accuracy_log_rng_seed=int(s.accuracy_log_rng_seed),
        accuracy_log_probability=float(s.accuracy_log_probability),
        accuracy_log_sampling_target=int(s.accuracy_log_sampling_target),
        print_timestamps=bool(s.print_timestamps),
        performance_issue_unique=bool(s.performance_issue_unique),
        performance_issue_same=bool(s.performance_issue_same),
        performance_issue_same_index=int(s.performance_issue_same_index),
        performance_sample_count=psc,
        accuracy_sample_count=asc,
        sample_concatenate_permutation=concat,
        use_token_latencies=bool(s.use_token_latencies),
        server_ttft_latency=int(s.ttft_latency),
        server_tpot_latency=int(s.tpot_latency),
        infer_token_latencies=bool(s.infer_token_latencies),
        token_latency_scaling_factor=int(s.token_latency_scaling_factor),
        problems=problems,
    )


def _check_infinite_rate(s: TestSettings, scenario: TestScenario, target_qps: float) -> None:
    """Refuse the infinite rate where the official LoadGen never stops generating queries:
    with a duration to fill (all queries sit at 0 ns) or with equal issue (its query count is
    then NaN)."""
    if not math.isinf(target_qps) or s.performance_issue_unique:
        return
    concat = scenario == TestScenario.SingleStream and bool(s.sample_concatenate_permutation)
    if int(s.min_duration_ms) > 0 or concat:
        name = (
            "single_stream_expected_latency_ns"
            if scenario == TestScenario.SingleStream
            else "multi_stream_expected_latency_ns"
        )
        why = "sample_concatenate_permutation" if concat else f"min_duration_ms {s.min_duration_ms}"
        raise ValueError(
            f"{name} is 0 with {why}: every query would be scheduled at 0 ns and the official "
            "LoadGen generates queries forever; use a positive expected latency"
        )


def _rate(expected_latency_ns: float, name: str) -> float:
    """1e9 / the expected latency: queries per second; a latency of 0 gives inf, as officially.

    At an infinite rate every query is scheduled at 0 ns, so the official generation ends
    only by min_query_count: fine without a duration to fill (``_check_infinite_rate``).
    """
    if expected_latency_ns == 0.0:
        return math.inf
    if not 0.0 < expected_latency_ns < math.inf:
        raise ValueError(
            f"{name} must be a positive number of ns (or 0), got {expected_latency_ns!r}"
        )
    return 1e9 / expected_latency_ns
