"""The time a LoadGen run lives in: the real monotonic clock, or a virtual one for tests.

``run_test(..., clock=...)`` takes any object with this shape (``Clock``). Every timestamp of a
run (issue, completion, detail and trace log lines, results) is read from it, and every wait of
a run (the Server schedule, the wait for completions, the stall timeout and the max_duration
grace period) goes through it, so the same code runs on real time and on virtual time.

``VirtualClock`` is for tests of timing logic: its time moves only when the run waits or a test
advances it, so a SUT that answers "3 ms later" (``clock.call_later(3_000_000, ...)``) completes
exactly 3 ms later in clock time, however busy the machine is. The model: the thread that runs
the test is the only one that waits on the clock; work that takes time is a callback scheduled
on the clock. When that thread waits, the clock jumps straight to the earliest due callback (or
to the end of the wait, if no callback is due before it) -- "autojump", as trio's MockClock does
when every task is blocked.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from ._timer_slack import fine_timer_slack

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """What a run needs from time. All times are integer nanoseconds on the clock's own scale."""

    def now_ns(self) -> int:
        """The current time (monotonic)."""
        ...

    def wall_ns(self) -> int:
        """The current system (epoch) time, for the log stamps that state calendar time."""
        ...

    def sleep_until(self, t_ns: int) -> int:
        """Return once ``now_ns() >= t_ns``, with the time it returned at."""
        ...

    def wait(self, event: threading.Event, deadline_ns: int) -> bool:
        """Wait until ``event`` is set or the clock reaches ``deadline_ns``; return is_set()."""
        ...

    def precise(self) -> contextlib.AbstractContextManager[object]:
        """Within the block ``sleep_until`` is as close to its target as this clock can make it."""
        ...


# Below SPIN to go, sleep_until stops sleeping and polls the clock; time.sleep overshoots by
# tens of microseconds, so it wakes MARGIN early and polls the rest. With a fine timer slack
# (see _timer_slack) sleeps are closer to exact and the window is narrower.
_SPIN_NS, _SLEEP_MARGIN_NS = 150_000, 120_000
_FINE_SPIN_NS, _FINE_SLEEP_MARGIN_NS = 40_000, 30_000


class RealClock:
    """``time.perf_counter_ns``, as the official LoadGen's PerfClock; the default clock.

    ``now_ns`` *is* ``time.perf_counter_ns`` (no wrapper), so reading this clock costs what
    reading the bare timer does.
    """

    now_ns = staticmethod(time.perf_counter_ns)
    wall_ns = staticmethod(time.time_ns)

    def __init__(self) -> None:
        self._spin_ns = _SPIN_NS
        self._margin_ns = _SLEEP_MARGIN_NS

    def sleep_until(self, t_ns: int) -> int:
        """Sleep while far away and poll the clock close to the target.

        Polling releases the GIL in between (``sleep(0)``), so SUT threads still get to run.
        """
        now_ns = time.perf_counter_ns
        sleep = time.sleep
        spin_ns, margin_ns = self._spin_ns, self._margin_ns
        now = now_ns()
        while now < t_ns:
            remaining = t_ns - now
            if remaining > spin_ns:
                sleep((remaining - margin_ns) / 1e9)
            else:
                sleep(0)
            now = now_ns()
        return now

    def wait(self, event: threading.Event, deadline_ns: int) -> bool:
        remaining = deadline_ns - time.perf_counter_ns()
        return event.wait(remaining / 1e9 if remaining > 0 else 0)

    @contextlib.contextmanager
    def precise(self) -> Iterator[bool]:
        """This thread's timer slack at 1 ns (where allowed), and the polling window to match."""
        with fine_timer_slack() as fine:
            if not fine:
                yield False
                return
            saved = self._spin_ns, self._margin_ns
            self._spin_ns, self._margin_ns = _FINE_SPIN_NS, _FINE_SLEEP_MARGIN_NS
            try:
                yield True
            finally:
                self._spin_ns, self._margin_ns = saved


_DEFAULT_EPOCH_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z: a fixed, readable wall time


class VirtualClock:
    """A clock whose time moves only when the run waits on it or a test advances it.

    ``call_at`` / ``call_later`` schedule work that "takes time" (a SUT answering after 3 ms);
    the callbacks run on the waiting thread, in time order (ties in the order scheduled), with
    ``now_ns()`` equal to their due time. ``wall_ns`` is a fixed epoch plus the clock's time, so
    the calendar stamps of a virtual run are reproducible too.
    """

    def __init__(self, start_ns: int = 0, epoch_ns: int = _DEFAULT_EPOCH_NS) -> None:
        self._now = start_ns
        self._epoch_offset = epoch_ns - start_ns
        self._timers: list[tuple[int, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()

    def now_ns(self) -> int:
        return self._now

    def wall_ns(self) -> int:
        return self._epoch_offset + self._now

    def call_at(self, t_ns: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` when the clock reaches ``t_ns`` (at once on the next wait if past)."""
        with self._lock:
            heapq.heappush(self._timers, (max(t_ns, self._now), next(self._order), fn, args))

    def call_later(self, delay_ns: int, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` ``delay_ns`` from now."""
        self.call_at(self._now + delay_ns, fn, *args)

    def pending(self) -> int:
        """How many scheduled callbacks have not run yet."""
        return len(self._timers)

    def advance(self, delta_ns: int) -> None:
        """Move time forward by ``delta_ns``, running every callback due on the way."""
        if delta_ns < 0:
            raise ValueError(f"a clock cannot go back: advance({delta_ns})")
        self.sleep_until(self._now + delta_ns)

    def sleep_until(self, t_ns: int) -> int:
        while self._run_next(t_ns):
            pass
        if t_ns > self._now:
            self._now = t_ns
        return self._now

    def wait(self, event: threading.Event, deadline_ns: int) -> bool:
        while not event.is_set():
            if not self._run_next(deadline_ns):
                if deadline_ns > self._now:
                    self._now = deadline_ns
                break
        return event.is_set()

    @contextlib.contextmanager
    def precise(self) -> Iterator[bool]:
        yield True  # virtual sleeps are exact

    def _run_next(self, until_ns: int) -> bool:
        """Run the earliest callback due at or before ``until_ns``; False when there is none."""
        with self._lock:
            if not self._timers or self._timers[0][0] > until_ns:
                return False
            t, _, fn, args = heapq.heappop(self._timers)
            if t > self._now:
                self._now = t
        fn(*args)
        return True
