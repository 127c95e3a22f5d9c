"""The queue between stream readers and backend workers, and the node-side dynamic batching.

Readers ``put`` one ``Work`` (the samples of one received message); workers ``take`` their next
backend batch as a list of ``(work, samples)`` slices. Two policies:

- ``MessageQueue`` (max_batch 0): each unit of a message (the samples the QDL queued together,
  see ``Sample.unit_samples`` in the contract; a whole message when unmarked) is one backend
  batch, so samples the QDL's framing merged into one message still run as they were issued;
  a plain SimpleQueue, so the common path costs one hand-off.
- ``Batcher`` (max_batch N): samples of all streams are regrouped. One worker at a time forms a
  batch: it takes up to N samples, splitting messages if needed, and starts the batch once it is
  full or once its OLDEST sample has waited ``timeout_us`` since it was received.

Neither bounds its length itself: the ``InflightLimit`` in front of them does.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Protocol

from protos.v1.columns import SampleRows

from ._work import Samples, Work, units

Slice = tuple[Work, Samples]
"""(work, the samples of it in this batch)."""


class WorkQueue(Protocol):
    def put(self, work: Work) -> None: ...
    def take(self) -> list[Slice] | None: ...
    def close(self, workers: int) -> None: ...
    def depth(self) -> int: ...
    def flush(self) -> None: ...


class MessageQueue:
    """No node-side batching: a backend batch is exactly one received message."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[Slice | None] = queue.SimpleQueue()

    def put(self, work: Work) -> None:
        samples = work.samples
        if isinstance(samples, SampleRows):  # a columnar block is one unit
            self._queue.put((work, samples))
            return
        if len(samples) <= samples[0].unit_samples or not samples[0].unit_samples:
            self._queue.put((work, samples))  # one unit: the common case
            return
        for unit in units(samples):
            self._queue.put((work, unit))

    def take(self) -> list[Slice] | None:
        item = self._queue.get()
        if item is None:
            return None
        return [item]

    def close(self, workers: int) -> None:
        for _ in range(workers):
            self._queue.put(None)

    def depth(self) -> int:
        """Units waiting for a worker."""
        return self._queue.qsize()

    def flush(self) -> None:
        """Nothing waits for more work here: every message starts as soon as a worker is free."""


class Batcher:
    """Dynamic batching across streams: batches of up to ``max_batch`` samples."""

    def __init__(self, max_batch: int, timeout_us: int) -> None:
        self.max_batch = max_batch
        self.timeout_ns = timeout_us * 1000
        self._cond = threading.Condition(threading.Lock())
        self._forming = threading.Lock()  # one worker forms a batch at a time
        self._works: collections.deque[Work] = collections.deque()
        self._offset = 0  # samples of self._works[0] already taken
        self._queued = 0
        self._closed = False
        self._flushing = False  # Flush: start what is queued now, without waiting to fill up
        self._partial = False  # a worker holds a batch that is waiting to fill up

    def put(self, work: Work) -> None:
        with self._cond:
            self._works.append(work)
            self._queued += len(work.samples)
            self._cond.notify()

    def take(self) -> list[Slice] | None:
        with self._forming, self._cond:
            while not self._works:
                if self._closed:
                    return None
                self._cond.wait()
            deadline_ns = self._works[0].received_ns + self.timeout_ns
            batch: list[Slice] = []
            count = 0
            while True:
                count += self._take_into(batch, self.max_batch - count)
                if count >= self.max_batch or self._closed or self._flushing:
                    break
                remaining_ns = deadline_ns - time.monotonic_ns()
                if remaining_ns <= 0:
                    break
                self._partial = True
                self._cond.wait(remaining_ns / 1e9)
                self._partial = False
            self._queued -= count
            if not self._works:
                self._flushing = False  # everything queued at the Flush has been taken
            return batch

    def _take_into(self, batch: list[Slice], room: int) -> int:
        taken = 0
        works = self._works
        while works and taken < room:
            work = works[0]
            start = self._offset
            end = min(len(work.samples), start + room - taken)
            batch.append((work, work.samples[start:end]))
            taken += end - start
            if end == len(work.samples):
                works.popleft()
                self._offset = 0
            else:
                self._offset = end
        return taken

    def close(self, workers: int) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def flush(self) -> None:
        """The client expects no more work soon: batches start with what is queued, not full."""
        with self._cond:
            if self._works or self._partial:
                self._flushing = True
                self._cond.notify_all()

    def depth(self) -> int:
        """Samples waiting to be put in a batch."""
        with self._cond:
            return self._queued
