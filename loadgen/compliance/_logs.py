"""Reading the LoadGen logs a compliance test compares, with errors that name the file.

The detail log is read the way the submission checker's strict parser reads it: the first line
must carry the ``:::MLLOG`` (or ``:::ENDPTS``) marker, every marked line must be JSON, and the
first occurrence of a key wins. The accuracy log is the JSON array LoadGen writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import VerifyError

MARKERS = (":::MLLOG", ":::ENDPTS")


def require_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path; VerifyError if it is not an existing directory."""
    p = Path(path)
    if not p.is_dir():
        problem = "is not a directory" if p.exists() else "does not exist"
        raise VerifyError(f"{what} {p} {problem}")
    return p


def require_file(path: Path, what: str) -> Path:
    """``path``; VerifyError naming it (and what it should be) if it is not a file."""
    if not path.is_file():
        raise VerifyError(f"missing {what}: {path}")
    return path


@dataclass(frozen=True)
class DetailLog:
    """The keys of one ``mlperf_log_detail.txt`` (first value of each) and its error count."""

    path: Path
    values: dict[str, Any]
    error_count: int

    def get(self, key: str) -> Any:
        """The first value logged under ``key``, or None."""
        return self.values.get(key)

    def require(self, key: str) -> Any:
        """The first value logged under ``key``; VerifyError if the log has none."""
        if key not in self.values:
            raise VerifyError(f"{self.path}: no {key!r} entry; is this a complete run's log?")
        return self.values[key]


def read_detail_log(path: Path) -> DetailLog:
    """Parse a detail log; VerifyError on an unreadable file or a malformed line."""
    values: dict[str, Any] = {}
    flagged_errors = 0
    marker = ""
    try:
        with open(path, encoding="utf-8") as f:
            for number, raw in enumerate(f, start=1):
                line = raw.rstrip()
                if number == 1:
                    marker = next((m for m in MARKERS if line.startswith(m)), "")
                    if not marker:
                        raise VerifyError(f"{path}:1: not a LoadGen detail log (no :::MLLOG)")
                if not line.startswith(marker):
                    continue
                try:
                    message = json.loads(line[len(marker) :])
                    key = message["key"]
                    is_error = bool(message.get("metadata", {}).get("is_error", False))
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise VerifyError(f"{path}:{number}: malformed log line") from None
                values.setdefault(key, message.get("value"))
                flagged_errors += is_error
    except OSError as exc:
        raise VerifyError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{path}: not UTF-8 text") from None
    if not marker:
        raise VerifyError(f"{path}: empty file, not a LoadGen detail log")
    errors = values.get("num_errors", flagged_errors)
    if not isinstance(errors, int) or isinstance(errors, bool):
        raise VerifyError(f"{path}: num_errors is {errors!r}, not a count")
    return DetailLog(path, values, errors)


def read_accuracy_log(path: Path) -> list[dict[str, Any]]:
    """The entries of an accuracy log; each has an integer ``qsl_idx`` and a string ``data``."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as exc:
        raise VerifyError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise VerifyError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    if not isinstance(entries, list):
        raise VerifyError(f"{path}: not a LoadGen accuracy log (expected a JSON array)")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise VerifyError(f"{path}: entry {i} is not a JSON object")
        qsl_idx = e.get("qsl_idx")
        if not isinstance(qsl_idx, int) or isinstance(qsl_idx, bool):
            raise VerifyError(f"{path}: entry {i} has no integer qsl_idx")
        if not isinstance(e.get("data"), str):
            raise VerifyError(f"{path}: entry {i} (qsl_idx {qsl_idx}) has no data string")
    return entries


def entry_name(path: Path, index: int, entry: dict[str, Any]) -> str:
    """How an error message names one accuracy-log entry."""
    return f"{path} entry {index} (qsl_idx {entry.get('qsl_idx')})"


def decode(hex_text: str, dtype: str, dtypes: dict[str, type], where: str) -> np.ndarray:
    """Hex response bytes as an array of ``dtype`` (a key of ``dtypes``)."""
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raise VerifyError(f"{where}: data is not a hex string") from None
    item = np.dtype(dtypes[dtype]).itemsize
    if len(raw) % item:
        raise VerifyError(
            f"{where}: {len(raw)} bytes is not a whole number of {dtype} values; wrong --dtype?"
        )
    return np.frombuffer(raw, dtype=dtypes[dtype])


def check_dtype(dtype: str, dtypes: dict[str, type], test: str) -> None:
    """VerifyError unless ``dtype`` is one the test accepts."""
    if dtype not in dtypes:
        raise VerifyError(
            f"--dtype {dtype!r} is not valid for {test}; choose one of {', '.join(dtypes)}"
        )
