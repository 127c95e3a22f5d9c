"""What a run's detail log says beyond the summary: FindPeakPerformance steps, logged errors.

Both LoadGens log every FindPeak probe, its outcome and every runtime error as ``:::MLLOG``
lines of mlperf_log_detail.txt with the same wording, so the log is the one place that works
for both (the official LoadGen reports errors nowhere else).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_PEAK = re.compile(r"Found peak performance field: ([0-9.eE+-]+)")
_RESPONSE_ID = re.compile(r" \(response id [0-9]+\)")
_LOWER_BOUND_FAILED = "Initial lower bound does not satisfy performance constraints"
_PROBE_PREFIXES = (
    "FindPeakPerformance: Check validity of the base settings field",
    "FindBoundaries: Checking fields",
    "FindPeakPerformanceBinarySearch: Testing the mid value",
)


@dataclass
class FindPeakOutcome:
    """peak_qps: the found QPS, or None; lower_bound_error: why the start failed, or None."""

    peak_qps: float | None = None
    lower_bound_error: str | None = None
    probes: list[str] = field(default_factory=list)


@dataclass
class LoggedErrors:
    """How many error lines the detail log holds, and the distinct messages (ids removed)."""

    count: int = 0
    messages: list[str] = field(default_factory=list)


def _records(detail_path: str) -> Iterator[dict[str, Any]]:
    """Every ``:::MLLOG`` record of a detail log; unreadable lines and files are skipped."""
    try:
        with open(detail_path, encoding="utf-8", errors="replace") as f:
            for line in f:
                _, sep, payload = line.partition(":::MLLOG")
                if not sep:
                    continue
                try:
                    record = json.loads(payload)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record
    except OSError:
        return


def read_logged_errors(detail_path: str) -> LoggedErrors:
    """The errors a LoadGen logged during the run (not those about the settings)."""
    errors = LoggedErrors()
    for record in _records(detail_path):
        metadata = record.get("metadata")
        if not (isinstance(metadata, dict) and metadata.get("is_error")):
            continue
        errors.count += 1
        message = _RESPONSE_ID.sub("", str(record.get("value", "")))
        if message not in errors.messages:
            errors.messages.append(message)
    return errors


def read_find_peak_outcome(detail_path: str) -> FindPeakOutcome:
    """The FindPeakPerformance steps and result recorded in a detail log."""
    outcome = FindPeakOutcome()
    for record in _records(detail_path):
        value = record.get("value")
        if not isinstance(value, str):
            continue
        if value.startswith(_PROBE_PREFIXES):
            outcome.probes.append(value)
        elif _LOWER_BOUND_FAILED in value:
            outcome.lower_bound_error = value
        elif match := _PEAK.search(value):
            outcome.peak_qps = float(match.group(1))
    return outcome
