"""Precise sleeps for the Server issue loop: the calling thread's timer slack, briefly set to 1 ns.

Linux lets a sleeping thread wake up to its "timer slack" (50 us by default) late, so a loop
that must issue on time has to wake early and poll the clock for the rest, burning a core at
high rates. With the slack at 1 ns a ``time.sleep`` lands within a few tens of microseconds of
its target and the polling window shrinks to match. Elsewhere (or if ``prctl`` is refused)
nothing changes and the caller keeps its wider margin.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30


def _prctl() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def fine_timer_slack() -> Iterator[bool]:
    """Within the block this thread's sleeps are precise; yields whether that took effect."""
    prctl = _prctl()
    previous = prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0) if prctl is not None else -1
    if prctl is None or previous < 0 or prctl(_PR_SET_TIMERSLACK, 1, 0, 0, 0) != 0:
        yield False
        return
    try:
        yield True
    finally:
        prctl(_PR_SET_TIMERSLACK, previous, 0, 0, 0)
