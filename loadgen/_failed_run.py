"""How a run that did not finish says so: ``Result is : INVALID`` and why, in every log.

A run that was aborted (``AbortTest``, a SUT that stopped answering), interrupted (SIGINT) or
failed (the SUT raised) must never leave logs that read like a finished run, even though the
abort path completes the outstanding samples. The summary gets the usual header with an
INVALID result and a ``Run failed`` line; the detail log gets the error (as the official
LoadGen logs its runtime errors) and ``result_validity`` INVALID, which the submission checker
reads. ``mark_run_failed`` does the same to the logs another LoadGen wrote.
"""

from __future__ import annotations

import os
import re
import time

from ._detail_log import DetailLog
from ._summary import FAILED_PREFIX, failure_lines, one_line

_RESULT_LINE = re.compile(r"^Result is\s*:.*$", re.MULTILINE)


def log_failure(detail: DetailLog, reason: str, *, error_logged: bool = False) -> None:
    """The detail log's record of a failed run (``error_logged``: its error line is there)."""
    if not error_logged:
        detail.log("error_runtime", f"Run failed: {one_line(reason)}", error=True)
    detail.log("result_validity", "INVALID")


def mark_run_failed(summary_path: str, detail_path: str, reason: str) -> None:
    """Make the logs of a run another LoadGen wrote say that it failed, and why.

    A ``Result is`` line becomes INVALID followed by the reason; a summary without one (an
    accuracy run, or none written) gets the failure header in front.
    """
    try:
        with open(summary_path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        text = ""
    reason_line = FAILED_PREFIX + one_line(reason)
    if _RESULT_LINE.search(text):
        text = _RESULT_LINE.sub(lambda _: "Result is : INVALID\n" + reason_line, text, count=1)
    else:
        scenario = _label(text, "Scenario") or "unknown"
        mode = _label(text, "Mode") or "unknown"
        sut = _label(text, "SUT name") or "unknown"
        text = "\n".join(failure_lines(sut, scenario, mode, reason)) + "\n" + text
    with open(summary_path, "w", encoding="utf-8") as f:
        f.write(text)
    if os.path.isfile(detail_path):
        with open(detail_path, "a", encoding="utf-8") as stream:
            detail = DetailLog(stream, time.perf_counter_ns())
            log_failure(detail, reason)
            detail.close()


def _label(text: str, label: str) -> str | None:
    match = re.search(rf"^{re.escape(label)}\s*:\s*(.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


def append_warnings(detail_path: str, warnings: list[str]) -> None:
    """Add ``warning_generic_message`` entries to the detail log of a finished run (e.g. what
    the SUT survived: a node lost and its samples re-sent), whichever LoadGen wrote it."""
    if warnings and os.path.isfile(detail_path):
        with open(detail_path, "a", encoding="utf-8") as stream:
            detail = DetailLog(stream, time.perf_counter_ns())
            for text in warnings:
                detail.log("warning_generic_message", one_line(text), warning=True)
            detail.close()
