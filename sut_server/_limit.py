"""The node-wide bound on received-but-unanswered work: the node's backpressure point.

Each stream's reader takes credit for a message before queueing it and gives it back once every
sample of that message has been answered (or its stream has ended). While the bound is reached the
reader stops reading, so gRPC flow control pushes back on the sender.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class LimitStatistics:
    samples: int
    bytes: int
    peak_samples: int
    peak_bytes: int


class InflightLimit:
    """Counts in-flight samples and bytes; ``acquire`` blocks while either bound is reached.

    One message is always admitted when nothing is in flight, however large, so a sample bigger
    than the byte bound still gets through (alone).
    """

    def __init__(self, max_samples: int, max_bytes: int) -> None:
        self.max_samples = max_samples
        self.max_bytes = max_bytes
        self._cond = threading.Condition(threading.Lock())
        self._samples = 0
        self._bytes = 0
        self._peak_samples = 0
        self._peak_bytes = 0
        self._waiters = 0
        self._closed = False

    def acquire(self, samples: int, nbytes: int, give_up: Callable[[], bool]) -> bool:
        """Take credit; False (nothing taken) if ``give_up()`` turns true or the limit closes."""
        with self._cond:
            while self._samples and (
                self._samples + samples > self.max_samples or self._bytes + nbytes > self.max_bytes
            ):
                if self._closed or give_up():
                    return False
                self._waiters += 1
                try:
                    self._cond.wait(1.0)
                finally:
                    self._waiters -= 1
            if self._closed:
                return False
            self._samples += samples
            self._bytes += nbytes
            if self._samples > self._peak_samples:
                self._peak_samples = self._samples
            if self._bytes > self._peak_bytes:
                self._peak_bytes = self._bytes
            return True

    def release(self, samples: int, nbytes: int) -> None:
        with self._cond:
            self._samples -= samples
            self._bytes -= nbytes
            if self._waiters:
                self._cond.notify_all()

    def wake(self) -> None:
        """Make blocked ``acquire`` calls re-check their ``give_up``."""
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def statistics(self) -> LimitStatistics:
        with self._cond:
            return LimitStatistics(self._samples, self._bytes, self._peak_samples, self._peak_bytes)
