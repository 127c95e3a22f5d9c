"""FindPeakPerformance (Server only): the highest target QPS whose run meets the latency bound.

As the official LoadGen (spec §3.8): the user's server_target_qps is the lower bound and must
pass; the upper bound grows by ``1 + server_find_peak_qps_boundary_step_size`` until a probe
fails; then a binary search narrows [lower, upper) to
``server_find_peak_qps_decimals_of_precision`` decimals. Pass/fail looks only at the latency
constraints (not early stopping or duration).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from contextlib import AbstractContextManager

from ._detail_log import DetailLog
from ._effective import EffectiveSettings
from ._enums import TestScenario
from ._results import PerformanceResult, perf_constraints_met

NOT_SUPPORTED = "Finding peak performance is only supported in Server scenarios."

Probe = Callable[[EffectiveSettings], PerformanceResult]
"""One performance run at the given settings (a fake in tests: the search needs no runs)."""

Bisecting = Callable[[EffectiveSettings], AbstractContextManager[object]]
"""Entered around the binary search with its upper bound: the run loads one sample set, made
from the upper bound's settings, for every probe of the search (as the official LoadGen)."""


def field(eff: EffectiveSettings) -> str:
    return f"{eff.target_qps:f}"


def widen(eff: EffectiveSettings) -> EffectiveSettings:
    step = eff.requested.server_find_peak_qps_boundary_step_size
    return dataclasses.replace(eff, target_qps=eff.target_qps * (1 + step))


def mid(lower: EffectiveSettings, upper: EffectiveSettings) -> EffectiveSettings:
    return dataclasses.replace(
        lower, target_qps=lower.target_qps + (upper.target_qps - lower.target_qps) / 2
    )


def is_finished(lower: EffectiveSettings, upper: EffectiveSettings) -> bool:
    precision = int(lower.requested.server_find_peak_qps_decimals_of_precision) & 0xFF
    scale = math.pow(10, precision)
    return math.floor(lower.target_qps * scale) + 1 >= math.floor(upper.target_qps * scale)


def _no_setup(upper: EffectiveSettings) -> AbstractContextManager[object]:
    return contextlib.nullcontext()


def find_peak_performance(
    eff: EffectiveSettings,
    probe: Probe,
    detail: DetailLog,
    bisecting: Bisecting = _no_setup,
) -> tuple[PerformanceResult | None, float | None]:
    """The peak's result and target QPS; (the base result, None) if the base settings fail.

    Outside Server there is nothing to search: the error is logged and (None, None) returned,
    as the official LoadGen logs it and returns without a run. The caller logs the result.
    """
    detail.log("generic_message", "Starting FindPeakPerformance mode")
    if eff.scenario != TestScenario.Server:
        detail.log("error_invalid_config", NOT_SUPPORTED, error=True)
        return None, None
    detail.log(
        "generic_message",
        f"FindPeakPerformance: Check validity of the base settings field: {field(eff)}",
    )
    detail.flush()  # each probe's line reaches the file as it starts, for a live display
    base_result = probe(eff)
    met, why = perf_constraints_met(base_result)
    if not met:
        detail.log(
            "error_runtime",
            "FindPeakPerformance: Initial lower bound does not satisfy performance "
            f"constraints, msg: {why}",
            error=True,
        )
        return base_result, None

    lower, lower_result = eff, base_result
    while True:
        upper = widen(lower)
        detail.log(
            "generic_message",
            f"FindBoundaries: Checking fields [{field(lower)}, {field(upper)})",
        )
        detail.flush()
        upper_result = probe(upper)
        if not perf_constraints_met(upper_result)[0]:
            break
        lower, lower_result = upper, upper_result
    detail.log(
        "generic_message",
        f"FindPeakPerformance: Found boundaries: [{field(lower)}, {field(upper)})",
    )

    with bisecting(upper):
        while not is_finished(lower, upper):
            middle = mid(lower, upper)
            detail.log(
                "generic_message",
                "FindPeakPerformanceBinarySearch: Testing the mid value of bounds "
                f"[{field(lower)}, {field(upper)}): {field(middle)}",
            )
            detail.flush()
            result = probe(middle)
            if perf_constraints_met(result)[0]:
                lower, lower_result = middle, result
            else:
                upper = middle
        detail.log(
            "generic_message",
            f"FindPeakPerformance: Found peak performance field: {field(lower)}",
        )
    return lower_result, lower.target_qps
