"""A shorter GIL switch interval while a QDL is open, so the LoadGen's issue thread is not kept
waiting behind the QDL's gRPC loop thread.

A thread that wakes up (the Server issue loop, from its sleep until the next query is due) and
finds the GIL held waits for the holder to drop it; a holder running Python is only asked to after
``sys.getswitchinterval()``, 5 ms by default: 25 times the whole issue-delay budget. The gRPC loop
thread runs callbacks back to back under load, so with the default an issue can wait that long.
At 100 us the wait is bounded near the budget, for a few more GIL hand-overs per second.
Measured with ``benchmarks/network.py`` and ``benchmarks/gil_contention.py``.

The interval is process-wide: it is set by the first QDL to open and restored by the last to
close, unless someone else changed it meanwhile.
"""

from __future__ import annotations

import sys
import threading

SWITCH_INTERVAL_S = 100e-6

_lock = threading.Lock()
_users = 0
_saved: float | None = None
_ours: float | None = None  # the interval as CPython keeps it (whole microseconds)


def shorten_switch_interval() -> None:
    """Use ``SWITCH_INTERVAL_S`` until the matching ``restore_switch_interval`` (nested calls
    count)."""
    global _users, _saved, _ours
    with _lock:
        if _users == 0:
            current = sys.getswitchinterval()
            if current > SWITCH_INTERVAL_S:
                _saved = current
                sys.setswitchinterval(SWITCH_INTERVAL_S)
                _ours = sys.getswitchinterval()
        _users += 1


def restore_switch_interval() -> None:
    """Undo one ``shorten_switch_interval``; the last one puts the interval back as it was."""
    global _users, _saved, _ours
    with _lock:
        if _users == 0:
            return
        _users -= 1
        if _users == 0 and _saved is not None:
            if sys.getswitchinterval() == _ours:
                sys.setswitchinterval(_saved)
            _saved = _ours = None
