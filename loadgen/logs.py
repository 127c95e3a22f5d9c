"""The public reader of the LoadGen's log files, for the tools built on top of a run.

Compliance checks (``loadgen.compliance``), lon-run and lon-accuracy all read the logs through
this module, whichever LoadGen (ours or the official one) wrote them:

- ``read_detail_log``: ``mlperf_log_detail.txt`` the way the submission checker's strict parser
  reads it: the first line carries the ``:::MLLOG`` (or ``:::ENDPTS``) marker, every marked
  line is JSON, and the first occurrence of a key wins. Its records also say what the run
  logged as errors (``logged_errors``) and how a FindPeakPerformance search went
  (``find_peak``): both LoadGens log these there with the same wording, and the official one
  reports its runtime errors nowhere else.
- ``read_accuracy_log``: the JSON array of ``mlperf_log_accuracy.json``.
- ``read_validity``: the ``Result is`` line of ``mlperf_log_summary.txt``.
- ``mark_run_failed`` makes the logs of a run that did not finish say so (ours writes them that
  way itself; the official LoadGen cannot be told); ``append_warnings`` adds warnings to a
  finished run's detail log the same way.

Every problem is a ``LogError`` whose message names the file (and the line or entry).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._failed_run import append_warnings, mark_run_failed

MARKERS = (":::MLLOG", ":::ENDPTS")


class LogError(Exception):
    """A log file is missing, unreadable or malformed; the message names it."""


@dataclass
class LoggedErrors:
    """How many error lines a detail log holds, and the distinct messages (ids removed)."""

    count: int = 0
    messages: list[str] = field(default_factory=list)


@dataclass
class FindPeakOutcome:
    """peak_qps: the found QPS, or None; lower_bound_error: why the start failed, or None."""

    peak_qps: float | None = None
    lower_bound_error: str | None = None
    probes: list[str] = field(default_factory=list)


_PEAK = re.compile(r"Found peak performance field: ([0-9.eE+-]+)")
_RESPONSE_ID = re.compile(r" \(response id [0-9]+\)")
_LOWER_BOUND_FAILED = "Initial lower bound does not satisfy performance constraints"
_PROBE_PREFIXES = (
    "FindPeakPerformance: Check validity of the base settings field",
    "FindBoundaries: Checking fields",
    "FindPeakPerformanceBinarySearch: Testing the mid value",
)


@dataclass(frozen=True)
class DetailLog:
    """One ``mlperf_log_detail.txt``: the first value of each key, its error count, and every
    record in file order."""

    path: Path
    values: dict[str, Any]
    error_count: int
    records: tuple[dict[str, Any], ...] = field(default=(), repr=False)

    def get(self, key: str) -> Any:
        """The first value logged under ``key``, or None."""
        return self.values.get(key)

    def require(self, key: str) -> Any:
        """The first value logged under ``key``; LogError if the log has none."""
        if key not in self.values:
            raise LogError(f"{self.path}: no {key!r} entry; is this a complete run's log?")
        return self.values[key]

    def logged_errors(self) -> LoggedErrors:
        """The errors the LoadGen logged during the run (not those about the settings)."""
        errors = LoggedErrors()
        for record in self.records:
            metadata = record.get("metadata")
            if not (isinstance(metadata, dict) and metadata.get("is_error")):
                continue
            errors.count += 1
            message = _RESPONSE_ID.sub("", str(record.get("value", "")))
            if message not in errors.messages:
                errors.messages.append(message)
        return errors

    def find_peak(self) -> FindPeakOutcome:
        """The FindPeakPerformance steps and result the log records."""
        outcome = FindPeakOutcome()
        for record in self.records:
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


def read_detail_log(path: str | os.PathLike[str]) -> DetailLog:
    """Parse a detail log; LogError on an unreadable file or a malformed line."""
    path = Path(path)
    values: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    flagged_errors = 0
    marker = ""
    try:
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip()
                if number == 1:
                    marker = next((m for m in MARKERS if line.startswith(m)), "")
                    if not marker:
                        raise LogError(f"{path}:1: not a LoadGen detail log (no :::MLLOG)")
                if not line.startswith(marker):
                    continue
                try:
                    message = json.loads(line[len(marker) :])
                    key = message["key"]
                    is_error = bool(message.get("metadata", {}).get("is_error", False))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise LogError(f"{path}:{number}: malformed log line") from None
                values.setdefault(key, message.get("value"))
                records.append(message)
                flagged_errors += is_error
    except OSError as exc:
        raise LogError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise LogError(f"{path}: not UTF-8 text") from None
    if not marker:
        raise LogError(f"{path}: empty file, not a LoadGen detail log")
    errors = values.get("num_errors", flagged_errors)
    if not isinstance(errors, int) or isinstance(errors, bool):
        raise LogError(f"{path}: num_errors is {errors!r}, not a count")
    return DetailLog(path, values, errors, tuple(records))


def read_accuracy_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The entries of an accuracy log in file order: JSON objects, each with a whole-number
    ``qsl_idx`` >= 0 and a hex string ``data`` (TEST06 runs add ``token_data`` and
    ``token_count``). LogError names the file and the entry."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        raise LogError(f"accuracy log {name} does not exist") from None
    except IsADirectoryError:
        raise LogError(f"accuracy log {name} is a directory") from None
    except OSError as exc:
        raise LogError(f"accuracy log {name}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise LogError(f"accuracy log {name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise LogError(
            f"accuracy log {name}: not valid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg}); a run that was cut short may leave it unfinished"
        ) from None
    if not isinstance(doc, list):
        raise LogError(f"accuracy log {name}: expected a JSON list of entries")
    for position, item in enumerate(doc):
        where = f"accuracy log {name}: entry {position}"
        if not isinstance(item, dict):
            raise LogError(f"{where}: expected an object with qsl_idx and data")
        index, data = item.get("qsl_idx"), item.get("data")
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise LogError(f"{where}: qsl_idx must be a whole number >= 0, got {index!r}")
        if not isinstance(data, str):
            raise LogError(f"{where}: data must be a hex string, got {data!r}")
    return doc


_RESULT_LINE = re.compile(r"^Result is\s*:\s*(VALID|INVALID)\s*$", re.MULTILINE)


def read_validity(summary_path: str | os.PathLike[str]) -> str | None:
    """VALID/INVALID from a summary log, or None if it has no result line (or no file)."""
    try:
        with open(summary_path, encoding="utf-8", errors="replace") as f:
            match = _RESULT_LINE.search(f.read())
    except OSError:
        return None
    return match.group(1) if match else None


__all__ = [
    "MARKERS",
    "DetailLog",
    "FindPeakOutcome",
    "LogError",
    "LoggedErrors",
    "append_warnings",
    "mark_run_failed",
    "read_accuracy_log",
    "read_detail_log",
    "read_validity",
]
