"""The shared-memory ring: order, exactly-once delivery, wraparound, waking, timeouts, closing."""

from __future__ import annotations

import collections
import inspect
import os
import random
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from qdl.workers import _ring
from qdl.workers._ring import (
    HEADER,
    KIND_WRAP,
    RECORD_HEADER_BYTES,
    Record,
    RingClosed,
    RingFull,
    RingMemory,
    RingReader,
    RingWriter,
    check_host,
)

Fields = tuple[int, int, int, int, bytes]  # kind, tag, count, stamp, data


class Ring:
    """One ring in this process: its memory, both wake pipes, a writer and a reader."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.memory = RingMemory(capacity)
        self.wake_r, self.wake_w = os.pipe()  # the writer wakes the sleeping reader
        self.room_r, self.room_w = os.pipe()  # the reader wakes the writer waiting for room
        self._open = {self.memory.fd, self.wake_r, self.wake_w, self.room_r, self.room_w}
        self.writer = RingWriter(self.memory, self.wake_w, self.room_r)
        self.reader = RingReader(self.memory, self.wake_r, self.room_w)

    @property
    def head(self) -> int:
        return int(self.memory.control[_ring._HEAD])

    @property
    def tail(self) -> int:
        return int(self.memory.control[_ring._TAIL])

    def flag(self, slot: int) -> int:
        return int(self.memory.control[slot])

    def close_fd(self, fd: int) -> None:
        """Close one of this ring's descriptors once (a number closed twice may be reused)."""
        if fd in self._open:
            self._open.remove(fd)
            os.close(fd)

    def close(self) -> None:
        for fd in sorted(self._open):
            self.close_fd(fd)


@pytest.fixture
def make_ring() -> Iterator[Callable[[int], Ring]]:
    rings: list[Ring] = []

    def make(capacity: int) -> Ring:
        ring = Ring(capacity)
        rings.append(ring)
        return ring

    yield make
    for ring in rings:
        ring.close()


def _align(n: int) -> int:
    return (n + 7) // 8 * 8


def _need(capacity: int, head: int, n: int) -> tuple[int, int]:
    """Where a record of ``n`` data bytes goes after ``head``: (start counter, bytes skipped)."""
    size = RECORD_HEADER_BYTES + _align(n)
    left = capacity - head % capacity
    skipped = left if size > left else 0
    return head + skipped, skipped


def _random_fields(rng: random.Random, largest: int) -> Fields:
    n = rng.choice((0, largest, rng.randrange(largest + 1), rng.randrange(min(64, largest) + 1)))
    return (
        rng.randrange(KIND_WRAP),  # any kind but the wrap marker's
        rng.randrange(0x10000),
        rng.randrange(2**32),
        rng.randrange(-(2**63), 2**63),
        rng.randbytes(n),
    )


def _wait_until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """A bounded wait for a state another thread reaches; fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout:g} s: {what}")
        time.sleep(0.001)


class _Thread(threading.Thread):
    """Runs ``target`` and keeps its result or exception for the test's thread."""

    def __init__(self, target: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._target_fn()
        except BaseException as exc:
            self.error = exc

    def outcome(self, timeout: float = 30.0) -> Any:
        self.join(timeout)
        assert not self.is_alive(), f"the thread did not finish within {timeout:g} s"
        if self.error is not None:
            raise self.error
        return self.result


# --- order, exactly once, wraparound ---------------------------------------------------------


@pytest.mark.parametrize("capacity", [96, 104, 256, 512, 520, 4096])
def test_every_record_comes_out_once_in_order_across_wraps(
    make_ring: Callable[[int], Ring], capacity: int
) -> None:
    ring = make_ring(capacity)
    writer, reader = ring.writer, ring.reader
    largest = writer.largest_record()
    rng = random.Random(capacity)
    total = 4000
    made = 0
    pending: Fields | None = None
    unread: collections.deque[tuple[Fields, int]] = collections.deque()  # and its end counter
    read = 0
    skips: collections.Counter[int] = collections.Counter()  # bytes left at the end on a wrap
    full = 0
    while read < total:
        while made < total or pending is not None:  # write until the ring is full
            if pending is None:
                pending = _random_fields(rng, largest)
                made += 1
            head, tail = ring.head, ring.tail
            start, skipped = _need(capacity, head, len(pending[4]))
            end = start + RECORD_HEADER_BYTES + _align(len(pending[4]))
            try:
                writer.put(*pending, timeout=0)
            except RingFull:
                full += 1
                assert end - tail > capacity, f"RingFull with room: head {head}, tail {tail}"
                assert (ring.head, ring.tail) == (head, tail)
                break
            assert end - tail <= capacity, f"the record at {start} overwrote unread data"
            assert ring.head == end, "the record is not where the layout puts it"
            if skipped:
                skips[skipped] += 1
            unread.append((pending, end))
            pending = None
        assert unread, "the writer found no room in an empty ring"
        records = reader.take(rng.choice((1, 2, 3, len(unread), 1024)))
        assert records, "the reader took nothing from a ring with unread records"
        for record in records:
            fields, end = unread.popleft()
            assert record == Record(*fields), f"record {read} changed"
            read += 1
        assert ring.tail == end, "the reader freed more or less than it read"
    assert reader.take() == []
    assert ring.head == ring.tail
    assert full > total // 20, "the ring was hardly ever full"
    # the end of the buffer was reached with less than a header, exactly a header and more left
    assert {8, 16, 24, 32} <= set(skips), skips


def _advance_to(ring: Ring, pos: int) -> None:
    """Move a new, empty ring's head and tail to ``pos`` (0 or >= a header) by writing filler."""
    assert ring.head == 0 and (pos == 0 or pos >= RECORD_HEADER_BYTES)
    biggest = RECORD_HEADER_BYTES + ring.writer.largest_record() // 8 * 8
    while ring.head < pos:
        size = min(pos - ring.head, biggest)
        if 0 < pos - ring.head - size < RECORD_HEADER_BYTES:
            size -= RECORD_HEADER_BYTES
        ring.writer.put(1, 0, 0, 0, bytes(size - RECORD_HEADER_BYTES), timeout=0)
        assert len(ring.reader.take()) == 1
    assert ring.head == ring.tail == pos


@pytest.mark.parametrize("capacity", [128, 256])
@pytest.mark.parametrize("left", [8, 16, 24, 32, 40])
@pytest.mark.parametrize("n", [0, 1, 8, 9, 16, 17])
def test_a_record_at_the_end_of_the_buffer(
    make_ring: Callable[[int], Ring], capacity: int, left: int, n: int
) -> None:
    ring = make_ring(capacity)
    # stale bytes that read as records wherever a wrap marker should have been written
    stale = HEADER.pack(0, 7, 7, 7, 0, 7)
    ring.memory.data[:capacity] = (stale * (capacity // len(stale) + 1))[:capacity]
    _advance_to(ring, capacity - left)
    first = (2, 3, 4, -5, bytes(range(1, n + 1)))
    second = (6, 7, 8, 9, b"after")
    ring.writer.put(*first, timeout=0)
    size = RECORD_HEADER_BYTES + _align(n)
    wraps = size > left
    assert ring.head == capacity - left + (left if wraps else 0) + size
    ring.writer.put(*second, timeout=0)
    assert ring.reader.take() == [Record(*first), Record(*second)]
    assert ring.tail == ring.head
    # and the same with the reader taking them one at a time
    ring.writer.put(*first, timeout=0)
    ring.writer.put(*second, timeout=0)
    assert ring.reader.take(1) == [Record(*first)]
    assert ring.reader.take(1) == [Record(*second)]
    assert ring.reader.take() == []


# --- two processes ---------------------------------------------------------------------------


def _stream(seed: int, total: int, largest: int) -> Iterator[tuple[int, int, int, int, bytes]]:
    """Records (kind, tag, crc32 of the data, sequence number, data), the same in any process."""
    rng = random.Random(seed)
    for i in range(total):
        n = rng.choice((0, rng.randrange(65), rng.randrange(largest + 1), largest))
        data = rng.randbytes(n)
        yield i % 0xFFFF, rng.randrange(0x10000), zlib.crc32(data), i, data


_WRITER_PROCESS = """\
from __future__ import annotations
import random
import sys
import zlib
from collections.abc import Iterator
sys.path.insert(0, {ring_dir!r})
import _ring  # only this file (and numpy), not the whole qdl package

{stream}

capacity, memfd, wake_w, room_r, seed, total = (int(v) for v in sys.argv[1:])
writer = _ring.RingWriter(_ring.RingMemory(capacity, memfd), wake_w, room_r)
for record in _stream(seed, total, writer.largest_record()):
    writer.put(*record, timeout=60.0)
"""


def test_records_cross_two_processes(make_ring: Callable[[int], Ring]) -> None:
    capacity, seed, total = 4096, 12345, 20_000
    ring = make_ring(capacity)
    script = _WRITER_PROCESS.format(
        ring_dir=str(Path(_ring.__file__).parent), stream=inspect.getsource(_stream)
    )
    args = [capacity, ring.memory.fd, ring.wake_w, ring.room_r, seed, total]
    process = subprocess.Popen(
        [sys.executable, "-c", script, *map(str, args)],
        pass_fds=(ring.memory.fd, ring.wake_w, ring.room_r),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ring.close_fd(ring.wake_w)  # the child's now: its exit closes the last copy
        ring.close_fd(ring.room_r)
        reader = ring.reader
        expected = _stream(seed, total, ring.writer.largest_record())
        received = 0
        deadline = time.monotonic() + 60.0
        while received < total:
            records = reader.take()
            if not records:
                assert time.monotonic() < deadline, f"{received} of {total} records in 60 s"
                try:
                    reader.wait(1.0)
                except RingClosed:
                    _, err = process.communicate(timeout=30)
                    pytest.fail(f"the writer ended after {received} records: {err.decode()}")
                continue
            for record in records:
                kind, tag, count, stamp, data = next(expected)
                assert record.stamp == stamp == received, "out of order, lost or repeated"
                assert zlib.crc32(record.data) == record.items == count, f"record {stamp}"
                assert record == Record(kind, tag, count, stamp, data), f"record {stamp}"
                received += 1
        _, err = process.communicate(timeout=60)
        assert process.returncode == 0, err.decode()
        assert reader.take() == []
        # the writer's process is gone, so is the last copy of its end of the wake pipe
        with pytest.raises(RingClosed):
            for _ in range(100):  # the first calls may find wake-ups left in the pipe
                reader.wait(10.0)
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


# --- record size, ring size ------------------------------------------------------------------


@pytest.mark.parametrize("capacity", [96, 104, 256, 4096])
def test_the_largest_record_fits_and_one_byte_more_does_not(
    make_ring: Callable[[int], Ring], capacity: int
) -> None:
    ring = make_ring(capacity)
    largest = ring.writer.largest_record()
    assert largest == capacity // 2 - RECORD_HEADER_BYTES
    with pytest.raises(ValueError):
        ring.writer.put(1, 0, 0, 0, bytes(largest + 1), timeout=0)
    assert ring.head == 0
    size = RECORD_HEADER_BYTES + _align(largest)
    # wherever the head is, even just short of a whole record at the end of the buffer
    for pos in sorted({0, capacity - size + 8, capacity - size, capacity - 24, capacity - 8}):
        ring = make_ring(capacity)
        if pos >= RECORD_HEADER_BYTES:
            _advance_to(ring, pos)
        data = bytes(i % 251 for i in range(largest))
        for stamp in range(3):  # in an empty ring, one after the other
            ring.writer.put(5, 6, 7, stamp, data[::-1] if stamp % 2 else data, timeout=0)
            assert ring.reader.take() == [Record(5, 6, 7, stamp, data[::-1] if stamp % 2 else data)]


@pytest.mark.parametrize("capacity", [0, 8, 88, 95, 97, 100, 252, 4100, -8])
def test_a_bad_capacity_is_refused(capacity: int) -> None:
    with pytest.raises(ValueError):
        RingMemory(capacity)


# --- full ring, timeouts ---------------------------------------------------------------------


def _fill(ring: Ring) -> list[Record]:
    """Fill a new 256-byte ring exactly (four 64-byte records), without touching a wait."""
    assert ring.capacity == 256 and ring.head == 0
    records = [Record(1, i, i, i, bytes([i]) * 40) for i in range(4)]
    for record in records:
        ring.writer.put(*record, timeout=0)
    assert ring.head - ring.tail == ring.capacity
    return records


def test_a_full_ring_without_a_reader_raises_ringfull_after_the_timeout(
    make_ring: Callable[[int], Ring],
) -> None:
    ring = make_ring(256)
    filled = _fill(ring)
    times: list[float] = []

    def clock() -> float:  # 4 s pass between two looks
        times.append(4.0 * len(times))
        return times[-1]

    with pytest.raises(RingFull):
        ring.writer.put(9, 9, 9, 9, b"no room", timeout=10.0, clock=clock)
    assert times[-1] - times[0] >= 10.0, f"gave up early, after {times[-1] - times[0]} s"
    assert len(times) <= 5, "looked more often than the clock asked"
    assert ring.head - ring.tail == ring.capacity, "wrote into a full ring"
    # nothing was lost, and the ring goes on
    assert ring.reader.take() == filled
    ring.writer.put(9, 9, 9, 9, b"room now", timeout=0)
    assert ring.reader.take() == [Record(9, 9, 9, 9, b"room now")]


def test_a_zero_timeout_raises_ringfull_at_once(make_ring: Callable[[int], Ring]) -> None:
    ring = make_ring(256)
    _fill(ring)
    with pytest.raises(RingFull):
        ring.writer.put(1, 0, 0, 0, b"", timeout=0, clock=lambda: 0.0)


# --- waking ----------------------------------------------------------------------------------


@pytest.fixture
def no_polling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a sleeping side look again only after a minute, so a lost wake-up fails the test."""
    monkeypatch.setattr(_ring, "WAKE_CHECK_S", 60.0)


@pytest.mark.usefixtures("no_polling")
def test_a_writer_waiting_for_room_is_woken_by_take(make_ring: Callable[[int], Ring]) -> None:
    ring = make_ring(256)
    filled = _fill(ring)
    late = Record(2, 2, 2, 2, b"late")
    writer = _Thread(lambda: ring.writer.put(*late, timeout=120.0))
    writer.start()
    _wait_until(lambda: ring.flag(_ring._WRITER_SLEEPS) == 1, "the writer waits for room")
    assert ring.head - ring.tail == ring.capacity
    assert ring.reader.take() == filled
    writer.outcome(30.0)
    assert ring.flag(_ring._WRITER_SLEEPS) == 0
    assert ring.reader.take() == [late]


@pytest.mark.usefixtures("no_polling")
def test_a_sleeping_reader_is_woken_by_put(make_ring: Callable[[int], Ring]) -> None:
    ring = make_ring(256)

    def read() -> list[Record]:
        for _ in range(10):  # a few wake-ups may be early, none is lost
            records = ring.reader.take()
            if records:
                return records
            ring.reader.wait(120.0)
        raise AssertionError("woken ten times, no record")

    reader = _Thread(read)
    reader.start()
    _wait_until(lambda: ring.flag(_ring._READER_SLEEPS) == 1, "the reader sleeps")
    ring.writer.put(3, 4, 5, 6, b"wake up", timeout=0)
    assert reader.outcome(30.0) == [Record(3, 4, 5, 6, b"wake up")]
    assert ring.flag(_ring._READER_SLEEPS) == 0


@pytest.mark.usefixtures("no_polling")
def test_both_sides_sleeping_and_waking_in_turn(make_ring: Callable[[int], Ring]) -> None:
    ring = make_ring(256)
    rng = random.Random(7)
    largest = ring.writer.largest_record()
    sent = [_random_fields(rng, largest) for _ in range(3000)]

    def write() -> None:
        for fields in sent:
            ring.writer.put(*fields, timeout=120.0)

    writer = _Thread(write)
    writer.start()
    received: list[Record] = []
    deadline = time.monotonic() + 60.0
    while len(received) < len(sent):
        assert time.monotonic() < deadline, f"{len(received)} of {len(sent)}: a lost wake-up"
        records = ring.reader.take(rng.randrange(1, 5))
        if records:
            received.extend(records)
        else:
            ring.reader.wait(30.0)
    writer.outcome(30.0)
    assert received == [Record(*fields) for fields in sent]


# --- the other side gone ---------------------------------------------------------------------


def test_the_reader_sees_ringclosed_once_every_copy_of_the_writers_end_is_closed(
    make_ring: Callable[[int], Ring],
) -> None:
    ring = make_ring(256)
    copy = os.dup(ring.wake_w)
    try:
        ring.close_fd(ring.wake_w)
        ring.reader.wait(0)  # a copy is still open: no RingClosed
        assert ring.flag(_ring._READER_SLEEPS) == 0
        ring.writer.put(1, 2, 3, 4, b"last", timeout=0)  # a reader awake: no wake-up to write
    finally:
        os.close(copy)
    ring.reader.wait(10.0)  # the writer is gone, its record is not: no RingClosed yet
    assert ring.reader.take() == [Record(1, 2, 3, 4, b"last")]
    with pytest.raises(RingClosed):
        ring.reader.wait(10.0)


def test_the_writer_waiting_for_room_sees_ringclosed_when_the_reader_is_gone(
    make_ring: Callable[[int], Ring],
) -> None:
    ring = make_ring(256)
    _fill(ring)
    copy = os.dup(ring.room_w)
    try:
        ring.close_fd(ring.room_w)
        with pytest.raises(RingFull):  # a copy is still open: a timeout, not RingClosed
            ring.writer.put(1, 0, 0, 0, b"", timeout=0.01)
    finally:
        os.close(copy)
    with pytest.raises(RingClosed):
        ring.writer.put(1, 0, 0, 0, b"", timeout=10.0)


def test_waking_a_reader_that_is_gone_raises_ringclosed(make_ring: Callable[[int], Ring]) -> None:
    ring = make_ring(256)
    ring.memory.control[_ring._READER_SLEEPS] = 1  # it went to sleep, then its process ended
    ring.close_fd(ring.wake_r)
    with pytest.raises(RingClosed):
        ring.writer.put(1, 0, 0, 0, b"", timeout=0)


def test_the_wrap_marker_is_not_a_kind_a_writer_may_use():
    memory = RingMemory(256)
    r, w = os.pipe()
    writer = RingWriter(memory, w, r)
    with pytest.raises(ValueError, match="wrap marker"):
        writer.put(KIND_WRAP, 0, 0, 0, b"x")
    os.close(r)
    os.close(w)
    memory.close()


@pytest.mark.parametrize("machine", ["aarch64", "arm64", "ppc64le"])
def test_workers_are_refused_on_cpus_that_reorder_stores(machine):
    with pytest.raises(ValueError, match=f"x86-64 host .* this one is {machine}"):
        check_host(machine)
    check_host("x86_64")
