"""Token latencies (TTFT and TPOT) of a run, read from the LoadGen's detail log.

Token runs (``use_token_latencies``) are judged on two latencies besides the sample's: the time
to the first token (TTFT) and the time per output token after it (TPOT). The LoadGen logs their
percentiles, and a Server run has a bound on each at the target percentile
(``ttft_latency``/``tpot_latency``); this gathers them into the ``token_latencies`` block of
``result.json`` that the report and lon-run's recap also show.
"""

from __future__ import annotations

import json
import re
from typing import Any

BOUND_SCENARIOS = ("Server", "Interactive")
"""Scenarios with TTFT/TPOT bounds (the others report the latencies without a bound)."""

_TTFT = re.compile(r"^result_first_token_([0-9.]+)_percentile_latency_ns$")
_TPOT = re.compile(r"^result_time_per_output_token_([0-9.]+)_percentile_ns$")
_TOKENS_PER_SECOND = (
    "result_tokens_per_second",  # Offline
    "result_completed_tokens_per_second",  # Server
    "result_token_throughput_with_loadgen_overhead",  # SingleStream, MultiStream
)


def is_token_run(values: dict[str, Any]) -> bool:
    """Whether the detail log is a token run's (its settings, or its TTFT results, say so)."""
    if values.get("effective_use_token_latencies") or values.get("requested_use_token_latencies"):
        return True
    return "result_first_token_mean_latency_ns" in values


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def _ms(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else round(number / 1e6, 6)


def _latency(
    values: dict[str, Any],
    pattern: re.Pattern[str],
    extremes: tuple[str, str, str],
    bound_key: str,
    target: str,
    scenario: str,
) -> dict[str, Any]:
    percentiles = {
        m.group(1): ms
        for k, v in values.items()
        if (m := pattern.match(k)) and (ms := _ms(v)) is not None
    }
    at_target = percentiles.get(target)
    bound = None
    if scenario in BOUND_SCENARIOS:
        bound = _ms(values.get(f"effective_{bound_key}", values.get(f"requested_{bound_key}")))
    met = None if bound is None or at_target is None else at_target <= bound
    low, high, mean = (_ms(values.get(k)) for k in extremes)
    return {
        "percentiles": percentiles,
        "min": low,
        "mean": mean,
        "max": high,
        "at_target_percentile": at_target,
        "bound": bound,
        "bound_met": met,
    }


def token_latencies(scenario: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The ``token_latencies`` block (ms) for a token run's detail-log values; None otherwise."""
    if not is_token_run(values) or "result_first_token_mean_latency_ns" not in values:
        return None
    pct = float(values.get("effective_target_latency_percentile") or 0.99) * 100
    target = f"{pct:.2f}"
    ttft = _latency(
        values,
        _TTFT,
        (
            "result_first_token_min_latency_ns",
            "result_first_token_max_latency_ns",
            "result_first_token_mean_latency_ns",
        ),
        "server_ttft_latency",
        target,
        scenario,
    )
    tpot = _latency(
        values,
        _TPOT,
        (
            "result_time_to_output_token_min",
            "result_time_to_output_token_max",
            "result_time_to_output_token_mean",
        ),
        "server_tpot_latency",
        target,
        scenario,
    )
    rate = None
    for key in _TOKENS_PER_SECOND:
        if (value := _number(values.get(key))) is not None:
            rate = {"name": key[len("result_") :], "value": value}
            break
    return {
        "target_percentile": target,
        "ttft_ms": ttft,
        "tpot_ms": tpot,
        "tokens_per_second": rate,
    }


def recap(block: dict[str, Any]) -> str:
    """One line: TTFT and TPOT at the target percentile against their bounds, and tokens/s."""
    parts = []
    for name, key in (("TTFT", "ttft_ms"), ("TPOT", "tpot_ms")):
        part = block[key]
        at = part["at_target_percentile"]
        text = f"{name} p{float(block['target_percentile']):g} " + (
            "-" if at is None else f"{at:.3f} ms"
        )
        if part["bound"] is not None:
            verdict = "met" if part["bound_met"] else "NOT met"
            text += f" (bound {part['bound']:g} ms, {verdict})"
        parts.append(text)
    rate = block.get("tokens_per_second")
    if rate:
        parts.append(f"{rate['value']:.6g} tokens/s")
    return "tokens: " + ", ".join(parts)


def recap_of(result_path: str) -> str | None:
    """The recap line of the ``result.json`` at ``result_path``; None for a run without tokens
    (or a file that cannot be read: the run's logs stand on their own)."""
    try:
        with open(result_path, encoding="utf-8") as f:
            block = json.load(f).get("token_latencies")
    except (OSError, ValueError, AttributeError):
        return None
    return recap(block) if isinstance(block, dict) else None
