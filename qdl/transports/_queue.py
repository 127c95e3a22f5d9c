"""A bounded FIFO of outgoing messages, measured in bytes: the QDL's backpressure point.

``put`` blocks while the queue would grow past ``max_bytes`` (a single message larger than the
bound is still accepted into an empty queue, so it cannot wedge). ``close`` wakes everybody:
``get`` then drains what is left and returns None, ``put`` returns False.

A consumer that must not block (an event loop) uses ``take_nowait`` instead of ``get``: when
that finds the queue empty, the next ``put`` or ``close`` calls the waker given to
``set_waker`` once, so the consumer sleeps without polling and is woken only when it was idle.
``take_all_nowait`` is the same for a consumer that sends whatever is queued in one go.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable
from dataclasses import dataclass

from ._base import OutgoingMessage


@dataclass(frozen=True)
class QueueStatistics:
    messages: int
    bytes: int
    peak_bytes: int
    closed: bool


class SendQueue:
    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._items: collections.deque[OutgoingMessage] = collections.deque()
        self._bytes = 0
        self._peak = 0
        self._closed = False
        self._taken = 0  # messages ever taken: progress, for the stall timeout
        self._cond = threading.Condition()
        self._waker: Callable[[], None] | None = None
        self._idle = False  # take_nowait found nothing: the next put/close calls the waker

    def set_waker(self, waker: Callable[[], None] | None) -> None:
        """``waker()`` is called (outside the lock) when a message or close follows an empty
        ``take_nowait``; it must not block."""
        with self._cond:
            self._waker = waker

    def put(self, message: OutgoingMessage, stall_timeout: float) -> bool:
        """Append ``message``, waiting while the queue is full.

        Gives up (returns False) only when the consumer took nothing for ``stall_timeout``
        seconds, so a slow but moving link never fails; also False if the queue is closed.
        """
        size = len(message.data)
        with self._cond:
            while self._items and self._bytes + size > self._max and not self._closed:
                taken = self._taken
                room = self._cond.wait_for(
                    lambda: self._closed or not self._items or self._bytes + size <= self._max,
                    stall_timeout,
                )
                if not room and self._taken == taken:
                    return False
            if self._closed:
                return False
            self._items.append(message)
            self._bytes += size
            if self._bytes > self._peak:
                self._peak = self._bytes
            self._cond.notify_all()
            wake = self._waker if self._idle else None
            self._idle = False
        if wake is not None:
            wake()
        return True

    def get(self) -> OutgoingMessage | None:
        """The next message, blocking until there is one; None once closed and drained."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._closed)
            return self._pop() if self._items else None

    def take_nowait(self) -> OutgoingMessage | None:
        """The next message, or None at once if there is none (then the waker is armed)."""
        with self._cond:
            if not self._items:
                self._idle = True
                return None
            return self._pop()

    def take_all_nowait(self, max_bytes: int, max_samples: int) -> list[OutgoingMessage]:
        """Every message queued now, from the front, while their total stays within
        ``max_bytes`` and ``max_samples`` (the first is always taken); [] if there is none (then
        the waker is armed). Never waits for more to arrive."""
        with self._cond:
            items = self._items
            if not items:
                self._idle = True
                return []
            first = items.popleft()
            taken = [first]
            size = len(first.data)
            count = first.n_samples
            while items:
                nxt = items[0]
                size += len(nxt.data)
                count += nxt.n_samples
                if size > max_bytes or count > max_samples:
                    size -= len(nxt.data)
                    break
                taken.append(items.popleft())
            self._bytes -= size
            self._taken += len(taken)
            self._cond.notify_all()
            return taken

    def _pop(self) -> OutgoingMessage:
        """Take the first message off the books and wake blocked producers (lock held)."""
        message = self._items.popleft()
        self._bytes -= len(message.data)
        self._taken += 1
        self._cond.notify_all()
        return message

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            wake = self._waker if self._idle else None
            self._idle = False
        if wake is not None:
            wake()

    def clear(self) -> int:
        """Drop everything still queued; return how many messages were dropped."""
        with self._cond:
            n = len(self._items)
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()
            return n

    def statistics(self) -> QueueStatistics:
        with self._cond:
            return QueueStatistics(len(self._items), self._bytes, self._peak, self._closed)
