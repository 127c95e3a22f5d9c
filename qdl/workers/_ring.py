"""A one-writer, one-reader ring of variable-length records in memory shared by two processes.

Why a ring: moving messages between the LoadGen process and a dispatch worker through a pipe or
a socket costs two system calls and two copies per message; through the ring it costs one copy
into shared memory and, only when the reader sleeps, one byte on a pipe to wake it.

Layout: a 4 KiB header (the writer's ``head`` and the reader's ``tail`` byte counters, each
only ever increased by its one owner, on cache lines of their own, and two "sleeping" flags),
then ``capacity`` bytes of records. A record is a 24-byte header (length, kind, tag, count,
stamp) and its data, padded to 8 bytes; one that would cross the end of the buffer is put at its
start, after a WRAP marker (or nothing, when less than a header is left). The writer publishes
a record by advancing ``head`` after writing it; the reader frees it by advancing ``tail`` after
copying it out; both are aligned 8-byte stores, single instructions, and an x86-64 CPU makes
every process see stores in the order they were made, so a record's bytes are there before the
counter says so (``check_host`` refuses CPUs that reorder stores). Were a flag and a counter
seen out of order by the other side (a store may wait behind a later load), the cost is one late
wake-up: a sleeping side looks again every ``WAKE_CHECK_S`` whatever happens.

Sleeping: a reader that finds the ring empty sets its flag, looks once more, and only then
blocks on its wake pipe; a writer that publishes while the flag is set clears it and writes one
byte. The writer waits for room the same way on the reader's pipe. Nobody spins.

The memory is a ``memfd`` (no name in /dev/shm): it disappears with the last process that maps
it, however each one ends, so there is nothing to unlink.
"""

from __future__ import annotations

import mmap
import os
import platform
import select
import struct
import time
from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np

HEADER = struct.Struct("<IHHIIq")  # data length, kind, tag, count, spare, stamp
RECORD_HEADER_BYTES = HEADER.size  # 24
_CONTROL_BYTES = 4096
_HEAD, _TAIL, _READER_SLEEPS, _WRITER_SLEEPS = 0, 8, 16, 24  # int64 slots, 64 bytes apart
KIND_WRAP = 0xFFFF
WAKE_CHECK_S = 0.05
"""The longest a sleeping side waits before looking again without being woken."""


IN_ORDER_STORES = ("x86_64", "amd64", "i686", "i386")
"""The CPUs whose stores every other core sees in program order (the ring relies on it)."""


def check_host(machine: str | None = None) -> None:
    """Raise ValueError on a CPU that may show another process our stores out of order."""
    machine = (machine or platform.machine()).lower()
    if machine not in IN_ORDER_STORES:
        raise ValueError(
            f"dispatch workers need an x86-64 host (its stores reach other processes in order); "
            f"this one is {machine}"
        )


class RingClosed(Exception):
    """The other side is gone (its end of the wake pipe closed)."""


class RingFull(Exception):
    """No room for a record within the time allowed."""


class Record(NamedTuple):
    kind: int
    tag: int
    items: int  # what the record counts (a message: its samples)
    stamp: int
    data: bytes


def _align(n: int) -> int:
    return (n + 7) & ~7


class RingMemory:
    """The shared memory of one ring: a new ``memfd``, or one a parent passed (``fd``)."""

    def __init__(self, capacity: int, fd: int | None = None) -> None:
        if capacity % 8 or capacity < 4 * RECORD_HEADER_BYTES:
            raise ValueError(f"ring capacity must be a multiple of 8 and >= 96, got {capacity}")
        self.capacity = capacity
        if fd is None:
            fd = os.memfd_create("qdl-ring", os.MFD_CLOEXEC)
            os.ftruncate(fd, _CONTROL_BYTES + capacity)
        self.fd = fd  # to pass to the process at the other end; closed by whoever owns it
        self._map = mmap.mmap(fd, _CONTROL_BYTES + capacity)
        self.control = np.frombuffer(self._map, dtype=np.int64, count=_CONTROL_BYTES // 8)
        self.data = memoryview(self._map)[_CONTROL_BYTES:]

    def close(self) -> None:
        """Unmap the memory (no record may be read or written afterwards)."""
        self.data.release()
        del self.control
        try:
            self._map.close()
        except BufferError:  # a record view still held elsewhere: the map goes with it
            pass


def _wait_readable(fd: int, timeout: float) -> bool:
    """Wait for ``fd``; True when it has bytes (drained) or hit EOF (RingClosed)."""
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    if not os.read(fd, 4096):
        raise RingClosed("the other end of the ring is gone")
    return True


def _wake(fd: int) -> bool:
    """One byte on a wake pipe; False when its reading end is gone. A full pipe is a pipe
    whose reader has wake-ups waiting already."""
    try:
        os.write(fd, b"\0")
    except BlockingIOError:
        pass
    except BrokenPipeError:
        return False
    return True


class RingWriter:
    """The one writer of a ring."""

    def __init__(self, memory: RingMemory, wake_reader_fd: int, woken_fd: int) -> None:
        self._memory = memory
        self._control = memory.control
        self._data = memory.data
        self._capacity = memory.capacity
        self._wake_reader = wake_reader_fd
        self._woken = woken_fd  # the reader writes here when it frees room we waited for
        os.set_blocking(wake_reader_fd, False)
        self._head = int(self._control[_HEAD])

    def largest_record(self) -> int:
        """The largest data a record may carry (half the ring, so two always fit in turn)."""
        return self._capacity // 2 - RECORD_HEADER_BYTES

    def put(
        self,
        kind: int,
        tag: int,
        count: int,
        stamp: int,
        data: bytes | memoryview = b"",
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Append one record; wait (sleeping) up to ``timeout`` s for room, else RingFull."""
        n = len(data)
        if kind == KIND_WRAP:
            raise ValueError(f"record kind {KIND_WRAP:#x} is the ring's own wrap marker")
        if n > self.largest_record():
            raise ValueError(
                f"a {n}-byte record does not fit a {self._capacity}-byte ring "
                f"(at most {self.largest_record()} bytes)"
            )
        size = RECORD_HEADER_BYTES + _align(n)
        capacity = self._capacity
        head = self._head
        pos = head % capacity
        left = capacity - pos
        need = size if size <= left else left + size  # wrapping skips the rest of the buffer
        control = self._control
        if head + need - int(control[_TAIL]) > capacity:
            self._wait_for_room(head + need - capacity, timeout, clock)
        if size > left:
            if left >= RECORD_HEADER_BYTES:
                HEADER.pack_into(self._data, pos, 0, KIND_WRAP, 0, 0, 0, 0)
            head += left
            pos = 0
        HEADER.pack_into(self._data, pos, n, kind, tag, count, 0, stamp)
        if n:
            start = pos + RECORD_HEADER_BYTES
            self._data[start : start + n] = data
        head += size
        self._head = head
        control[_HEAD] = head  # publish
        if control[_READER_SLEEPS]:
            control[_READER_SLEEPS] = 0
            if not _wake(self._wake_reader):
                raise RingClosed("the ring's reader is gone")

    def _wait_for_room(self, tail_needed: int, timeout: float, clock: Callable[[], float]) -> None:
        control = self._control
        deadline = clock() + timeout
        while int(control[_TAIL]) < tail_needed:
            control[_WRITER_SLEEPS] = 1
            if int(control[_TAIL]) >= tail_needed:
                break
            remaining = deadline - clock()
            if remaining <= 0:
                raise RingFull(f"the ring's reader freed no room for {timeout:g} s")
            _wait_readable(self._woken, min(remaining, WAKE_CHECK_S))
        control[_WRITER_SLEEPS] = 0


class RingReader:
    """The one reader of a ring."""

    def __init__(self, memory: RingMemory, woken_fd: int, wake_writer_fd: int) -> None:
        self._control = memory.control
        self._data = memory.data
        self._capacity = memory.capacity
        self._woken = woken_fd
        self._wake_writer = wake_writer_fd
        os.set_blocking(wake_writer_fd, False)
        self._tail = int(self._control[_TAIL])

    def take(self, limit: int = 1024) -> list[Record]:
        """Copy out and free up to ``limit`` published records, without waiting."""
        control = self._control
        head = int(control[_HEAD])
        tail = self._tail
        data = self._data
        capacity = self._capacity
        unpack = HEADER.unpack_from
        records: list[Record] = []
        while tail < head and len(records) < limit:
            pos = tail % capacity
            if capacity - pos < RECORD_HEADER_BYTES:
                tail += capacity - pos
                continue
            n, kind, tag, count, _, stamp = unpack(data, pos)
            if kind == KIND_WRAP:
                tail += capacity - pos
                continue
            start = pos + RECORD_HEADER_BYTES
            records.append(Record(kind, tag, count, stamp, bytes(data[start : start + n])))
            tail += RECORD_HEADER_BYTES + _align(n)
        if tail != self._tail:
            self._tail = tail
            control[_TAIL] = tail  # free
            if control[_WRITER_SLEEPS]:
                control[_WRITER_SLEEPS] = 0
                _wake(self._wake_writer)  # a writer that is gone has nothing to wait for
        return records

    def batches(self) -> Iterator[list[Record]]:
        """Each batch of records as it is published, sleeping in between, until the writer is
        gone (RingClosed)."""
        while True:
            records = self.take()
            if records:
                yield records
            else:
                self.wait()

    def wait(self, timeout: float = WAKE_CHECK_S) -> None:
        """Sleep until the writer publishes (or ``timeout`` s pass); RingClosed when it is gone."""
        control = self._control
        control[_READER_SLEEPS] = 1
        if int(control[_HEAD]) != self._tail:
            control[_READER_SLEEPS] = 0
            return
        _wait_readable(self._woken, timeout)
        control[_READER_SLEEPS] = 0
