"""The logs a compliance test compares, read through ``loadgen.logs`` (the one reader of the
LoadGen's logs), with its errors raised as ``VerifyError``; plus the checks on paths, dtypes
and hex data the compliance tests share.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .. import logs
from ..logs import DetailLog, LogError
from ._errors import VerifyError


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


@contextlib.contextmanager
def _as_verify_error() -> Iterator[None]:
    """A LogError from the shared reader, raised as this package's bad-input error."""
    try:
        yield
    except LogError as exc:
        raise VerifyError(str(exc)) from exc


def read_detail_log(path: Path) -> DetailLog:
    """``loadgen.logs.read_detail_log``; VerifyError on an unreadable or malformed log."""
    with _as_verify_error():
        return logs.read_detail_log(path)


def require(log: DetailLog, key: str) -> Any:
    """The first value logged under ``key``; VerifyError if the log has none."""
    with _as_verify_error():
        return log.require(key)


def read_accuracy_log(path: Path) -> list[dict[str, Any]]:
    """``loadgen.logs.read_accuracy_log``; VerifyError on an unreadable or malformed log."""
    with _as_verify_error():
        return logs.read_accuracy_log(path)


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


PERFORMANCE_MODES = ("PerformanceOnly",)
ACCURACY_MODES = ("AccuracyOnly", "SubmissionRun")


def require_mode(detail: Path, modes: tuple[str, ...], what: str) -> str:
    """The test mode the run of ``detail`` logged; VerifyError unless it is one of ``modes``.

    Catches the commonest mix-up of the accuracy-in-performance tests: pointing them at the
    accuracy run's logs (or the other way round), whose entries they would judge wrongly.
    """
    mode = require(read_detail_log(detail), "effective_test_mode")
    if mode not in modes:
        raise VerifyError(
            f"{detail} is the log of a {mode} run, but {what} must be a {' or '.join(modes)} run"
        )
    return str(mode)
