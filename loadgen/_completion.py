"""Completion bookkeeping for one series of queries, and the thread-safe completion entry points.

A *series* is everything issued between one GenerateQueries and the following FlushQueries
(a performance run, or one accuracy chunk). Sample ``i`` of a series gets the response id
``base + i``; ids are never reused within a process, so a late response from an earlier series
or test is recognised as such instead of being counted twice. Only an id that has been issued
and not completed yet is accepted: anything else (an id not issued yet, one completed before,
one from an earlier series) is a logged error and changes nothing, so it cannot make a latency
negative or end a series early.

The hot path (``complete``) takes one timestamp per call, like the official LoadGen, and does a
constant amount of work per response under one lock.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._samples import QuerySampleResponse, response_bytes
from ._trace import PACK, CallStamps
from .clock import Clock, RealClock

_REAL = RealClock()
_now = _REAL.now_ns  # the active series' clock; set_active switches it

_ids_lock = threading.Lock()
_next_id = 1  # id 0 is reserved, as in the official LoadGen


def _reserve_ids(count: int) -> int:
    global _next_id
    with _ids_lock:
        base = _next_id
        _next_id += count + 1
    return base


class TestAborted(RuntimeError):
    """Raised by StartTest when the run was aborted (``AbortTest``) or a SUT stopped answering."""

    __test__ = False


ErrorSink = Callable[[str], None]
AccuracySink = Callable[[int, int, bytes, "bytes | None", "int | None"], None]

_NEVER = sys.maxsize


class Series:
    """Per-sample completion times and counters for one series."""

    def __init__(
        self,
        sample_index: np.ndarray,
        first_sample_seq: int,
        *,
        error_sink: ErrorSink,
        warning_sink: ErrorSink | None = None,
        accuracy_sink: AccuracySink | None = None,
        log_mask: np.ndarray | None = None,
        log_all: bool = False,
        token_latencies: bool = False,
        needs_first_token: bool = False,
        clock: Clock | None = None,
    ) -> None:
        n = len(sample_index)
        self.clock: Clock = clock if clock is not None else RealClock()
        self.n = n
        self.base = _reserve_ids(n)
        self.first_sample_seq = first_sample_seq
        self.sample_index = sample_index
        # Per sample, preallocated int64 columns (8 bytes a sample; zeroed pages cost no memory
        # until written): the completion time (0 = not yet), and in token runs the first token's
        # time and the token count.
        self.done = np.zeros(n, dtype=np.int64)
        self.issued = 0  # samples handed to the SUT so far: ids base .. base + issued - 1
        self.completed = 0
        self.last_done_ns = 0  # when the latest completion arrived
        self.wait_target = _NEVER
        self.event = threading.Event()
        self.lock = threading.Lock()
        # Completions whose accuracy logging (and response_cb) is still running: a series is
        # over only once they are done, so no logged response comes after the log is closed.
        self._logging_calls = 0
        self._logging_waited = False  # notify only when the series is being waited for
        self._logged = threading.Condition(self.lock)
        self.aborted: str | None = None
        self.closed = False
        self._error_sink = error_sink
        self._warning_sink = warning_sink
        self._warned_first_token = False
        self._accuracy_sink = accuracy_sink
        self._log_all = log_all
        self._log_flags: list[bool] | None = None
        if accuracy_sink is not None and not log_all and log_mask is not None:
            self._log_flags = log_mask.tolist()
        self._logging = accuracy_sink is not None and (log_all or self._log_flags is not None)
        self.token_latencies = token_latencies
        self.needs_first_token = needs_first_token
        self.first_token = np.zeros(n, dtype=np.int64) if token_latencies else None
        self.n_tokens = np.zeros(n, dtype=np.int64) if token_latencies else None
        self._token_data: dict[int, bytes] = {}
        # Where the entry points record each call's start and end for the trace (None: off).
        self.completion_stamps: CallStamps | None = None
        self.first_token_stamps: CallStamps | None = None

    # --- called from SUT threads -------------------------------------------------------------

    def complete(
        self,
        responses: Sequence[QuerySampleResponse],
        t: int,
        response_cb: Callable[[Any], None] | None = None,
    ) -> None:
        base = self.base
        done = self.done
        ntok = self.n_tokens
        bad: list[tuple[Any, str]] | None = None
        problems: list[str] | None = None
        with self.lock:
            issued = self.issued
            count = 0
            for r in responses:
                i = r.id - base
                if 0 <= i < issued and not done[i]:
                    if ntok is not None:
                        n_tokens = r.n_tokens
                        if n_tokens <= 1 or (self.needs_first_token and not self._has_first(i)):
                            problems = self._token_problems(r, i, problems)
                            if n_tokens < 0 or n_tokens == 1:
                                n_tokens = 0  # as officially: then TPOT divides by -1
                        ntok[i] = n_tokens
                    done[i] = t
                    count += 1
                else:
                    if bad is None:
                        bad = []
                    bad.append((r, self._why_rejected(i, issued)))
            to_log = self._logging and count > 0
            if to_log:
                self._logging_calls += 1
            if count:
                self.completed += count
                self.last_done_ns = t
                if self.completed >= self.wait_target:
                    self.event.set()
        if problems is not None:
            for p in problems:
                self._error_sink(p)
        if bad is not None:
            for _, text in bad:
                self._error_sink(text)
        if to_log:
            try:
                self._log_accuracy(responses, bad, response_cb)
            finally:
                with self.lock:
                    self._logging_calls -= 1
                    if self._logging_waited and not self._logging_calls:
                        self._logged.notify_all()

    def _has_first(self, i: int) -> bool:
        first = self.first_token
        return first is not None and first[i] != 0

    def _token_problems(
        self, r: QuerySampleResponse, i: int, problems: list[str] | None
    ) -> list[str] | None:
        """What is wrong with a token-latency response, in the official words, one error each."""
        problems = problems or []
        if self.needs_first_token and not self._has_first(i):
            problems.append(
                "Attempted to record a sample latency before it's first token "
                f"latency (response id {r.id})"
            )
        n_tokens = r.n_tokens
        if n_tokens == 0:
            problems.append(
                "n_tokens argument missing or attempted to record 0 as number of "
                f"tokens (response id {r.id})"
            )
        elif n_tokens < 0:
            problems.append(f"Attempted to record a negative number of tokens (response id {r.id})")
        elif n_tokens == 1:
            problems.append(f"Number of tokens need to be greater than 1 (response id {r.id})")
        return problems

    def first_token_complete(
        self,
        responses: Sequence[QuerySampleResponse],
        t: int,
        response_cb: Callable[[Any], None] | None = None,
    ) -> None:
        """Record first tokens. ``response_cb`` is never called here, as officially: it is for
        the final response of a sample that will be logged."""
        first = self.first_token
        if first is None:
            # The official LoadGen accepts these silently; say so once, as a warning.
            if not self._warned_first_token and self._warning_sink is not None:
                self._warned_first_token = True
                self._warning_sink(
                    "FirstTokenComplete called but use_token_latencies is off; first-token "
                    "responses are not measured in this run"
                )
            return
        base = self.base
        problems: list[str] = []
        accepted: list[tuple[QuerySampleResponse, int]] = []
        with self.lock:
            issued = self.issued
            for r in responses:
                i = r.id - base
                if not 0 <= i < issued:
                    problems.append(self._unknown_text(r.id, i, "FirstTokenComplete"))
                elif self.done[i]:
                    problems.append(
                        "Attempted to record token latency after sample was completed "
                        f"(response id {r.id})"
                    )
                else:
                    if first[i] == 0:
                        first[i] = t
                    accepted.append((r, i))  # the latest data is logged, as officially
        for p in problems:
            self._error_sink(p)
        if self._logging:
            flags = self._log_flags
            for r, i in accepted:
                if self._log_all or (flags is not None and flags[i]):
                    self._token_data[i] = response_bytes(r.data, r.size)

    # --- helpers ---------------------------------------------------------------------------

    def _unknown_text(self, rid: int, i: int, where: str) -> str:
        """Why ``rid`` (position ``i`` in this series) names no sample that may complete."""
        if 0 < rid < self.base:
            return (
                f"Received completion for an old sample (response id {rid}) in {where}: it "
                "belongs to an earlier series or test and was ignored"
            )
        if 0 <= i < self.n:
            return (
                f"{where} got response id {rid}, which has not been issued yet (a SUT must "
                "answer only the ids it was given); it was ignored"
            )
        return f"{where} got a response for an unknown response id {rid}; it was ignored"

    def _why_rejected(self, i: int, issued: int) -> str:
        """The error for a completion that was not accepted (called under the lock)."""
        rid = self.base + i
        if 0 <= i < issued:
            return (
                "Attempted to complete a sample twice. "
                f"(response id {rid}, sample index {int(self.sample_index[i])})"
            )
        return self._unknown_text(rid, i, "QuerySamplesComplete")

    def _log_accuracy(
        self,
        responses: Sequence[QuerySampleResponse],
        bad: list[tuple[Any, str]] | None,
        response_cb: Callable[[Any], None] | None,
    ) -> None:
        """Copy the responses that are logged; ``response_cb`` runs for each just before its
        data is read (it may move the data to the host), and for no other response."""
        sink = self._accuracy_sink
        assert sink is not None
        flags = self._log_flags
        base = self.base
        skip = {id(r) for r, _ in bad} if bad else ()
        for r in responses:
            if skip and id(r) in skip:
                continue
            i = r.id - base
            if self._log_all or (flags is not None and flags[i]):
                if response_cb is not None:
                    response_cb(r)
                try:
                    data = response_bytes(r.data, r.size)
                except ValueError as exc:
                    self._error_sink(f"response id {r.id}: {exc}")
                    data = b""
                token_data = None
                token_count = None
                if self.token_latencies:
                    token_count = r.n_tokens  # as the SUT said; the official logs it unchanged
                    if self.needs_first_token:
                        token_data = self._token_data.pop(i, b"")
                sink(
                    self.first_sample_seq + i,
                    int(self.sample_index[i]),
                    data,
                    token_data,
                    token_count,
                )

    # --- called from the issuing thread ----------------------------------------------------

    def wait_for(self, target: int, deadline_ns: int | None, stall_timeout_ns: int) -> str | None:
        """Block until ``target`` samples completed; return None, or why waiting stopped.

        Waiting stops early when no sample completes for ``stall_timeout_ns`` (counted from
        the latest completion, or from the start of the wait if that is later) or when the
        clock reaches ``deadline_ns``. Both are in the series' clock time.
        """
        # All completed is not enough: the abort path completes the outstanding samples (after
        # setting ``aborted``), and a run it ended must not look finished.
        if self.completed >= target:
            return self.aborted
        clock = self.clock
        self.wait_target = target
        event = self.event
        began = clock.now_ns()
        try:
            while True:
                event.clear()
                if self.completed >= target or self.aborted is not None:
                    return self.aborted
                now = clock.now_ns()
                stall_at = max(began, self.last_done_ns) + stall_timeout_ns
                if now >= stall_at:
                    return (
                        f"the SUT completed no sample for {stall_timeout_ns / 1e9:g} s while "
                        f"{target - self.completed} issued samples were outstanding"
                    )
                if deadline_ns is not None and now >= deadline_ns:
                    return (
                        f"{target - self.completed} issued samples were still outstanding when "
                        "the max_duration_ms limit (plus its grace period) ran out"
                    )
                wake = stall_at if deadline_ns is None else min(stall_at, deadline_ns)
                clock.wait(event, wake)
        finally:
            self.wait_target = _NEVER

    def wait_logged(self, timeout_s: float) -> bool:
        """Wait until every accepted completion has finished its accuracy logging (the samples
        count as done before their responses are copied, as officially); False on timeout."""
        with self.lock:
            self._logging_waited = True
            return self._logged.wait_for(lambda: not self._logging_calls, timeout_s)

    def abort(self, reason: str) -> None:
        if self.aborted is None:
            self.aborted = reason
        self.event.set()


# --- the module-level entry points -----------------------------------------------------------

_active: Series | None = None
_active_lock = threading.Lock()


def set_active(series: Series | None) -> None:
    """Route the completion entry points to ``series``, stamping them with its clock."""
    global _active, _now
    with _active_lock:
        _now = series.clock.now_ns if series is not None else _REAL.now_ns
        _active = series


def _no_test(where: str) -> None:
    print(f"loadgen: {where} called while no test is running; ignored", file=sys.stderr)


def QuerySamplesComplete(  # noqa: N802 - official name
    responses: Sequence[QuerySampleResponse], response_cb: Callable[[Any], None] | None = None
) -> None:
    """Report finished samples. Safe from any thread, any number of threads at once."""
    t = _now()
    series = _active
    if series is None:
        _no_test("QuerySamplesComplete")
        return
    series.complete(responses, t, response_cb)
    stamps = series.completion_stamps
    if stamps is not None:  # CallStamps.record, inlined: this is the SUT's hot path
        try:
            mine = stamps.local.recent
        except AttributeError:
            mine = stamps.join()
        mine.append(t)
        mine.append(_now())
        if len(mine) >= PACK:
            stamps.pack()


def FirstTokenComplete(  # noqa: N802 - official name
    responses: Sequence[QuerySampleResponse], response_cb: Callable[[Any], None] | None = None
) -> None:
    """Report the first token of samples (token latencies). Safe from any thread."""
    t = _now()
    series = _active
    if series is None:
        _no_test("FirstTokenComplete")
        return
    series.first_token_complete(responses, t, response_cb)
    stamps = series.first_token_stamps
    if stamps is not None:
        stamps.record(t, _now())


_abort_lock = threading.Lock()
_pending_abort: str | None = None


def AbortTest(reason: str = "AbortTest called") -> None:  # noqa: N802 - official name
    """Stop the running test: no more queries are issued and StartTest raises TestAborted."""
    global _pending_abort
    with _abort_lock:
        _pending_abort = reason
    series = _active
    if series is not None:
        series.abort(reason)


def take_pending_abort() -> str | None:
    """The reason of an AbortTest that arrived between series, clearing it."""
    global _pending_abort
    with _abort_lock:
        reason, _pending_abort = _pending_abort, None
    return reason


def peek_pending_abort() -> str | None:
    return _pending_abort
