"""User-facing settings objects, with the official field names and defaults."""

from __future__ import annotations

from typing import Any

from ._enums import LoggingMode, TestMode, TestScenario

# Field name -> default, in the official declaration order. The order matters for logging.
TEST_SETTINGS_DEFAULTS: dict[str, Any] = {
    "scenario": TestScenario.SingleStream,
    "mode": TestMode.PerformanceOnly,
    "single_stream_expected_latency_ns": 1_000_000,
    "single_stream_target_latency_percentile": 0.90,
    "multi_stream_expected_latency_ns": 8_000_000,
    "multi_stream_target_latency_percentile": 0.99,
    "multi_stream_samples_per_query": 8,
    "server_target_qps": 1.0,
    "server_target_latency_ns": 100_000_000,
    "server_target_latency_percentile": 0.99,
    "server_coalesce_queries": False,
    "server_find_peak_qps_decimals_of_precision": 1,
    "server_find_peak_qps_boundary_step_size": 1.0,
    "server_max_async_queries": 0,
    "server_num_issue_query_threads": 0,
    "offline_expected_qps": 1.0,
    "sample_concatenate_permutation": False,
    "min_duration_ms": 10_000,
    "max_duration_ms": 0,
    "min_query_count": 100,
    "max_query_count": 0,
    "qsl_rng_seed": 0,
    "sample_index_rng_seed": 0,
    "schedule_rng_seed": 0,
    "accuracy_log_rng_seed": 0,
    "accuracy_log_probability": 0.0,
    "accuracy_log_sampling_target": 0,
    "test05": False,
    "test05_qsl_rng_seed": 0,
    "test05_sample_index_rng_seed": 0,
    "test05_schedule_rng_seed": 0,
    "print_timestamps": False,
    "performance_issue_unique": False,
    "performance_issue_same": False,
    "performance_issue_same_index": 0,
    "performance_sample_count_override": 0,
    "accuracy_sample_count_override": 0,
    "use_token_latencies": False,
    "ttft_latency": 100_000_000,  # C++: server_ttft_latency (ns)
    "tpot_latency": 100_000_000,  # C++: server_tpot_latency (ns)
    "infer_token_latencies": False,
    "token_latency_scaling_factor": 0,
}


class TestSettings:
    """What to run and how: the official ``mlperf::TestSettings`` field for field.

    Assigning a field that does not exist raises AttributeError, so a typo cannot go unnoticed.
    """

    __test__ = False  # not a pytest test class
    __slots__ = tuple(TEST_SETTINGS_DEFAULTS)

    # Declared for type checkers; __init__ fills every slot.
    scenario: TestScenario
    mode: TestMode
    single_stream_expected_latency_ns: float
    single_stream_target_latency_percentile: float
    multi_stream_expected_latency_ns: float
    multi_stream_target_latency_percentile: float
    multi_stream_samples_per_query: int
    server_target_qps: float
    server_target_latency_ns: int
    server_target_latency_percentile: float
    server_coalesce_queries: bool
    server_find_peak_qps_decimals_of_precision: int
    server_find_peak_qps_boundary_step_size: float
    server_max_async_queries: int
    server_num_issue_query_threads: int
    offline_expected_qps: float
    sample_concatenate_permutation: bool
    min_duration_ms: int
    max_duration_ms: int
    min_query_count: int
    max_query_count: int
    qsl_rng_seed: int
    sample_index_rng_seed: int
    schedule_rng_seed: int
    accuracy_log_rng_seed: int
    accuracy_log_probability: float
    accuracy_log_sampling_target: int
    test05: bool
    test05_qsl_rng_seed: int
    test05_sample_index_rng_seed: int
    test05_schedule_rng_seed: int
    print_timestamps: bool
    performance_issue_unique: bool
    performance_issue_same: bool
    performance_issue_same_index: int
    performance_sample_count_override: int
    accuracy_sample_count_override: int
    use_token_latencies: bool
    ttft_latency: int
    tpot_latency: int
    infer_token_latencies: bool
    token_latency_scaling_factor: int

    def __init__(self) -> None:
        for name, value in TEST_SETTINGS_DEFAULTS.items():
            object.__setattr__(self, name, value)

    def FromConfig(  # noqa: N802 - official name
        self, path: str, model: str, scenario: str, conf_type: int = 1
    ) -> int:
        """Apply a config file: 0 = embedded mlperf.conf, 1 = user.conf, 2 = audit.config.

        Returns 0 on success, -22 (EINVAL) if the file had errors (nothing applied) and
        -2 (ENOENT) if it cannot be opened, as the official LoadGen does. The errors are logged
        to the detail log of the next test and printed to stderr with file, line and key.
        """
        from ._config import from_config

        return from_config(self, path, model, scenario, conf_type)

    def copy(self) -> TestSettings:
        other = TestSettings()
        for name in TEST_SETTINGS_DEFAULTS:
            object.__setattr__(other, name, getattr(self, name))
        return other

    def __repr__(self) -> str:
        changed = [
            f"{k}={getattr(self, k)!r}"
            for k, v in TEST_SETTINGS_DEFAULTS.items()
            if getattr(self, k) != v
        ]
        return f"TestSettings({', '.join(changed)})"


class LogOutputSettings:
    """Where the log files go and how they are named."""

    __slots__ = (
        "outdir",
        "prefix",
        "suffix",
        "prefix_with_datetime",
        "copy_detail_to_stdout",
        "copy_summary_to_stdout",
    )

    def __init__(self) -> None:
        self.outdir = "."
        self.prefix = "mlperf_log_"
        self.suffix = ""
        self.prefix_with_datetime = False
        self.copy_detail_to_stdout = False
        self.copy_summary_to_stdout = False


class LogSettings:
    """Log output plus the (inert) logging-mode knobs of the official API."""

    __slots__ = ("log_output", "log_mode", "log_mode_async_poll_interval_ms", "enable_trace")

    def __init__(self) -> None:
        self.log_output = LogOutputSettings()
        self.log_mode = LoggingMode.AsyncPoll
        self.log_mode_async_poll_interval_ms = 1000
        self.enable_trace = True
