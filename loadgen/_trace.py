"""mlperf_log_trace.json: a Chrome trace (Perfetto / chrome://tracing) of a test (spec §6.6).

Nothing downstream parses it, but it must be valid JSON. The events, their names, phases and
args, and the byte layout of each line follow the official LoadGen: complete ("X") events for
the run's steps (GenerateLoadableSets, LoadSamples, GenerateQueries) and for every issue-loop
iteration (Waiting or Scheduling, IssueQuery, SampleLoop) and every QuerySamplesComplete and
FirstTokenComplete call; an async "Sample" begin/end pair per sample ("Token" per first token);
Server "Latency" / "Token_Latency" counters; a footer giving the start as wall-clock µs.

The trace is on by default, so nothing is formatted while a series runs: the issue loop and
the completion entry points only keep timestamps (ints, packed into int64 arrays), and a
series' events are written in bulk once it is over.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping, Sequence
from typing import TextIO

import numpy as np

from .clock import Clock, RealClock

_CHUNK = 65536  # events formatted per write
PACK = 8192  # stamps a thread keeps as Python ints before packing them into int64


def format_us(ns: int) -> str:
    """Nanoseconds as microseconds with exactly 3 decimals (exact, no float rounding)."""
    sign = "-" if ns < 0 else ""
    q, r = divmod(abs(ns), 1000)
    return f"{sign}{q}.{r:03d}"


def _json(value: object) -> str:
    """Strict JSON (browsers reject NaN/Infinity): numpy scalars unwrapped, odd floats quoted."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(str(value))
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def _args(args: Mapping[str, object] | None) -> str:
    if not args:
        return "{}"
    return "{" + ",".join(f"{json.dumps(str(k))}:{_json(v)}" for k, v in args.items()) + "}"


def _name(name: str) -> str:
    """A JSON string for an event name, safe inside a %-template."""
    return json.dumps(name).replace("%", "%%")


class _ThreadStamps:
    __slots__ = ("tid", "recent", "packed")

    def __init__(self, tid: int) -> None:
        self.tid = tid
        self.recent: list[int] = []  # start, end, start, end, ... (appended by its thread only)
        self.packed: list[np.ndarray] = []


class CallStamps:
    """The start and end of every call of one entry point (QuerySamplesComplete...), per thread.

    Recording runs on the SUT's completion path, from any number of threads: it appends two
    ints to the calling thread's own list (no lock, nothing shared) and, every few thousand
    calls, packs them into an int64 array (16 bytes a call). ``record`` does that; the
    hottest caller inlines it (``local.recent``, ``join``, ``pack``). ``take`` hands over, from
    any thread, what has been recorded so far; a call whose end is not yet in stays for later.
    """

    def __init__(self) -> None:
        self.local = threading.local()  # .recent: this thread's list, once it has joined
        self._threads: list[_ThreadStamps] = []
        self._lock = threading.Lock()

    def record(self, start_ns: int, end_ns: int) -> None:
        try:
            recent = self.local.recent
        except AttributeError:
            recent = self.join()
        recent.append(start_ns)
        recent.append(end_ns)
        if len(recent) >= PACK:
            self.pack()

    def join(self) -> list[int]:
        """The calling thread's list, made on its first call."""
        stamps = _ThreadStamps(threading.get_native_id())
        with self._lock:
            self._threads.append(stamps)
        self.local.stamps = stamps
        self.local.recent = stamps.recent
        return stamps.recent

    def pack(self) -> None:
        """Pack the calling thread's stamps into int64."""
        self._pack(self.local.stamps)

    def _pack(self, stamps: _ThreadStamps) -> None:
        # Slicing and deleting a prefix are each atomic, so an append from the owner thread in
        # between lands after the prefix and is kept.
        with self._lock:
            recent = stamps.recent
            n = len(recent) & ~1  # whole (start, end) pairs only
            if n:
                stamps.packed.append(np.array(recent[:n], dtype=np.int64))
                del recent[:n]

    def take(self) -> list[tuple[int, np.ndarray]]:
        """(tid, (n, 2) int64 array of start/end) for each thread with calls since the last take."""
        out = []
        with self._lock:
            threads = list(self._threads)
        for stamps in threads:
            self._pack(stamps)
            with self._lock:
                parts, stamps.packed = stamps.packed, []
            if parts:
                out.append((stamps.tid, np.concatenate(parts).reshape(-1, 2)))
        return out


class TraceLog:
    """Thread-safe Chrome-trace writer; ``close()`` writes the footer.

    ``origin_ns`` is the test's start on ``clock`` (by default the real one); event times are
    taken on the same clock. ``completions`` and ``first_tokens`` collect the stamps of the
    QuerySamplesComplete and FirstTokenComplete calls (see ``add_calls``).
    """

    def __init__(self, stream: TextIO, origin_ns: int, clock: Clock | None = None) -> None:
        if clock is None:
            clock = RealClock()
        self._stream = stream
        self._origin_ns = origin_ns
        # The footer states the origin as wall-clock time, as the official trace does.
        self._origin_epoch_ns = clock.wall_ns() - (clock.now_ns() - origin_ns)
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._closed = False
        self.completions = CallStamps()
        self.first_tokens = CallStamps()
        stream.write('{"traceEvents":[\n')

    def _write(self, text: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("trace already closed; no more events can be added")
            self._stream.write(text)

    def _bulk(self, template: str, columns: Sequence[np.ndarray], us: Sequence[int]) -> None:
        """One ``template`` line per row of ``columns`` (int64 ns); the columns numbered in
        ``us`` are written as µs, the others as ints."""
        n = len(columns[0]) if columns else 0
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            cols = [
                # µs as a double printed with 3 decimals, as the official does (exact below
                # 2**43 µs, about 100 days).
                (col[lo:hi] / 1000.0).tolist() if j in us else col[lo:hi].tolist()
                for j, col in enumerate(columns)
            ]
            self._write("".join(map(template.__mod__, zip(*cols))))

    def add_complete(
        self, name: str, start_ns: int, dur_ns: int, args: Mapping[str, object] | None = None
    ) -> None:
        """A complete ("X") event on the calling thread, e.g. GenerateQueries or LoadSamples."""
        self._write(
            f'{{"name":{json.dumps(name)},"ph":"X","pid":{self._pid},'
            f'"tid":{threading.get_native_id()},"ts":{format_us(start_ns - self._origin_ns)},'
            f'"dur":{format_us(dur_ns)},"args":{_args(args)}}},\n'
        )

    def add_spans(self, name: str, tid: int, start_ns: np.ndarray, end_ns: np.ndarray) -> None:
        """One complete ("X") event with no args per (start, end), all on thread ``tid``."""
        start = np.asarray(start_ns, dtype=np.int64)
        dur = np.asarray(end_ns, dtype=np.int64) - start
        template = (
            f'{{"name":{_name(name)},"ph":"X","pid":{self._pid},"tid":{tid},'
            '"ts":%.3f,"dur":%.3f,"args":{}},\n'
        )
        self._bulk(template, [start - self._origin_ns, dur], us=(0, 1))

    def add_calls(self, name: str, stamps: CallStamps) -> None:
        """The calls ``stamps`` recorded since the last time, as "X" events on their threads."""
        for tid, pairs in stamps.take():
            self.add_spans(name, tid, pairs[:, 0], pairs[:, 1])

    def add_samples(
        self,
        sample_seq: np.ndarray,
        query_seq: np.ndarray,
        sample_idx: np.ndarray,
        scheduled_ns: np.ndarray,
        issue_ns: np.ndarray,
        complete_ns: np.ndarray,
        *,
        name: str | None = "Sample",
        counter: str | None = None,
    ) -> None:
        """Per sample, a ``counter`` ("C") event and a ``name`` async begin/end pair.

        The pair begins at the scheduled time and ends at ``complete_ns`` (the completion, or
        the first token for "Token"); its args give the issue and completion times relative to
        the scheduled one. The counter (the Server scenario's "Latency" / "Token_Latency"),
        at the scheduled time, gives issue_delay and issue_to_done. Absolute times on the clock.
        """
        pid = self._pid
        seq = np.asarray(sample_seq, dtype=np.int64)
        sched = np.asarray(scheduled_ns, dtype=np.int64)
        issue = np.asarray(issue_ns, dtype=np.int64)
        done = np.asarray(complete_ns, dtype=np.int64)
        sched_ts = sched - self._origin_ns
        template = ""
        columns: list[np.ndarray] = []
        us: list[int] = []
        if counter is not None:
            template += (
                f'{{"name":{_name(counter)},"ph": "C","pid":{pid},"ts":%.3f,"args":{{ '
                '"issue_delay":%d,"issue_to_done":%d}},\n'
            )
            us.append(len(columns))
            columns += [sched_ts, issue - sched, done - issue]
        if name is not None:
            quoted = _name(name)
            template += (
                f'{{"name":{quoted},"cat":"default","ph":"b","pid":{pid},"id":%d,"ts":%.3f,'
                '"args":{"sample_seq":%d,"query_seq":%d,"sample_idx":%d,"issue_start_ns":%d,'
                '"complete_ns":%d}},\n'
                f'{{"name":{quoted},"cat":"default","ph":"e", "pid":{pid},"id":%d,"ts":%.3f}},\n'
            )
            us += [len(columns) + 1, len(columns) + 8]
            columns += [
                seq, sched_ts, seq, np.asarray(query_seq, dtype=np.int64),
                np.asarray(sample_idx, dtype=np.int64), issue - sched, done - sched, seq,
                done - self._origin_ns,
            ]  # fmt: skip
        if columns:
            self._bulk(template, columns, us)

    def close(self) -> None:
        """Write the calls not yet written and the footer, and flush (the stream itself
        belongs to the caller)."""
        if not self._closed:
            self.add_calls("QuerySamplesComplete", self.completions)
            self.add_calls("FirstTokenComplete", self.first_tokens)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stream.write(
                '{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns",\n"otherData":{\n'
                f'"ts":{format_us(self._origin_epoch_ns)},\n'
                '"version":"MLPerf LoadGen v1.0"\n}\n}\n'
            )
            self._stream.flush()
