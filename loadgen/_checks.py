"""The strict settings check a front end runs before anything starts.

The official LoadGen logs a bad setting and carries on (a negative QPS becomes 1 QPS, a
negative ``min_duration`` wraps to 2**64 - 5 ms), which turns a typo into a 75-hour run or an
out-of-memory kill. ``check_settings`` builds the settings a run will use (mlperf.conf,
user.conf, the mode, ``--set`` values, then audit.config as StartTest applies it) and refuses
any value no run should use, naming the key and where it came from (``user.conf:3``,
``--set server_target_qps``, ``audit.config:2``):

- NaN, infinite or negative numbers; a zero rate or expected latency; a percentile outside
  0..100 (0..1 as a field); ``samples_per_query`` 0;
- a performance run that would pre-generate more than ``MAX_PREGENERATED_SAMPLES`` samples
  or last longer than ``MAX_RUN_SECONDS`` (see ``_limits`` for why these caps).

Keys nothing reads (typos) are returned as warnings. The drop-in API (``FromConfig``,
``StartTest``) does none of this, as the official LoadGen does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ._config import (
    ConfigError,
    Origin,
    apply_config_file,
    config_warnings,
    set_field,
)
from ._enums import TestMode, TestScenario
from ._limits import (
    BYTES_PER_SAMPLE,
    MAX_PREGENERATED_SAMPLES,
    MAX_RUN_SECONDS,
    describe_samples,
    generated_samples,
    machine_memory,
)
from ._settings import TestSettings, load_settings_with_origins


@dataclass(frozen=True)
class CheckedSettings:
    """Settings that passed ``check_settings`` (audit.config not applied: StartTest does
    that), and the warnings about keys nothing reads."""

    settings: TestSettings
    warnings: tuple[ConfigError, ...]


def check_settings(
    model: str,
    scenario: str,
    *,
    user_conf: str | None = None,
    mode: TestMode | None = None,
    sets: Sequence[tuple[str, str]] = (),
    audit_config: str | None = None,
    mlperf_conf: str | None = None,
    memory_bytes: int | None = None,
) -> CheckedSettings:
    """Build the settings of a run and check them; raise ConfigError on the first problem.

    Order: mlperf.conf (embedded unless a path is given), ``user_conf``, ``mode``, each of
    ``sets`` (field name, value text, as ``--set NAME=VALUE``), and for the check only,
    ``audit_config`` with model ``*``. Nothing is logged and no global state is touched.
    ``memory_bytes`` is the memory the run may use (default: this machine's, where known).
    """
    settings, origins = load_settings_with_origins(model, scenario, user_conf, mlperf_conf)
    warnings = config_warnings(user_conf) if user_conf is not None else []
    if mode is not None:
        settings.mode = mode
        origins.pop("mode", None)
    for name, text in sets:
        set_field(settings, name, text)
        origins[name] = Origin("--set", None, name, text.strip())
    run = settings
    if audit_config:
        run = settings.copy()
        origins = {**origins, **apply_config_file(run, audit_config, "*", scenario)}
        warnings += config_warnings(audit_config)
    check_values(run, origins, memory_bytes)
    return CheckedSettings(settings, tuple(warnings))


# --- single values ---------------------------------------------------------------------------

_POSITIVE = (
    "single_stream_expected_latency_ns",
    "multi_stream_expected_latency_ns",
    "server_target_qps",
    "offline_expected_qps",
    "server_find_peak_qps_boundary_step_size",
)
_PERCENTILES = (
    "single_stream_target_latency_percentile",
    "multi_stream_target_latency_percentile",
    "server_target_latency_percentile",
)
_FLOATS = (*_POSITIVE, *_PERCENTILES, "accuracy_log_probability")


def check_values(
    settings: TestSettings, origins: Mapping[str, Origin], memory_bytes: int | None = None
) -> None:
    """Raise ConfigError for the first value no run should use; ``origins`` names it."""
    for name in _FLOATS:
        value = float(getattr(settings, name))
        problem = _float_problem(name, value)
        if problem is not None:
            raise _blame(name, origins, problem, value)
    spq = settings.multi_stream_samples_per_query
    if spq < 1:
        raise _blame("multi_stream_samples_per_query", origins, "must be 1 or more", spq)
    if TestMode(settings.mode) != TestMode.AccuracyOnly:
        memory = machine_memory() if memory_bytes is None else memory_bytes
        _check_run_size(settings, origins, memory)


def _float_problem(name: str, value: float) -> str | None:
    if math.isnan(value):
        return "is not a number (NaN)"
    if math.isinf(value):
        return "is infinite"
    if value < 0:
        return f"is negative; {name} must be {'more than' if name in _POSITIVE else 'at least'} 0"
    if name in _POSITIVE and value == 0:
        return "must be more than 0"
    if name in _PERCENTILES and not 0 < value < 1:
        return "is out of range: a percentile must be more than {0} and less than {1}"
    if name == "accuracy_log_probability" and value > 1:
        return "is out of range: a probability must be at most {1}"
    return None


def _blame(name: str, origins: Mapping[str, Origin], problem: str, value: object) -> ConfigError:
    """The error for field ``name``, in the units its origin wrote (percent, ms, ...)."""
    origin = origins.get(name)
    scale = origin.scale if origin is not None else 1.0
    problem = problem.format(_number(0 / scale), _number(1 / scale))
    if origin is None:
        return ConfigError("", None, name, f"value {value!r} {problem}")
    return origin.error(f"value '{origin.text}' {problem}")


def _number(value: float) -> str:
    return format(value, ".12g")


# --- the size of the run ---------------------------------------------------------------------

_RATE_FIELD = {
    TestScenario.SingleStream: "single_stream_expected_latency_ns",
    TestScenario.MultiStream: "multi_stream_expected_latency_ns",
    TestScenario.Server: "server_target_qps",
    TestScenario.Offline: "offline_expected_qps",
}


def _check_run_size(
    s: TestSettings, origins: Mapping[str, Origin], memory_bytes: int | None
) -> None:
    scenario = TestScenario(s.scenario)
    rate_field = _RATE_FIELD[scenario]
    qps = _qps(s, scenario)
    max_s = s.max_duration_ms / 1000.0 if s.max_duration_ms else math.inf
    min_s = s.min_duration_ms / 1000.0
    if min(min_s, max_s) > MAX_RUN_SECONDS:
        raise _over(
            "min_duration_ms",
            origins,
            f"means a run of at least {_duration(min_s)}; the limit is "
            f"{_duration(MAX_RUN_SECONDS)}",
        )
    if scenario == TestScenario.Server:
        queries = float(s.min_query_count)
        if s.max_query_count:
            queries = min(queries, float(s.max_query_count))
        schedule_s = queries / qps
        if min(schedule_s, max_s) > MAX_RUN_SECONDS:
            culprit = _culprit(origins, rate_field, "min_query_count")
            raise _over(
                culprit,
                origins,
                f"means a run of {_duration(schedule_s)} ({s.min_query_count} queries of "
                f"min_query_count at {_amount(qps)} QPS); the limit is "
                f"{_duration(MAX_RUN_SECONDS)}",
            )
    spq = s.multi_stream_samples_per_query if scenario == TestScenario.MultiStream else 1
    samples = generated_samples(scenario, qps, s.min_duration_ms, s.min_query_count, spq)
    limit, bound = MAX_PREGENERATED_SAMPLES, ""
    if memory_bytes is not None and memory_bytes // BYTES_PER_SAMPLE < limit:
        limit = memory_bytes // BYTES_PER_SAMPLE
        bound = f" (what {memory_bytes / 1e9:,.1f} GB of memory holds)"
    if samples > limit:
        over_time = samples > s.min_query_count * spq
        factors = (rate_field, "min_duration_ms") if over_time else ("min_query_count",)
        culprit = _culprit(origins, *factors, "multi_stream_samples_per_query")
        why = (
            f"{_amount(qps)} QPS over {_number(s.min_duration_ms / 1000.0)} s of min_duration_ms"
            f"{_from(origins, 'min_duration_ms')}"
            if over_time
            else f"min_query_count {s.min_query_count}{_from(origins, 'min_query_count')}"
        )
        raise _over(
            culprit,
            origins,
            f"would make the LoadGen pre-generate {describe_samples(samples)} for one "
            f"{scenario.name} run ({why}); the limit is {limit:,} samples{bound}",
        )


def _qps(s: TestSettings, scenario: TestScenario) -> float:
    if scenario == TestScenario.SingleStream:
        return 1e9 / s.single_stream_expected_latency_ns
    if scenario == TestScenario.MultiStream:
        return 1e9 / s.multi_stream_expected_latency_ns
    if scenario == TestScenario.Server:
        return float(s.server_target_qps)
    return float(s.offline_expected_qps)


def _culprit(origins: Mapping[str, Origin], first: str, *others: str) -> str:
    """The first of the fields the user set (not mlperf.conf, not a default), else ``first``."""
    for name in (first, *others):
        origin = origins.get(name)
        if origin is not None and not origin.from_mlperf_conf:
            return name
    return first


def _over(name: str, origins: Mapping[str, Origin], problem: str) -> ConfigError:
    origin = origins.get(name)
    if origin is None:
        return ConfigError("", None, name, problem)
    return origin.error(f"value '{origin.text}' {problem}")


def _from(origins: Mapping[str, Origin], name: str) -> str:
    origin = origins.get(name)
    return f" from {origin.label}" if origin is not None else ""


def _duration(seconds: float) -> str:
    if seconds >= 2 * 365 * 86400:
        return f"{_amount(seconds / (365 * 86400))} years"
    if seconds > 2 * 86400:
        return f"{_amount(seconds / 86400)} days"
    if seconds >= 3600:
        return f"{_amount(seconds / 3600)} hours"
    return f"{_amount(seconds)} s"


def _amount(value: float) -> str:
    """3 significant digits, with thousands separators up to 1e15 (``3,170``, ``75.1``)."""
    if 1000 <= value < 1e15:
        return f"{value:,.0f}"
    return f"{value:.3g}"
