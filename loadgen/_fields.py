"""The TestSettings field table: every field's name, type and default, in official order.

The one place both the settings object (``_settings``) and the config parser (``_config``) read
the fields from, so neither needs the other to know them: ``SettingsFields`` is the typed object
the parser works on, ``TestSettings`` adds the official methods.
"""

from __future__ import annotations

from typing import Any

from . import _cpp_types
from ._enums import TestMode, TestScenario

# Field name -> (type, default), in the official declaration order. The order matters for
# logging; the types are what a config value or ``--set`` text is converted to.
TEST_SETTINGS_FIELDS: dict[str, tuple[type, Any]] = {
    "scenario": (TestScenario, TestScenario.SingleStream),
    "mode": (TestMode, TestMode.PerformanceOnly),
    "single_stream_expected_latency_ns": (float, 1_000_000.0),
    "single_stream_target_latency_percentile": (float, 0.90),
    "multi_stream_expected_latency_ns": (float, 8_000_000.0),
    "multi_stream_target_latency_percentile": (float, 0.99),
    "multi_stream_samples_per_query": (int, 8),
    "server_target_qps": (float, 1.0),
    "server_target_latency_ns": (int, 100_000_000),
    "server_target_latency_percentile": (float, 0.99),
    "server_coalesce_queries": (bool, False),
    "server_find_peak_qps_decimals_of_precision": (int, 1),
    "server_find_peak_qps_boundary_step_size": (float, 1.0),
    "server_max_async_queries": (int, 0),
    "server_num_issue_query_threads": (int, 0),
    "offline_expected_qps": (float, 1.0),
    "sample_concatenate_permutation": (bool, False),
    "min_duration_ms": (int, 10_000),
    "max_duration_ms": (int, 0),
    "min_query_count": (int, 100),
    "max_query_count": (int, 0),
    "qsl_rng_seed": (int, 0),
    "sample_index_rng_seed": (int, 0),
    "schedule_rng_seed": (int, 0),
    "accuracy_log_rng_seed": (int, 0),
    "accuracy_log_probability": (float, 0.0),
    "accuracy_log_sampling_target": (int, 0),
    "test05": (bool, False),
    "test05_qsl_rng_seed": (int, 0),
    "test05_sample_index_rng_seed": (int, 0),
    "test05_schedule_rng_seed": (int, 0),
    "print_timestamps": (bool, False),
    "performance_issue_unique": (bool, False),
    "performance_issue_same": (bool, False),
    "performance_issue_same_index": (int, 0),
    "performance_sample_count_override": (int, 0),
    "accuracy_sample_count_override": (int, 0),
    "use_token_latencies": (bool, False),
    "ttft_latency": (int, 100_000_000),  # C++: server_ttft_latency (ns)
    "tpot_latency": (int, 100_000_000),  # C++: server_tpot_latency (ns)
    "infer_token_latencies": (bool, False),
    "token_latency_scaling_factor": (int, 0),
}

TEST_SETTINGS_DEFAULTS: dict[str, Any] = {k: v for k, (_, v) in TEST_SETTINGS_FIELDS.items()}
FIELD_TYPES: dict[str, type] = {k: t for k, (t, _) in TEST_SETTINGS_FIELDS.items()}
SIGNED_FIELDS = ("server_find_peak_qps_decimals_of_precision",)  # a C int; the rest are uint64


def _converter(name: str, kind: type) -> _cpp_types.Converter:
    if kind is bool:
        return _cpp_types.boolean
    if kind is float:
        return _cpp_types.double
    if kind is int:
        return _cpp_types.int32 if name in SIGNED_FIELDS else _cpp_types.uint64
    return _cpp_types.member_of(kind)


_CONVERTERS = {name: _converter(name, kind) for name, kind in FIELD_TYPES.items()}


class SettingsFields:
    """The fields themselves, typed, on slots: what the config parser reads and writes.

    ``TestSettings`` adds the official methods; code that only sets fields takes this type.
    Assignments are checked as the official bindings check them (``_cpp_types``).
    """

    __slots__ = tuple(TEST_SETTINGS_FIELDS)

    # Declared for type checkers; __init__ fills every slot from the table.
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

    # Refuse (TypeError) what the official C++ field would refuse; store the field's type.
    __setattr__ = _cpp_types.typed_setattr("TestSettings", _CONVERTERS)
