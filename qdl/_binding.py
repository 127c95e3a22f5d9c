"""Everything that differs between our LoadGen and the official one, behind one small interface.

A ``LoadgenBinding`` is a ``Completer`` (what the QDL calls during a run: complete samples and
first tokens, end a failed run) plus ``run``, which a command calls to wrap the QDL/QSL in
whatever handle the LoadGen wants and run a test. ``OurLoadgen`` uses ``loadgen``;
``OfficialLoadgen`` uses the ``mlperf_loadgen`` wheel, whose responses carry raw buffer
addresses that must stay valid until ``QuerySamplesComplete`` returns and which has no way to
abort a test.
"""

from __future__ import annotations

import abc
import ctypes
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import loadgen
from loadgen.logs import mark_run_failed, read_validity

from ._completer import Completer, Completion
from ._dispatch import QueryDispatchLibrary
from ._exceptions import ConfigError

LOADGENS = ("ours", "official")


@dataclass(frozen=True)
class RunReport:
    """How a test went, whichever LoadGen ran it.

    aborted:  why the run was cut short (a QDL failure), or None.
    finished: False when the LoadGen was still running when we stopped waiting for it (only
              the official LoadGen, which cannot be aborted, after a failure).
    """

    loadgen: str
    summary_path: str
    detail_path: str
    validity: str | None
    aborted: str | None = None
    finished: bool = True
    issue_delay_ns: Any = None  # Server: actual - scheduled issue per query (ours only)


class LoadgenBinding(Completer):
    """A LoadGen as the QDL (the ``Completer`` calls) and a command (``run``) need it."""

    name: str

    @abc.abstractmethod
    def run(
        self,
        sut: QueryDispatchLibrary,
        qsl: loadgen.QuerySampleLibrary,
        settings: loadgen.TestSettings,
        log_settings: loadgen.LogSettings,
        audit_config: str = "",
    ) -> RunReport:
        """Run one test of ``sut`` with ``qsl`` and return how it went."""


NOT_INSTALLED = (
    "the official LoadGen (module mlperf_loadgen) is not installed: "
    "pip install 'mlcommons-loadgen==6.0.17' (Linux), or the project's 'official' extra"
)


def make_binding(name: str) -> LoadgenBinding:
    if name == "ours":
        return OurLoadgen()
    if name == "official":
        return OfficialLoadgen()
    raise ConfigError(f"unknown loadgen {name!r}; expected one of {', '.join(LOADGENS)}")


def _log_path(log_settings: loadgen.LogSettings, kind: str) -> str:
    out = log_settings.log_output
    return os.path.join(out.outdir, f"{out.prefix}{kind}{out.suffix}.txt")


class OurLoadgen(LoadgenBinding):
    """The pure-Python ``loadgen``: the QDL and QSLs are its SUT and QSL directly."""

    name = "ours"
    REQUIRED = (
        "QuerySamplesComplete",
        "FirstTokenComplete",
        "AbortTest",
        "TestAborted",
        "run_test",
    )

    def __init__(self) -> None:
        missing = [n for n in self.REQUIRED if not hasattr(loadgen, n)]
        if missing:
            raise ConfigError(
                f"this loadgen does not provide {', '.join(missing)}; use --loadgen official"
            )

    def complete(self, completions: Sequence[Completion]) -> None:
        response = loadgen.QuerySampleResponse
        loadgen.QuerySamplesComplete(
            [response(rid, data, len(data), n) for rid, data, n in completions]
        )

    def first_token(self, completions: Sequence[Completion]) -> None:
        response = loadgen.QuerySampleResponse
        loadgen.FirstTokenComplete(
            [response(rid, data, len(data), n) for rid, data, n in completions]
        )

    def abort(self, reason: str, outstanding_ids: Sequence[int]) -> None:
        # Abort first, so completing the leftovers cannot make the run look finished.
        loadgen.AbortTest(reason)
        if outstanding_ids:
            self.complete([(rid, b"", 0) for rid in outstanding_ids])

    def run(
        self,
        sut: QueryDispatchLibrary,
        qsl: loadgen.QuerySampleLibrary,
        settings: loadgen.TestSettings,
        log_settings: loadgen.LogSettings,
        audit_config: str = "",
    ) -> RunReport:
        try:
            report = loadgen.run_test(sut, qsl, settings, log_settings, audit_config)
        except loadgen.TestAborted as exc:
            return RunReport(
                self.name,
                _log_path(log_settings, "summary"),
                _log_path(log_settings, "detail"),
                validity=None,
                aborted=sut.failure_message or str(exc),
            )
        server = settings.scenario == loadgen.TestScenario.Server
        return RunReport(
            self.name,
            report.summary_path,
            report.detail_path,
            report.validity,
            aborted=sut.failure_message,
            issue_delay_ns=report.issue_delay_ns if server else None,
        )


class OfficialLoadgen(LoadgenBinding):
    """The official ``mlperf_loadgen`` wheel.

    It cannot be aborted from Python, so after a failure the QDL completes every outstanding
    and every later sample at once with an empty response; an Offline run then ends at once.
    A run that would go on (Server issues until its duration is up) is given ``grace_s`` and
    then reported as unfinished, so the caller can exit instead of waiting it out.
    """

    name = "official"

    def __init__(self, grace_s: float = 10.0) -> None:
        try:
            import mlperf_loadgen
        except ImportError:
            raise ConfigError(NOT_INSTALLED) from None

        self._lg: Any = mlperf_loadgen
        self.grace_s = grace_s

    def _responses(self, completions: Sequence[Completion]) -> tuple[list[Any], list[Any]]:
        make = self._lg.QuerySampleResponse
        keep: list[Any] = []
        responses = []
        for rid, data, n_tokens in completions:
            if data:
                buf = ctypes.c_char_p(data)  # points into ``data``, which ``keep`` holds
                keep.append(buf)
                address = ctypes.cast(buf, ctypes.c_void_p).value or 0
            else:
                address = 0
            responses.append(make(rid, address, len(data), n_tokens))
        return responses, keep

    def complete(self, completions: Sequence[Completion]) -> None:
        responses, keep = self._responses(completions)
        self._lg.QuerySamplesComplete(responses)
        del keep  # the buffers may go only now that the LoadGen has copied what it logs

    def first_token(self, completions: Sequence[Completion]) -> None:
        responses, keep = self._responses(completions)
        self._lg.FirstTokenComplete(responses)
        del keep

    def abort(self, reason: str, outstanding_ids: Sequence[int]) -> None:
        if outstanding_ids:
            self.complete([(rid, b"", 0) for rid in outstanding_ids])

    def _settings(self, ours: loadgen.TestSettings) -> Any:
        theirs = self._lg.TestSettings()
        for name in dir(theirs):
            if name.startswith("_") or callable(getattr(theirs, name)):
                continue
            value = getattr(ours, name)
            if name == "scenario":
                value = self._lg.TestScenario.__members__[loadgen.TestScenario(value).name]
            elif name == "mode":
                value = self._lg.TestMode.__members__[loadgen.TestMode(value).name]
            setattr(theirs, name, value)
        return theirs

    def _log_settings(self, ours: loadgen.LogSettings) -> Any:
        theirs = self._lg.LogSettings()
        for name in (
            "outdir",
            "prefix",
            "suffix",
            "prefix_with_datetime",
            "copy_detail_to_stdout",
            "copy_summary_to_stdout",
        ):
            setattr(theirs.log_output, name, getattr(ours.log_output, name))
        theirs.enable_trace = ours.enable_trace
        return theirs

    def run(
        self,
        sut: QueryDispatchLibrary,
        qsl: loadgen.QuerySampleLibrary,
        settings: loadgen.TestSettings,
        log_settings: loadgen.LogSettings,
        audit_config: str = "",
    ) -> RunReport:
        lg = self._lg
        sut_handle = lg.ConstructQDL(sut.issue_query, sut.flush_queries, sut.name)
        qsl_handle = lg.ConstructQSL(
            qsl.total_sample_count(),
            qsl.performance_sample_count(),
            qsl.load_samples_to_ram,
            qsl.unload_samples_from_ram,
        )
        their_settings = self._settings(settings)
        their_log = self._log_settings(log_settings)
        errors: list[BaseException] = []

        def start() -> None:
            try:
                lg.StartTestWithLogSettings(
                    sut_handle, qsl_handle, their_settings, their_log, audit_config
                )
            except BaseException as exc:  # re-raised on the calling thread below
                errors.append(exc)

        worker = threading.Thread(target=start, name="official-loadgen", daemon=True)
        worker.start()
        finished = _wait_for(worker, sut, self.grace_s)
        if finished:
            lg.DestroyQSL(qsl_handle)
            lg.DestroyQDL(sut_handle)
            if errors:
                raise errors[0]
        summary = _log_path(log_settings, "summary")
        detail = _log_path(log_settings, "detail")
        failure = sut.failure_message
        if failure is not None:
            # It cannot be aborted: it wrote (or would write) the logs of a finished run.
            mark_run_failed(summary, detail, f"Test aborted: {failure}")
        return RunReport(
            self.name,
            summary,
            detail,
            read_validity(summary),
            aborted=failure,
            finished=finished,
        )


def _wait_for(worker: threading.Thread, sut: QueryDispatchLibrary, grace_s: float) -> bool:
    """Join ``worker``; once ``sut`` has failed, wait at most ``grace_s`` more."""
    failed_at: float | None = None
    while worker.is_alive():
        worker.join(0.2)
        if sut.failure_message is not None:
            if failed_at is None:
                failed_at = time.monotonic()
            elif time.monotonic() - failed_at > grace_s:
                return not worker.is_alive()
    return True
