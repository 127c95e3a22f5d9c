"""Detail-log entries made while no test is running, kept for the top of the next detail log.

Config errors happen in ``TestSettings.FromConfig``, before ``StartTest`` has opened any log.
The official LoadGen buffers such entries and writes them first in the next test's detail
log; this module is that buffer. It is process-global, like the official one.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class PendingEntry:
    """One detail-log entry waiting for a test: key, value, severity and when it was made."""

    key: str
    value: object
    is_error: bool
    is_warning: bool
    time_ns: int  # time.perf_counter_ns() when it was logged


_lock = threading.Lock()
_entries: list[PendingEntry] = []


def log_pending(key: str, value: object, *, error: bool = False, warning: bool = False) -> None:
    """Buffer one entry for the next test's detail log."""
    entry = PendingEntry(key, value, error, warning, time.perf_counter_ns())
    with _lock:
        _entries.append(entry)


def drain_pending() -> list[PendingEntry]:
    """Return every buffered entry, oldest first, and empty the buffer."""
    global _entries
    with _lock:
        taken, _entries = _entries, []
    return taken
