"""The issue loop: hand the pre-generated queries to the SUT on the scenario's schedule.

The schedule is computed before the loop starts; the QuerySample lists the SUT is handed are
made a chunk at a time (``QueryChunks``), each before the wait that precedes its first query, so
an iteration only waits as its scenario says, calls the SUT and checks the end conditions. The
loop returns an ``IssueOutcome``; it logs nothing itself. Server without coalescing, whose rate
is its figure, has a loop of its own that does the same steps with less decided per query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._completion import Series
from ._effective import EffectiveSettings
from ._enums import TestScenario
from ._interfaces import SystemUnderTest
from ._query_chunks import QueryChunks
from .clock import Clock

FOLDED = np.iinfo(np.int64).min  # see IssueOutcome.issue_end_ns


@dataclass
class IssueOutcome:
    start_ns: int
    queries_issued: int = 0
    samples_issued: int = 0
    # Actual issue time per query (int64, 8 bytes each; preallocated, valid up to
    # queries_issued).
    issue_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    # For the trace: when each IssueQuery call returned, at the index of the first query it
    # held (FOLDED for the queries coalesced into it); None when not traced.
    issue_end_ns: np.ndarray | None = None
    natural_end: bool = False
    ran_out: bool = False  # issued every generated query without a natural end
    end_messages: list[tuple[str, str, bool]] = field(default_factory=list)  # key, text, error
    stopped_by: str | None = None  # abort reason, or the wait failure


def issue_queries(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    queries: QueryChunks,
    series: Series,
    accuracy_mode: bool,
    stall_timeout_ns: int,
    clock: Clock,
    coalesce: bool = False,
    trace: bool = False,
) -> IssueOutcome:
    """Issue ``queries`` to ``sut`` following the scenario's rules (spec §3.4).

    ``trace`` also stamps the end of every IssueQuery call (``IssueOutcome.issue_end_ns``).
    """
    if settings.scenario == TestScenario.Server:
        with clock.precise():  # the Server schedule wants its sleeps on time
            if not coalesce:
                return _server_loop(sut, settings, queries, series, accuracy_mode, clock, trace)
            return _issue_loop(
                sut, settings, queries, series, accuracy_mode,
                stall_timeout_ns, clock, coalesce, trace,
            )  # fmt: skip
    return _issue_loop(
        sut, settings, queries, series, accuracy_mode,
        stall_timeout_ns, clock, False, trace,
    )  # fmt: skip


def _issue_loop(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    chunks: QueryChunks,
    series: Series,
    accuracy_mode: bool,
    stall_timeout_ns: int,
    clock: Clock,
    coalesce: bool,
    trace: bool,
) -> IssueOutcome:
    """One loop for every scenario; only the wait before each query differs, as officially.

    SingleStream/MultiStream wait until the previous query has completed; Server sleeps until
    the query's scheduled time (late queries go out back to back); Offline does not wait.
    Server has no natural end: it issues every generated query unless a limit stops it.
    """
    scenario = settings.scenario
    server = scenario == TestScenario.Server
    one_at_a_time = scenario in (TestScenario.SingleStream, TestScenario.MultiStream)
    issue = sut.issue_query
    now = clock.now_ns
    sleep_until = clock.sleep_until
    natural = not server and not accuracy_mode
    min_queries = settings.min_query_count
    target_ns = settings.target_duration_ms * 1_000_000
    max_async = settings.max_async_queries if server else 0
    check_limits = bool(settings.max_query_count or settings.max_duration_ms)
    nq = chunks.query_count
    issue_ns = np.zeros(nq, dtype=np.int64)
    # The queries issuing is at: chunk[k - lo] is query k's samples, offs[k - lo] its offset.
    lo, hi, chunk, offs = chunks.chunk(0) if nq else (0, 0, [], [])
    ends = np.full(nq, FOLDED, dtype=np.int64) if trace else None
    start = now()
    out = IssueOutcome(start_ns=start, issue_ns=issue_ns, issue_end_ns=ends)
    samples = 0
    k = 0  # queries issued so far (a coalesced query counts for each query it holds)
    while k < nq:
        if k >= hi:  # before the wait: in Server the next query is not due yet
            lo, hi, chunk, offs = chunks.chunk(k)
        # --- the scenario's wait -------------------------------------------------------------
        if one_at_a_time and series.completed != samples:
            why = series.wait_for(samples, None, stall_timeout_ns)
            if why is not None:
                out.stopped_by = why
                break
        if series.aborted is not None:
            out.stopped_by = series.aborted
            break
        t = now()
        if server:
            target = start + offs[k - lo]
            if t < target:
                t = sleep_until(target)
        # --- issue ----------------------------------------------------------------------------
        query = chunk[k - lo]
        issue_ns[k] = t
        first = k
        k += 1
        if coalesce:
            merged = None
            while k < nq:
                if k >= hi:
                    lo, hi, chunk, offs = chunks.chunk(k)
                if start + offs[k - lo] > t:
                    break
                if merged is None:
                    merged = list(query)
                merged.extend(chunk[k - lo])
                issue_ns[k] = t
                k += 1
            if merged is not None:
                query = merged
        samples += len(query)
        series.issued = samples  # before the call: a SUT may answer inside it
        issue(query)
        if ends is not None:
            ends[first] = now()
        if accuracy_mode:
            continue
        # --- end conditions -------------------------------------------------------------------
        if max_async and k - series.completed > max_async:
            out.end_messages.append(_too_many_outstanding(k, series.completed))
            break
        if natural and k >= min_queries and t - start >= target_ns:
            out.natural_end = True
            out.end_messages.append((
                "generic_message", "Ending naturally: Minimum query count and test duration met.",
                False,
            ))  # fmt: skip
            break
        if check_limits and _check_limits(out, settings, k, t - start):
            break
    else:
        out.ran_out = natural
    out.queries_issued = k
    out.samples_issued = samples
    return out


def _server_loop(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    chunks: QueryChunks,
    series: Series,
    accuracy_mode: bool,
    clock: Clock,
    trace: bool,
) -> IssueOutcome:
    """``_issue_loop`` for Server without coalescing, step for step, with what it decides per
    query decided once: its rate is the scenario's figure, so its per-query cost matters most.

    Server has no natural end and never waits for completions: each query sleeps until its
    scheduled time (late ones go out at once), is issued, and the limits are checked.
    """
    issue = sut.issue_query
    now = clock.now_ns
    sleep_until = clock.sleep_until
    max_async = settings.max_async_queries
    check_limits = bool(settings.max_query_count or settings.max_duration_ms)
    nq = chunks.query_count
    issue_ns = np.zeros(nq, dtype=np.int64)
    ends = np.full(nq, FOLDED, dtype=np.int64) if trace else None
    start = now()
    out = IssueOutcome(start_ns=start, issue_ns=issue_ns, issue_end_ns=ends)
    samples = 0
    k = 0
    stop = False
    while k < nq and not stop:
        _, _, chunk, offs = chunks.chunk(k)  # before the wait: the next query is not due yet
        for query, offset in zip(chunk, offs):
            if series.aborted is not None:
                out.stopped_by = series.aborted
                stop = True
                break
            t = now()
            target = start + offset
            if t < target:
                t = sleep_until(target)
            issue_ns[k] = t
            k += 1
            samples += len(query)
            series.issued = samples  # before the call: a SUT may answer inside it
            issue(query)
            if ends is not None:
                ends[k - 1] = now()
            if accuracy_mode:
                continue
            if max_async and k - series.completed > max_async:
                out.end_messages.append(_too_many_outstanding(k, series.completed))
                stop = True
                break
            if check_limits and _check_limits(out, settings, k, t - start):
                stop = True
                break
    out.queries_issued = k
    out.samples_issued = samples
    return out


def _check_limits(
    out: IssueOutcome, settings: EffectiveSettings, issued: int, elapsed_ns: int
) -> bool:
    """The max_query_count / max_duration exits shared by every scenario; True = stop."""
    if settings.max_query_count and issued >= settings.max_query_count:
        out.end_messages.append(
            (
                "error_runtime",
                f"IssueQueryThread 0 Ending early: Max query count reached. query_count {issued}",
                True,
            )
        )
        return True
    if settings.max_duration_ms and elapsed_ns > settings.max_duration_ms * 1_000_000:
        out.end_messages.append(
            (
                "error_runtime",
                "IssueQueryThread 0 Ending early: Max test duration reached. "
                f"duration_ns {elapsed_ns}",
                True,
            )
        )
        return True
    return False


def _too_many_outstanding(issued: int, completed: int) -> tuple[str, str, bool]:
    """The official end message of a run past ``max_async_queries`` outstanding queries."""
    return (
        "error_runtime",
        "IssueQueryThread 0 Ending early: Too many outstanding queries. issued "
        f"{issued} outstanding {issued - completed}",
        True,
    )
