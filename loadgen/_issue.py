"""The issuing loops: hand the pre-generated queries to the SUT on the scenario's schedule.

Everything that can be computed ahead (queries, sample objects, schedule) is made before the
loop starts, so each iteration only reads the clock, calls the SUT and checks the end
conditions. The loops return an ``IssueOutcome``; they log nothing themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._completion import Series
from ._effective import EffectiveSettings
from ._enums import TestScenario
from ._interfaces import SystemUnderTest
from ._samples import QuerySample
from .clock import Clock


@dataclass
class IssueOutcome:
    start_ns: int
    queries_issued: int = 0
    samples_issued: int = 0
    issue_ns: list[int] = field(default_factory=list)  # actual issue time per issued query
    natural_end: bool = False
    ran_out: bool = False  # issued every generated query without a natural end
    end_messages: list[tuple[str, str, bool]] = field(default_factory=list)  # key, text, error
    stopped_by: str | None = None  # abort reason, or the wait failure


def issue_queries(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    queries: list[list[QuerySample]],
    scheduled_offset_ns: list[int],
    series: Series,
    accuracy_mode: bool,
    stall_timeout_ns: int,
    clock: Clock,
    coalesce: bool = False,
) -> IssueOutcome:
    """Issue ``queries`` to ``sut`` following the scenario's rules (spec §3.4)."""
    scenario = settings.scenario
    if scenario == TestScenario.Server:
        with clock.precise():  # the Server schedule wants its sleeps on time
            return _server_loop(
                sut, settings, queries, scheduled_offset_ns, series, accuracy_mode, coalesce, clock
            )
    if scenario == TestScenario.Offline:
        return _issue_offline(sut, settings, queries, series, accuracy_mode, clock)
    return _issue_streams(sut, settings, queries, series, accuracy_mode, stall_timeout_ns, clock)


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


def _natural_end(out: IssueOutcome) -> None:
    out.natural_end = True
    out.end_messages.append(
        ("generic_message", "Ending naturally: Minimum query count and test duration met.", False)
    )


def _issue_streams(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    queries: list[list[QuerySample]],
    series: Series,
    accuracy_mode: bool,
    stall_timeout_ns: int,
    clock: Clock,
) -> IssueOutcome:
    """SingleStream and MultiStream: one query in flight; the next once it has completed."""
    _now = clock.now_ns
    issue = sut.issue_query
    min_queries = settings.min_query_count
    target_ns = settings.target_duration_ms * 1_000_000
    check_limits = bool(settings.max_query_count or settings.max_duration_ms)
    issue_ns: list[int] = []
    record = issue_ns.append
    start = _now()
    out = IssueOutcome(start_ns=start, issue_ns=issue_ns)
    issued_samples = 0
    k = 0
    for query in queries:
        if series.completed != issued_samples:
            why = series.wait_for(issued_samples, None, stall_timeout_ns)
            if why is not None:
                out.stopped_by = why
                break
        if series.aborted is not None:
            out.stopped_by = series.aborted
            break
        t = _now()
        record(t)
        issue(query)
        issued_samples += len(query)
        k += 1
        if accuracy_mode:
            continue
        if k >= min_queries and t - start >= target_ns:
            _natural_end(out)
            break
        if check_limits and _check_limits(out, settings, k, t - start):
            break
    else:
        out.ran_out = not accuracy_mode
    out.queries_issued = k
    out.samples_issued = issued_samples
    return out


def _issue_offline(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    queries: list[list[QuerySample]],
    series: Series,
    accuracy_mode: bool,
    clock: Clock,
) -> IssueOutcome:
    """Offline: every query at once (one query in performance mode, one per set in accuracy)."""
    _now = clock.now_ns
    start = _now()
    out = IssueOutcome(start_ns=start)
    issued_samples = 0
    k = 0
    for query in queries:
        if series.aborted is not None:
            out.stopped_by = series.aborted
            break
        t = _now()
        out.issue_ns.append(t)
        sut.issue_query(query)
        issued_samples += len(query)
        k += 1
        if accuracy_mode:
            continue
        if k >= settings.min_query_count and t - start >= settings.target_duration_ms * 1_000_000:
            _natural_end(out)
            break
        if _check_limits(out, settings, k, t - start):
            break
    else:
        out.ran_out = not accuracy_mode
    out.queries_issued = k
    out.samples_issued = issued_samples
    return out


def _server_loop(
    sut: SystemUnderTest,
    settings: EffectiveSettings,
    queries: list[list[QuerySample]],
    scheduled_offset_ns: list[int],
    series: Series,
    accuracy_mode: bool,
    coalesce: bool,
    clock: Clock,
) -> IssueOutcome:
    """Server: each query at start + its Poisson offset; late queries go out back to back.

    Server has no natural end: every generated query is issued unless a limit stops the run.
    """
    issue = sut.issue_query
    _now = clock.now_ns
    sleep_until = clock.sleep_until
    max_async = settings.max_async_queries
    check_limits = bool(settings.max_query_count or settings.max_duration_ms)
    issue_ns: list[int] = []
    record = issue_ns.append
    nq = len(queries)
    start = _now()
    out = IssueOutcome(start_ns=start, issue_ns=issue_ns)
    issued = 0  # queries (a coalesced query counts for each query it holds)
    k = 0
    while k < nq:
        if series.aborted is not None:
            out.stopped_by = series.aborted
            break
        target = start + scheduled_offset_ns[k]
        t = _now()
        if t < target:
            t = sleep_until(target)
        query = queries[k]
        if coalesce and k + 1 < nq and start + scheduled_offset_ns[k + 1] <= t:
            query = list(query)
            record(t)
            k += 1
            while k < nq and start + scheduled_offset_ns[k] <= t:
                query.extend(queries[k])
                record(t)
                k += 1
            first_of_next = k
            issue(query)
            issued += len(query)
            k = first_of_next
        else:
            record(t)
            issue(query)
            issued += 1
            k += 1
        if accuracy_mode:
            continue
        if max_async and issued - series.completed > max_async:
            out.end_messages.append(
                (
                    "error_runtime",
                    "IssueQueryThread 0 Ending early: Too many outstanding queries. issued "
                    f"{issued} outstanding {issued - series.completed}",
                    True,
                )
            )
            break
        if check_limits and _check_limits(out, settings, issued, t - start):
            break
    out.queries_issued = len(issue_ns)
    out.samples_issued = out.queries_issued
    return out
