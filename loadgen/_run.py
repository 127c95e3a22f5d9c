"""One StartTest: logs opened, settings resolved, the mode's series run, results written.

The flow follows the official LoadGen (spec §3.1): accuracy and/or performance runs, or the
FindPeakPerformance search, sharing one SequenceGen; the detail log records every step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np

from . import _completion
from ._accuracy_log import AccuracyLog
from ._completion import Series, TestAborted
from ._config import apply_audit_config, apply_test05
from ._detail_log import (
    DetailLog,
    log_effective_settings,
    log_requested_settings,
    log_results,
    log_test_start,
    log_version_info,
)
from ._effective import EffectiveSettings, effective_settings
from ._enums import TestMode, TestScenario, coerce_enum
from ._failed_run import log_failure
from ._find_peak import find_peak_performance
from ._gc import frozen_heap
from ._interfaces import QuerySampleLibrary, SystemUnderTest
from ._issue import FOLDED, IssueOutcome, issue_queries
from ._log_files import open_log_files
from ._pending_log import PendingEntry, drain_pending
from ._query_chunks import QueryChunks
from ._querygen import (
    LoadableSet,
    OutsideLoadedSet,
    SequenceGen,
    accuracy_log_mask,
    generate_loadable_sets,
    generate_queries,
)
from ._records import GeneratedQueries, PerformanceRecord
from ._results import PerformanceResult, compute_results, perf_constraints_met
from ._settings import LogSettings, TestSettings
from ._summary import write_summary
from ._trace import TraceLog
from .clock import Clock, RealClock

DEFAULT_STALL_TIMEOUT_S = 300.0
"""How long a run waits without any completion while samples are outstanding, before it ends
with an error instead of hanging. Override per run or with LON_STALL_TIMEOUT_S."""


@dataclass
class TestReport:
    """What ``run_test`` returns: where the logs are and what the run concluded."""

    __test__ = False

    summary_path: str
    detail_path: str
    accuracy_path: str
    trace_path: str
    sut_name: str
    result: PerformanceResult | None = None
    errors: int = 0
    warnings: int = 0
    issue_delay_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    find_peak_qps: float | None = None
    stopped: str | None = None  # why the run stopped early without raising (its logs say so)

    @property
    def validity(self) -> str | None:
        if self.stopped is not None:
            return "INVALID"
        if self.result is None:
            return None
        return "VALID" if self.result.valid else "INVALID"


def _stall_timeout_ns(stall_timeout_s: float | None) -> int:
    if stall_timeout_s is None:
        env = os.environ.get("LON_STALL_TIMEOUT_S")
        stall_timeout_s = float(env) if env else DEFAULT_STALL_TIMEOUT_S
    return int(stall_timeout_s * 1e9)


def _wall_time(clock: Clock) -> datetime:
    ns = clock.wall_ns()
    return datetime.fromtimestamp(ns // 1_000_000_000, timezone.utc) + timedelta(
        microseconds=(ns % 1_000_000_000) // 1000
    )


def _power_time(t: datetime) -> str:
    return t.strftime("%m-%d-%Y %H:%M:%S.") + f"{t.microsecond // 1000:03d}"


class _TestRun:
    """State shared by the series of one StartTest."""

    def __init__(
        self,
        sut: SystemUnderTest,
        qsl: QuerySampleLibrary,
        detail: DetailLog,
        accuracy: AccuracyLog,
        trace: TraceLog | None,
        stall_timeout_ns: int,
        clock: Clock,
    ) -> None:
        self.clock = clock
        self.sut = sut
        self.qsl = qsl
        self.detail = detail
        self.accuracy = accuracy
        self.trace = trace
        self.stall_timeout_ns = stall_timeout_ns
        self.seq = SequenceGen()
        self._stderr_errors = 0

    def error(self, text: str) -> None:
        """A runtime error seen while running: logged, and echoed to stderr (a few times)."""
        self.detail.log("error_runtime", text, error=True)
        self._stderr_errors += 1
        if self._stderr_errors <= 5:
            print(f"loadgen: error: {text}", file=sys.stderr)
        elif self._stderr_errors == 6:
            print("loadgen: further errors only in the detail log", file=sys.stderr)

    def warning(self, text: str) -> None:
        """Something the user should know that does not make the run wrong: logged, and echoed."""
        self.detail.log("warning_generic_message", text, warning=True)
        print(f"loadgen: warning: {text}", file=sys.stderr)

    # --- sets --------------------------------------------------------------------------------

    def load(self, loaded: LoadableSet, traced: bool = False) -> None:
        """Load a set; ``traced`` gives it a "LoadSamples" event (the official traces the
        accuracy run's loads only)."""
        self.detail.log("loaded_qsl_set", list(loaded.indices))
        t0 = self.clock.now_ns()
        self.qsl.load_samples_to_ram(list(loaded.indices))
        if traced and self.trace is not None:
            count = {"count": len(loaded.indices)}
            self.trace.add_complete("LoadSamples", t0, self.clock.now_ns() - t0, count)

    def unload(self, loaded: LoadableSet, traced: bool = False) -> None:
        t0 = self.clock.now_ns()
        self.qsl.unload_samples_from_ram(list(loaded.indices))
        if traced and self.trace is not None:
            # "UnloadSampes" is the official event's name.
            count = {"count": len(loaded.indices)}
            self.trace.add_complete("UnloadSampes", t0, self.clock.now_ns() - t0, count)

    def loadable_sets(self, eff: EffectiveSettings, count: int) -> list[LoadableSet]:
        t0 = self.clock.now_ns()
        sets = generate_loadable_sets(eff, count, self.qsl.total_sample_count())
        if self.trace is not None:
            self.trace.add_complete("GenerateLoadableSets", t0, self.clock.now_ns() - t0)
        return sets

    # --- one series --------------------------------------------------------------------------

    def run_series(
        self, eff: EffectiveSettings, loaded: LoadableSet, accuracy_mode: bool
    ) -> tuple[GeneratedQueries, IssueOutcome, Series]:
        now = self.clock.now_ns
        t0 = now()
        gen = generate_queries(eff, loaded, accuracy_mode, self.seq)
        if self.trace is not None:
            self.trace.add_complete("GenerateQueries", t0, now() - t0, {})
        detail = self.detail
        detail.log("generated_query_count", gen.query_count)
        detail.log("generated_samples_per_query", gen.samples_per_query)
        detail.log("generated_query_duration", gen.duration_ns)

        mask = None if accuracy_mode else accuracy_log_mask(eff, gen)
        gen.accuracy_log_vals = np.zeros(0)  # the mask was all they are for: 8 bytes a sample
        log_responses = accuracy_mode or mask is not None
        series = Series(
            gen.sample_index,
            gen.first_sample_seq,
            error_sink=self.error,
            warning_sink=self.warning,
            accuracy_sink=self.accuracy.add if log_responses else None,
            log_mask=mask,
            log_all=accuracy_mode,
            token_latencies=eff.use_token_latencies,
            needs_first_token=eff.needs_first_token,
            clock=self.clock,
        )
        if self.trace is not None:
            series.completion_stamps = self.trace.completions
            series.first_token_stamps = self.trace.first_tokens
        queries = QueryChunks(gen, series.base)
        with frozen_heap():
            outcome = self._issue(eff, series, queries, accuracy_mode)
        for name in (
            "logger_swap_request_slots_retry_count",
            "logger_swap_request_slots_retry_retry_count",
            "logger_swap_request_slots_retry_reencounter_count",
            "logger_start_reading_entries_retry_count",
            "logger_tls_total_log_cas_fail_count",
            "logger_tls_total_swap_buffers_slot_retry_count",
        ):
            detail.log(name, 0)
        done = series.done
        last_done = int(done[: outcome.samples_issued].max(initial=0))
        begin = _wall_time(self.clock) - timedelta(microseconds=(now() - outcome.start_ns) / 1000)
        active = max(0, last_done - outcome.start_ns)
        detail.log("power_begin", _power_time(begin))
        detail.log("power_end", _power_time(begin + timedelta(microseconds=active / 1000)))
        if self.trace is not None:
            self._trace_series(eff, gen, outcome, series)
        if outcome.stopped_by is not None:
            _completion.set_active(None)
            self.error(f"Test aborted: {outcome.stopped_by}")
            raise TestAborted(outcome.stopped_by)
        return gen, outcome, series

    def _issue(
        self,
        eff: EffectiveSettings,
        series: Series,
        queries: QueryChunks,
        accuracy_mode: bool,
    ) -> IssueOutcome:
        """Issue the series' queries and wait until they completed (or why they did not)."""
        detail = self.detail
        _completion.set_active(series)
        pending = _completion.peek_pending_abort()  # after set_active, so no AbortTest is lost
        if pending is not None:
            series.abort(pending)
        coalesce = eff.scenario == TestScenario.Server and bool(
            eff.requested.server_coalesce_queries
        )
        outcome = issue_queries(
            self.sut,
            eff,
            queries,
            series,
            accuracy_mode,
            self.stall_timeout_ns,
            self.clock,
            coalesce=coalesce,
            trace=self.trace is not None,
        )
        for key, text, is_error in outcome.end_messages:
            detail.log(key, text, error=is_error)
        self.sut.flush_queries()
        if outcome.ran_out:
            detail.log(
                "error_runtime",
                "Ending early: Ran out of generated queries to issue before the minimum query "
                "count and test duration were reached. Please update the relevant expected "
                "latency or target qps in the TestSettings so they are more accurate.",
                error=True,
            )
        if outcome.stopped_by is None:
            deadline = None
            if eff.max_duration_ms:
                grace_ns = max(1_000_000_000, eff.max_duration_ms * 100_000)
                deadline = outcome.start_ns + eff.max_duration_ms * 1_000_000 + grace_ns
            outcome.stopped_by = series.wait_for(
                outcome.samples_issued, deadline, self.stall_timeout_ns
            )
        if not series.wait_logged(self.stall_timeout_ns / 1e9):
            self.error("accuracy logging (or a response_cb) did not finish; entries may be missing")
        return outcome

    def _trace_series(
        self, eff: EffectiveSettings, gen: GeneratedQueries, out: IssueOutcome, series: Series
    ) -> None:
        """The series' events, from the stamps the issue loop and the completions kept."""
        trace = self.trace
        assert trace is not None and out.issue_end_ns is not None
        nq = out.queries_issued
        server = eff.scenario == TestScenario.Server
        # Issue-loop iterations (a coalesced query is one): each starts where the previous
        # one's IssueQuery returned, waits until its issue time, and ends with its IssueQuery.
        ends = out.issue_end_ns[:nq]
        iteration = ends != FOLDED
        issued = np.asarray(out.issue_ns[:nq], dtype=np.int64)
        began = issued[iteration]
        ended = ends[iteration]
        starts = np.concatenate(([out.start_ns], ended))[: len(ended)]
        tid = threading.get_native_id()  # the loop ran on this thread
        if eff.scenario != TestScenario.Offline:
            trace.add_spans("Scheduling" if server else "Waiting", tid, starts, began)
        trace.add_spans("IssueQuery", tid, began, ended)
        trace.add_spans("SampleLoop", tid, starts, ended)
        trace.add_calls("QuerySamplesComplete", trace.completions)
        trace.add_calls("FirstTokenComplete", trace.first_tokens)
        # Samples: those completed, with their sequence ids, which count across series.
        n = out.samples_issued
        counts = np.diff(gen.query_offsets[: nq + 1])
        qidx = np.repeat(np.arange(nq, dtype=np.int64), counts)
        sched = _scheduled_abs(eff, gen, out)[qidx]
        issue = issued[qidx]
        seq = np.arange(gen.first_sample_seq, gen.first_sample_seq + n, dtype=np.int64)
        query_seq = gen.first_query_seq + qidx
        index = gen.sample_index[:n]
        for times, pair, counter in (
            (series.done, "Sample", "Latency"),
            (series.first_token, "Token", "Token_Latency"),
        ):
            if times is None:
                continue
            done = np.asarray(times[:n], dtype=np.int64)
            ok = done != 0  # the series' mark for "not (yet) completed"
            # Server first tokens are counters only, as officially.
            trace.add_samples(
                seq[ok], query_seq[ok], index[ok], sched[ok], issue[ok], done[ok],
                name=None if server and pair == "Token" else pair,
                counter=counter if server else None,
            )  # fmt: skip

    # --- modes -------------------------------------------------------------------------------

    def accuracy_run(self, eff: EffectiveSettings) -> None:
        self.detail.log("generic_message", "Starting accuracy mode")
        for loaded in self.loadable_sets(eff, eff.accuracy_sample_count):
            self.load(loaded, traced=True)
            try:
                self.run_series(eff, loaded, accuracy_mode=True)
            finally:
                self.unload(loaded, traced=True)

    def performance_probe(
        self, eff: EffectiveSettings, loaded: LoadableSet
    ) -> tuple[PerformanceResult, np.ndarray]:
        gen, outcome, series = self.run_series(eff, loaded, accuracy_mode=False)
        record = _performance_record(eff, gen, outcome, series)
        return compute_results(record, in_place=True), record.issue_delay_ns

    def performance_run(self, eff: EffectiveSettings) -> tuple[PerformanceResult, np.ndarray]:
        self.detail.log("generic_message", "Starting performance mode")
        loaded = self.performance_set(eff)
        self.load(loaded)
        try:
            pc0, sc0 = self.clock.now_ns(), self.clock.wall_ns()
            if eff.print_timestamps:
                print(f"Loadgen :: Perf mode start. system_clock Timestamp = {sc0 // 10**9}")
            result, delays = self.performance_probe(eff, loaded)
            self._clock_check(eff, pc0, sc0)
            self.log_result(result)
        finally:
            self.unload(loaded)
        return result, delays

    def performance_set(self, eff: EffectiveSettings) -> LoadableSet:
        return self.loadable_sets(eff, eff.performance_sample_count)[0]

    def log_result(self, result: PerformanceResult) -> None:
        self.sut.name()  # the official LoadGen asks for the name again for every summary
        log_results(self.detail, result)

    def _clock_check(self, eff: EffectiveSettings, pc0: int, sc0: int) -> None:
        pc_ms = (self.clock.now_ns() - pc0) // 1_000_000
        sc_ms = (self.clock.wall_ns() - sc0) // 1_000_000
        if eff.print_timestamps:
            stop = self.clock.wall_ns() // 10**9
            print(f"Loadgen :: Perf mode stop. system_clock Timestamp = {stop}")
            print(f"Loadgen :: PerfClock Perf duration = {pc_ms}ms")
            print(f"Loadgen :: system_clock Perf duration = {sc_ms}ms")
        ratio = pc_ms / sc_ms if sc_ms else float("inf") if pc_ms else float("nan")
        if ratio > 1.01 or ratio < 0.99:
            self.detail.log(
                "error_runtime",
                f"PerfClock and system_clock differ by more than 1%!  pc_sc_ratio: {ratio:g}",
                error=True,
            )
        elif ratio > 1.001 or ratio < 0.999:
            self.detail.log(
                "warning_generic_message",
                f"PerfClock and system_clock differ by more than 0.1%!  pc_sc_ratio: {ratio:g}",
                warning=True,
            )

    def find_peak(self, eff: EffectiveSettings) -> tuple[PerformanceResult | None, float | None]:
        """FindPeakPerformance (spec §3.8): bounds doubling, then binary search on target QPS.

        Each probe loads a sample set of its own, except those of the binary search, which
        share one set made from its upper bound.
        """
        shared: list[LoadableSet] = []

        def probe(settings: EffectiveSettings) -> PerformanceResult:
            if shared:
                return self.performance_probe(settings, shared[0])[0]
            loaded = self.performance_set(settings)
            self.load(loaded)
            try:
                return self.performance_probe(settings, loaded)[0]
            finally:
                self.unload(loaded)

        @contextlib.contextmanager
        def bisecting(upper: EffectiveSettings) -> Iterator[None]:
            loaded = self.performance_set(upper)
            self.load(loaded)
            shared.append(loaded)
            try:
                yield
            finally:
                shared.clear()
                self.unload(loaded)

        result, peak_qps = find_peak_performance(eff, probe, self.detail, bisecting)
        if result is not None:
            self.log_result(result)
        return result, peak_qps


def _scheduled_abs(eff: EffectiveSettings, gen: GeneratedQueries, out: IssueOutcome) -> np.ndarray:
    """Absolute time latency is measured from, per issued query (spec §3.5)."""
    nq = out.queries_issued
    if eff.scenario == TestScenario.Server:
        return out.start_ns + gen.scheduled_offset_ns[:nq].astype(np.int64)
    if eff.scenario == TestScenario.Offline:
        return np.full(nq, out.start_ns, dtype=np.int64)
    return np.asarray(out.issue_ns[:nq], dtype=np.int64)


def _performance_record(
    eff: EffectiveSettings, gen: GeneratedQueries, out: IssueOutcome, series: Series
) -> PerformanceRecord:
    """The run's per-sample latencies and per-query figures, made with as few per-sample
    temporaries as possible (a long run's peak memory is set here)."""
    nq = out.queries_issued
    ns = out.samples_issued
    start = out.start_ns
    scenario = eff.scenario
    offsets = np.asarray(gen.query_offsets[: nq + 1], dtype=np.int64)
    done = np.asarray(series.done[:ns], dtype=np.int64)
    issue = np.asarray(out.issue_ns[:nq], dtype=np.int64)
    # Latency counts from each query's scheduled time (spec §3.5, _scheduled_abs): in Server
    # start + its offset, in Offline start, otherwise its issue time. In int64, wrapping as
    # the sum does: done - (base + per_query) == (done - base) - per_query.
    if scenario == TestScenario.Server:
        base, per_query = start, np.asarray(gen.scheduled_offset_ns[:nq], dtype=np.int64)
    elif scenario == TestScenario.Offline:
        base, per_query = start, None
    else:
        base, per_query = 0, issue
    latency = done - base
    if per_query is not None:
        latency -= per_query if ns == nq else np.repeat(per_query, np.diff(offsets))
    query_latency = np.zeros(0, np.int64)
    if scenario == TestScenario.MultiStream and nq:
        query_latency = np.maximum.reduceat(done, offsets[:-1]) - issue
    last_done = int(done[int(offsets[nq - 1]) :].max()) if nq else 0
    final_issue = int(issue[-1] - start) if nq else 0
    if per_query is not None and scenario == TestScenario.Server:
        # The issue times become the issue delays where they are: nothing reads them after.
        issue_delay = issue
        issue_delay -= start
        issue_delay -= per_query
    else:
        issue_delay = np.zeros(nq, dtype=np.int64)
    record = PerformanceRecord(
        settings=eff,
        queries_issued=nq,
        sample_latency_ns=latency,
        query_latency_ns=query_latency,
        final_query_scheduled_offset_ns=int(gen.scheduled_offset_ns[nq - 1]) if nq else 0,
        final_query_issue_offset_ns=final_issue,
        final_query_all_done_offset_ns=last_done - start if nq else 0,
        max_completion_offset_ns=int(done.max() - start) if ns else 0,
        issue_delay_ns=issue_delay,
    )
    if eff.use_token_latencies:
        assert series.first_token is not None and series.n_tokens is not None
        n_tokens = np.asarray(series.n_tokens[:ns], dtype=np.int64)
        if eff.needs_first_token:
            first = np.asarray(series.first_token[:ns], dtype=np.int64)
            ttft = np.where(first > 0, first - (done - latency), 0)  # from the scheduled time
        else:
            ttft = np.zeros(ns, dtype=np.int64)
        record.first_token_latency_ns = ttft
        record.time_per_output_token_ns = _tpot(latency, ttft, n_tokens)
        record.token_count = int(n_tokens.sum())  # invalid counts are held as 0
    return record


def _tpot(latency: np.ndarray, ttft: np.ndarray, n_tokens: np.ndarray) -> np.ndarray:
    """(latency - TTFT) / (n_tokens - 1), truncated toward zero as in C++.

    A sample whose token count was invalid (0, 1 or negative; its error is logged when it
    completes) holds 0 tokens, so it divides by -1, as the official LoadGen does.
    """
    num = latency - ttft
    den = n_tokens - 1
    quotient = np.abs(num) // np.abs(den)
    return np.where((num < 0) != (den < 0), -quotient, quotient)


def run_test(
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    settings: TestSettings,
    log_settings: LogSettings | None = None,
    audit_config: str = "audit.config",
    *,
    stall_timeout_s: float | None = None,
    clock: Clock | None = None,
) -> TestReport:
    """Run one test and return its report; the Pythonic core of StartTest.

    ``clock`` is the time the run lives in (``loadgen.clock``): the real monotonic clock by
    default, or a ``VirtualClock`` for tests of timing logic. Raises ValueError for settings
    no run can use, LogOutputError when the logs cannot be written and TestAborted when the run
    was aborted or the SUT stopped answering (the logs are written). Settings the official
    LoadGen logs an error for and runs past the end of its sample set on
    (performance_issue_same_index) stop the run instead: logged, and ``stopped`` says why.
    """
    if log_settings is None:
        log_settings = LogSettings()
    scenario = coerce_enum(TestScenario, settings.scenario, "TestSettings.scenario")
    mode = coerce_enum(TestMode, settings.mode, "TestSettings.mode")
    _completion.take_pending_abort()
    if clock is None:
        clock = RealClock()
    files = open_log_files(log_settings.log_output)
    now = clock.now_ns
    origin = now()
    out = log_settings.log_output
    detail = DetailLog(
        files.detail, origin, copy_to_stdout=out.copy_detail_to_stdout, now=clock.now_ns
    )
    accuracy = AccuracyLog(files.accuracy)
    trace = TraceLog(files.trace, origin, clock) if log_settings.enable_trace else None
    report = TestReport(
        summary_path=files.summary_path,
        detail_path=files.detail_path,
        accuracy_path=files.accuracy_path,
        trace_path=files.trace_path,
        sut_name="",
    )
    result: PerformanceResult | None = None
    eff: EffectiveSettings | None = None
    failure: str | None = None
    try:
        detail.write_pending(_pending(clock))
        t0 = now()
        sut_name = sut.name()
        name_ns = now() - t0
        report.sut_name = sut_name
        log_version_info(detail)
        total = int(qsl.total_sample_count())
        perf = int(qsl.performance_sample_count())
        log_test_start(detail, sut_name, name_ns, qsl.name(), total, perf)

        requested = settings.copy()
        requested.scenario = scenario
        requested.mode = mode
        if audit_config and os.path.isfile(audit_config):
            apply_audit_config(requested, audit_config, scenario.name)
        apply_test05(requested)
        detail.write_pending(_pending(clock))
        requested.scenario = coerce_enum(TestScenario, requested.scenario, "scenario")
        requested.mode = coerce_enum(TestMode, requested.mode, "mode")
        eff = effective_settings(requested, perf, total)
        log_requested_settings(detail, requested)
        log_effective_settings(detail, eff)
        for problem in eff.problems:
            detail.log("error_invalid_test_settings", problem, error=True)

        stall_ns = _stall_timeout_ns(stall_timeout_s)
        run = _TestRun(sut, qsl, detail, accuracy, trace, stall_ns, clock)
        try:
            if eff.mode in (TestMode.SubmissionRun, TestMode.AccuracyOnly):
                run.accuracy_run(eff)
            if eff.mode in (TestMode.SubmissionRun, TestMode.PerformanceOnly):
                result, report.issue_delay_ns = run.performance_run(eff)
            elif eff.mode == TestMode.FindPeakPerformance:
                result, report.find_peak_qps = run.find_peak(eff)
        except OutsideLoadedSet as exc:
            # The official LoadGen logs the settings error and runs on garbage sample
            # indices; stop instead, logged, and return as it returns.
            failure = report.stopped = f"Test stopped: {exc}"
            log_failure(detail, failure)
        report.result = result
    except BaseException as exc:
        if eff is not None:  # a run had started: its logs must not look finished
            failure = _failure_reason(exc)
            log_failure(detail, failure, error_logged=isinstance(exc, TestAborted))
        raise
    finally:
        _completion.set_active(None)
        report.errors = detail.error_count
        report.warnings = detail.warning_count
        try:
            if eff is not None:
                write_summary(
                    files.summary,
                    report.sut_name,
                    eff,
                    result,
                    detail.warning_count,
                    detail.error_count,
                    failure,
                )
        finally:
            accuracy.close()
            if trace is not None:
                trace.close()
            detail.close()
            files.close()
    if out.copy_summary_to_stdout:
        with open(files.summary_path, encoding="utf-8") as f:
            sys.stdout.write(f.read())
    return report


def _pending(clock: Clock) -> list[PendingEntry]:
    """The entries logged before the test; on another clock than the real one, stamped now
    (their real-time stamps mean nothing there)."""
    entries = drain_pending()
    if isinstance(clock, RealClock):
        return entries
    t = clock.now_ns()
    return [dataclasses.replace(e, time_ns=t) for e in entries]


def _failure_reason(exc: BaseException) -> str:
    """Why a run ended early, for its summary and detail log."""
    if isinstance(exc, TestAborted):
        return f"Test aborted: {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "Test interrupted (SIGINT) before it finished"
    return f"Test failed: {type(exc).__name__}: {exc}"


__all__ = ["TestAborted", "TestReport", "run_test", "perf_constraints_met"]
