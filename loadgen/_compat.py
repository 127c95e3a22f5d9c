"""The official ``mlperf_loadgen`` function names, as thin wrappers over the Pythonic core.

``import loadgen as mlperf_loadgen`` lets a benchmark written for the official bindings run
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable

from ._interfaces import (
    CallbackQDL,
    CallbackQSL,
    CallbackSUT,
    FastCallbackSUT,
    FastIssueCallback,
    FlushCallback,
    IssueCallback,
    QuerySampleLibrary,
    SystemUnderTest,
)
from ._run import run_test
from ._settings import LogSettings, TestSettings


def ConstructSUT(issue_cb: IssueCallback, flush_cb: FlushCallback) -> CallbackSUT:  # noqa: N802
    return CallbackSUT(issue_cb, flush_cb)


def ConstructFastSUT(  # noqa: N802
    fast_issue_cb: FastIssueCallback, flush_cb: FlushCallback
) -> FastCallbackSUT:
    return FastCallbackSUT(fast_issue_cb, flush_cb)


def ConstructQDL(  # noqa: N802
    issue_cb: IssueCallback, flush_cb: FlushCallback, name_cb: Callable[[], str]
) -> CallbackQDL:
    return CallbackQDL(issue_cb, flush_cb, name_cb)


def ConstructQSL(  # noqa: N802
    total_sample_count: int,
    performance_sample_count: int,
    load_samples_to_ram_cb: Callable[[list[int]], None],
    unload_samples_from_ram_cb: Callable[[list[int]], None],
) -> CallbackQSL:
    return CallbackQSL(
        total_sample_count,
        performance_sample_count,
        load_samples_to_ram_cb,
        unload_samples_from_ram_cb,
    )


def _destroy(handle: object) -> None:
    """Handles are plain Python objects; nothing to free. Kept for API compatibility."""


DestroySUT = DestroyFastSUT = DestroyQDL = DestroyQSL = _destroy


def StartTest(  # noqa: N802
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    test_settings: TestSettings,
    audit_config_filename: str = "audit.config",
) -> None:
    """Run a test with the default LogSettings; blocks until it is done."""
    run_test(sut, qsl, test_settings, LogSettings(), audit_config_filename)


def StartTestWithLogSettings(  # noqa: N802
    sut: SystemUnderTest,
    qsl: QuerySampleLibrary,
    test_settings: TestSettings,
    log_settings: LogSettings,
    audit_config_filename: str = "audit.config",
) -> None:
    """Run a test with explicit LogSettings; blocks until it is done."""
    run_test(sut, qsl, test_settings, log_settings, audit_config_filename)
