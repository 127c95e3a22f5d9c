"""The four log files of a test, named as the official LoadGen names them (spec §1.3).

``<outdir>/<prefix>[<datetime>_]{summary,detail,accuracy,trace}<suffix>.{txt,json}``. Where
the official LoadGen prints a note and silently runs nothing when a file cannot be created,
this raises LogOutputError naming the directory or file and the reason.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TextIO

from ._settings import LogOutputSettings

KINDS = (("summary", ".txt"), ("detail", ".txt"), ("accuracy", ".json"), ("trace", ".json"))


class LogOutputError(OSError):
    """The log files cannot be created (missing or unwritable directory, bad name, ...)."""


def current_test_datetime() -> str:
    """The official ``%FT%TZ`` stamp: *local* time followed by a literal Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.localtime())


def log_file_paths(log_output: LogOutputSettings, test_datetime: str) -> dict[str, str]:
    """Path of each log file ("summary", "detail", "accuracy", "trace")."""
    prefix = str(log_output.prefix)
    if log_output.prefix_with_datetime:
        prefix += test_datetime + "_"
    outdir = os.fspath(log_output.outdir)
    suffix = str(log_output.suffix)
    return {kind: os.path.join(outdir, f"{prefix}{kind}{suffix}{ext}") for kind, ext in KINDS}


@dataclass
class LogFiles:
    """The four open log files (text, UTF-8) and their paths; ``close()`` closes them all."""

    summary: TextIO
    detail: TextIO
    accuracy: TextIO
    trace: TextIO
    summary_path: str
    detail_path: str
    accuracy_path: str
    trace_path: str
    test_datetime: str  # the stamp used in the names, and the detail log's test_datetime

    def close(self) -> None:
        for f in (self.summary, self.detail, self.accuracy, self.trace):
            f.close()


def open_log_files(log_output: LogOutputSettings, test_datetime: str | None = None) -> LogFiles:
    """Create (truncate) the four files; raise LogOutputError if any cannot be created."""
    stamp = test_datetime if test_datetime is not None else current_test_datetime()
    outdir = os.fspath(log_output.outdir)
    if not os.path.exists(outdir):
        raise LogOutputError(f"log output directory {outdir!r} does not exist")
    if not os.path.isdir(outdir):
        raise LogOutputError(f"log output directory {outdir!r} is not a directory")
    if not os.access(outdir, os.W_OK | os.X_OK):
        raise LogOutputError(f"log output directory {outdir!r} is not writable")
    paths = log_file_paths(log_output, stamp)
    opened: dict[str, TextIO] = {}
    try:
        for kind, path in paths.items():
            try:
                opened[kind] = open(path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise LogOutputError(f"cannot create log file {path!r}: {reason}") from exc
    except BaseException:
        for f in opened.values():
            f.close()
        raise
    return LogFiles(
        summary=opened["summary"],
        detail=opened["detail"],
        accuracy=opened["accuracy"],
        trace=opened["trace"],
        summary_path=paths["summary"],
        detail_path=paths["detail"],
        accuracy_path=paths["accuracy"],
        trace_path=paths["trace"],
        test_datetime=stamp,
    )
