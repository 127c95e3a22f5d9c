"""mlperf_log_trace.json: a Chrome trace (Perfetto / chrome://tracing) of a test (spec §6.6).

Nothing downstream parses it, but it must be valid JSON. The layout follows the official
LoadGen: one event per line, times in µs with 3 decimals relative to the test's start, an
async "Sample" begin/end pair per sample, and a footer giving the start as wall-clock µs.
Per-sample events are written in bulk after a run (``add_samples``) so the issue and
completion paths never spend time on tracing.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Mapping
from typing import TextIO

import numpy as np

from .clock import Clock, RealClock

_CHUNK = 65536  # samples formatted per write


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


class TraceLog:
    """Thread-safe Chrome-trace writer; ``close()`` writes the footer.

    ``origin_ns`` is the test's start on ``clock`` (by default the real one); event times are
    taken on the same clock.
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
        stream.write('{"traceEvents":[\n')

    def _write(self, text: str) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("trace already closed; no more events can be added")
            self._stream.write(text)

    def add_complete(
        self, name: str, start_ns: int, dur_ns: int, args: Mapping[str, object] | None = None
    ) -> None:
        """A complete ("X") event on the calling thread, e.g. GenerateQueries or IssueQuery."""
        self._write(
            f'{{"name":{json.dumps(name)},"ph":"X","pid":{self._pid},'
            f'"tid":{threading.get_native_id()},"ts":{format_us(start_ns - self._origin_ns)},'
            f'"dur":{format_us(dur_ns)},"args":{_args(args)}}},\n'
        )

    def add_samples(
        self,
        sample_seq: np.ndarray,
        query_seq: np.ndarray,
        sample_idx: np.ndarray,
        scheduled_ns: np.ndarray,
        issue_ns: np.ndarray,
        complete_ns: np.ndarray,
        *,
        counters: bool = False,
    ) -> None:
        """One "Sample" async begin/end pair per sample (absolute times on the clock).

        The begin is at the scheduled time and the end at completion; the args give the
        issue and completion times relative to the scheduled one. ``counters`` adds the
        Server scenario's "Latency" counter (issue_delay, issue_to_done) per sample.
        """
        n = len(sample_seq)
        for lo in range(0, n, _CHUNK):
            hi = min(n, lo + _CHUNK)
            self._write(
                self._sample_lines(
                    np.asarray(sample_seq[lo:hi], dtype=np.int64),
                    np.asarray(query_seq[lo:hi], dtype=np.int64),
                    np.asarray(sample_idx[lo:hi], dtype=np.int64),
                    np.asarray(scheduled_ns[lo:hi], dtype=np.int64),
                    np.asarray(issue_ns[lo:hi], dtype=np.int64),
                    np.asarray(complete_ns[lo:hi], dtype=np.int64),
                    counters,
                )
            )

    def _sample_lines(
        self,
        seq: np.ndarray,
        query: np.ndarray,
        idx: np.ndarray,
        sched: np.ndarray,
        issue: np.ndarray,
        done: np.ndarray,
        counters: bool,
    ) -> str:
        pid = self._pid
        begin = [format_us(x) for x in (sched - self._origin_ns).tolist()]
        end = [format_us(x) for x in (done - self._origin_ns).tolist()]
        issue_rel = (issue - sched).tolist()
        done_rel = (done - sched).tolist()
        issue_to_done = (done - issue).tolist()
        out = []
        for i, (s, q, x) in enumerate(zip(seq.tolist(), query.tolist(), idx.tolist())):
            if counters:
                out.append(
                    f'{{"name":"Latency","ph": "C","pid":{pid},"ts":{begin[i]},"args":{{ '
                    f'"issue_delay":{issue_rel[i]},"issue_to_done":{issue_to_done[i]}}}}},\n'
                )
            out.append(
                f'{{"name":"Sample","cat":"default","ph":"b","pid":{pid},"id":{s},'
                f'"ts":{begin[i]},"args":{{"sample_seq":{s},"query_seq":{q},'
                f'"sample_idx":{x},"issue_start_ns":{issue_rel[i]},'
                f'"complete_ns":{done_rel[i]}}}}},\n'
                f'{{"name":"Sample","cat":"default","ph":"e", "pid":{pid},"id":{s},'
                f'"ts":{end[i]}}},\n'
            )
        return "".join(out)

    def close(self) -> None:
        """Write the footer and flush (the stream itself belongs to the caller)."""
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
