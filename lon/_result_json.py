"""``result.json``: one run's outcome in a versioned, documented form a CI pipeline can gate on.

It is built from the run's logs (the LoadGen's detail log, and ``lon_node_stats.json`` when
lon-run wrote one), so any run's directory, ours or the official LoadGen's, gives the same
document; the schema is ``lon/result.schema.json`` (``SCHEMA_VERSION``), and the README says
what each field means. A FindPeakPerformance search logs a result per probe: the last one
(the peak's) is taken.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from loadgen import logs

from ._node_stats import read_node_stats
from ._token_latencies import token_latencies
from ._versions import git_describe, lon_version, official_loadgen_version

RESULT_FILE = "result.json"
SCHEMA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "result.schema.json")
SCHEMA_VERSION = 1
DETAIL_FILE = "mlperf_log_detail.txt"

_PERCENTILE = re.compile(r"^result_([0-9.]+)_percentile_latency_ns$")
_SETTINGS = (
    "target_qps", "target_latency_ns", "target_latency_percentile", "min_duration_ms",
    "max_duration_ms", "min_query_count", "max_query_count", "samples_per_query",
    "performance_sample_count", "max_async_queries", "test_mode",
)  # fmt: skip


def last_values(detail: logs.DetailLog) -> dict[str, Any]:
    """Every key's LAST value (a FindPeak search logs a result block per probe)."""
    values: dict[str, Any] = {}
    for record in detail.records:
        key = record.get("key")
        if isinstance(key, str):
            values[key] = record.get("value")
    return values


def metric(scenario: str, values: dict[str, Any]) -> dict[str, Any] | None:
    """The scenario's headline figure (name, value, unit), or None when the log has none."""
    if scenario == "Offline":
        name, key, unit, scale = "samples_per_second", "result_samples_per_second", "1/s", 1.0
    elif scenario == "Server":
        name, key, unit, scale = (
            "scheduled_samples_per_second", "result_scheduled_samples_per_sec", "1/s", 1.0
        )  # fmt: skip
    else:
        pct = float(values.get("effective_target_latency_percentile") or 0.9) * 100
        per_query = "_per_query" if scenario == "MultiStream" else ""
        name = f"p{pct:g}{per_query}_latency_ms"
        key, unit, scale = f"result_{pct:.2f}_percentile{per_query}_latency_ns", "ms", 1e-6
        if key not in values:
            key = f"result_{pct:.2f}_percentile_latency_ns"
    value = values.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return {"name": name, "value": float(value) * scale, "unit": unit}


def build(directory: str) -> dict[str, Any]:
    """The result document for the run whose logs are in ``directory``; LogError when the
    detail log is missing or malformed."""
    detail = logs.read_detail_log(os.path.join(directory, DETAIL_FILE))
    values = last_values(detail)
    stats, _ = read_node_stats(directory)
    scenario = str(values.get("effective_scenario") or stats.get("scenario") or "")
    validity = values.get("result_validity") or stats.get("validity")
    reasons = []
    if stats.get("failure"):
        reasons.append(f"run failed: {stats['failure']}")
        validity = "INVALID"
    for key, why in (
        ("result_min_duration_met", "min duration not met"),
        ("result_min_queries_met", "min queries not met"),
        ("result_perf_constraints_met", "latency constraint not met"),
        ("early_stopping_met", "early stopping not met"),
    ):
        if values.get(key) is False:
            reasons.append(why)
    invalid_reason = values.get("result_invalid_reason")
    if isinstance(invalid_reason, str) and invalid_reason and invalid_reason not in reasons:
        reasons.append(invalid_reason)
    percentiles = {
        m.group(1): round(float(v) / 1e6, 6)
        for k, v in values.items()
        if (m := _PERCENTILE.match(k)) and isinstance(v, (int, float))
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "validity": validity if validity in ("VALID", "INVALID") else None,
        "invalid_reasons": reasons,
        "scenario": scenario,
        "mode": str(values.get("effective_test_mode") or stats.get("mode") or ""),
        "metric": metric(scenario, values),
        "latency_ms": {
            "percentiles": percentiles,
            "min": _ms(values.get("result_min_latency_ns")),
            "mean": _ms(values.get("result_mean_latency_ns")),
            "max": _ms(values.get("result_max_latency_ns")),
        },
        "token_latencies": token_latencies(scenario, values),
        "queries": values.get("result_query_count"),
        "completed_samples_per_second": values.get("result_completed_samples_per_sec"),
        "durations": {
            "min_duration_ms": values.get("effective_min_duration_ms"),
            "max_duration_ms": values.get("effective_max_duration_ms"),
            "generated_query_duration_ns": values.get("generated_query_duration"),
        },
        "settings": {k: values.get(f"effective_{k}") for k in _SETTINGS},
        "errors": detail.error_count,
        "sut_name": values.get("sut_name"),
        "nodes": [_node(n) for n in stats.get("nodes", []) if isinstance(n, dict)],
        "issue_delay_ms": stats.get("issue_delay_ms"),
        "versions": {
            "lon": lon_version(),
            "loadgen": stats.get("loadgen") or "unknown",
            "loadgen_version": values.get("loadgen_version"),
            "official_loadgen_installed": official_loadgen_version(),
            "git_describe": git_describe(),
        },
    }


def _ms(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value) / 1e6, 6)
    return None


def _node(node: dict[str, Any]) -> dict[str, Any]:
    return {
        "address": node.get("address"),
        "name": node.get("name"),
        "backend": node.get("backend"),
        "samples": node.get("samples"),
        "bytes_sent": node.get("bytes_sent"),
        "bytes_received": node.get("bytes_received"),
        "timing_ms": node.get("timing_ms") or {},
    }


def write(directory: str) -> str:
    """Build and write ``result.json`` into ``directory``; returns its path."""
    doc = build(directory)
    path = os.path.join(directory, RESULT_FILE)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return path
