"""mlperf_log_detail.txt: one ``:::MLLOG {json}`` line per entry, and the blocks a test logs.

The submission checker and the compliance scripts read this file with a strict parser: the
first line must start with ``:::MLLOG``, every marked line must be valid JSON, and values are
looked up by key. So every value is written as JSON (strings escaped, inf/nan as
Infinity/NaN), while the rest of the layout (key order, ``%g`` doubles, the ``time_ms`` format,
the metadata) follows the official LoadGen (spec §6.1, §6.3, §6.4).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import pathlib
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any, TextIO

import numpy as np

from ._effective import EffectiveSettings
from ._enums import TestMode, TestScenario
from ._log_files import current_test_datetime
from ._pending_log import PendingEntry
from ._results import PERCENTILES, LatencyStats, PerformanceResult
from ._settings import TestSettings

MARKER = ":::MLLOG "
_U64 = 1 << 64
_PACKAGE_DIR = pathlib.Path(__file__).resolve().parent
_PENDING_FILE = "_pending_log.py"  # metadata of entries logged before the test started


# Characters some line readers (str.splitlines) treat as line breaks: escape them too.
_LINE_BREAKS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _json_str(text: str) -> str:
    """A JSON string literal; non-ASCII stays raw UTF-8 unless it cannot be encoded."""
    if text.isascii():
        return json.dumps(text)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: escape everything instead
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False).translate(_LINE_BREAKS)


def format_value(value: object) -> str:
    """A value as JSON text, with the official number formats (ints decimal, doubles %g)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _json_str(value.name)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return "NaN"
        if math.isinf(x):
            return "Infinity" if x > 0 else "-Infinity"
        return format(x, "g")
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return "[" + ",".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = (f"{_json_str(str(k))}:{format_value(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if value is None:
        return "null"
    return _json_str(str(value))


def format_time_ms(offset_ns: int) -> str:
    """Milliseconds with a 6-digit ns remainder; negative offsets wrap like the official uint64."""
    u = offset_ns % _U64
    return f"{u // 1_000_000}.{u % 1_000_000:06d}"


class DetailLog:
    """Thread-safe writer of detail-log lines to a text stream.

    ``origin_ns`` is the test's start stamp on the run's clock (``now``, by default
    ``time.perf_counter_ns``); each line's ``time_ms`` is measured from it. ``file``/``line_no``
    name the Python code that logged the entry. Errors flush the stream at once, so they
    survive a crash.
    """

    def __init__(
        self,
        stream: TextIO,
        origin_ns: int,
        copy_to_stdout: bool = False,
        now: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self.now = now
        self._stream = stream
        self._origin_ns = origin_ns
        self._copy_to_stdout = copy_to_stdout
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        self.error_count = 0
        self.warning_count = 0

    def log(
        self,
        key: str,
        value: object,
        *,
        error: bool = False,
        warning: bool = False,
        time_ns: int | None = None,
    ) -> None:
        """Write one entry; ``time_ns`` defaults to now (entries of one block share a stamp)."""
        frame = sys._getframe(1)
        file = os.path.basename(frame.f_code.co_filename)
        self._write(key, value, error, warning, time_ns, file, frame.f_lineno)

    def write_pending(self, entries: Iterable[PendingEntry]) -> None:
        """Write entries logged before the test (e.g. config errors), counting their errors."""
        for e in entries:
            file = getattr(e, "file", _PENDING_FILE)
            line_no = getattr(e, "line_no", 0)
            self._write(e.key, e.value, e.is_error, e.is_warning, e.time_ns, file, line_no)

    def _write(
        self,
        key: str,
        value: object,
        error: bool,
        warning: bool,
        time_ns: int | None,
        file: str,
        line_no: int,
    ) -> None:
        if time_ns is None:
            time_ns = self.now()
        line = (
            f'{MARKER}{{"key": {format_value(str(key))}, "value": {format_value(value)}, '
            f'"time_ms": {format_time_ms(time_ns - self._origin_ns)}, '
            '"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": {'
            f'"is_error": {format_value(bool(error))}, '
            f'"is_warning": {format_value(bool(warning))}, '
            f'"file": {format_value(file)}, "line_no": {int(line_no)}, '
            f'"pid": {self._pid}, "tid": {threading.get_native_id()}}}}}\n'
        )
        with self._lock:
            if self._closed:
                print(
                    f"loadgen: detail log already closed; not written: {key}: {value!r}",
                    file=sys.stderr,
                )
                return
            if error:
                self.error_count += 1
            if warning:
                self.warning_count += 1
            self._stream.write(line)
            if self._copy_to_stdout:
                sys.stdout.write(line)
            if error:
                self._stream.flush()

    def flush(self) -> None:
        with self._lock:
            if not self._closed:
                self._stream.flush()

    def close(self) -> None:
        """Flush and stop accepting entries (the stream itself belongs to the caller)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._stream.flush()


# --- version block ---------------------------------------------------------------------------


def _our_version() -> str:
    try:
        return importlib.metadata.version("lon")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@functools.lru_cache(maxsize=1)
def _package_files() -> tuple[dict[str, str], float]:
    """SHA-1 of every file of this package ("/relative/path" -> hex) and the newest mtime."""
    digests: dict[str, str] = {}
    newest = 0.0
    for path in sorted(_PACKAGE_DIR.rglob("*")):
        if not path.is_file() or path.suffix not in (".py", ".conf", ".typed"):
            continue
        if "__pycache__" in path.parts:
            continue
        digests["/" + path.relative_to(_PACKAGE_DIR).as_posix()] = hashlib.sha1(
            path.read_bytes()
        ).hexdigest()
        newest = max(newest, path.stat().st_mtime)
    return digests, newest


def log_version_info(detail: DetailLog) -> None:
    """The version block, describing this LoadGen (never the official build).

    The build dates are the newest modification time of the package's files; there is no git
    information at run time, so the git keys say "NA" (which the official tools treat as
    "no status available", not as uncommitted changes).
    """
    now = detail.now()
    digests, newest = _package_files()
    local = datetime.fromtimestamp(newest).strftime("%Y-%m-%dT%H:%M:%S.%f")
    utc = datetime.fromtimestamp(newest, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    detail.log("loadgen_version", f"{_our_version()} @ lon", time_ns=now)
    detail.log("loadgen_build_date_local", local, time_ns=now)
    detail.log("loadgen_build_date_utc", utc, time_ns=now)
    detail.log("loadgen_git_commit_date", "NA", time_ns=now)
    detail.log("loadgen_git_log_message", "NA", time_ns=now)
    detail.log("loadgen_git_status_message", "NA", time_ns=now)
    detail.log("loadgen_file_sha1", digests, time_ns=now)


# --- test start --------------------------------------------------------------------------------


def log_test_start(
    detail: DetailLog,
    sut_name: str,
    sut_name_duration_ns: int,
    qsl_name: str,
    total: int,
    perf: int,
    *,
    test_datetime: str | None = None,
) -> None:
    """test_datetime, the SUT and QSL names and the QSL's counts (spec §6.4 item 2).

    Pass the ``test_datetime`` used for the log file names so both agree.
    """
    now = detail.now()
    stamp = test_datetime if test_datetime is not None else current_test_datetime()
    detail.log("test_datetime", stamp, time_ns=now)
    detail.log("sut_name", sut_name, time_ns=now)
    detail.log("get_sut_name_duration_ns", int(sut_name_duration_ns), time_ns=now)
    detail.log("qsl_name", qsl_name, time_ns=now)
    detail.log("qsl_reported_total_count", int(total), time_ns=now)
    detail.log("qsl_reported_performance_count", int(perf), time_ns=now)


# --- settings --------------------------------------------------------------------------------

# (field, C++ type) per scenario, in the official order. "d" double, "u" integer, "b" bool.
_REQUESTED_BY_SCENARIO: dict[TestScenario, tuple[tuple[str, str], ...]] = {
    TestScenario.SingleStream: (
        ("single_stream_expected_latency_ns", "d"),
        ("single_stream_target_latency_percentile", "d"),
    ),
    TestScenario.MultiStream: (
        ("multi_stream_expected_latency_ns", "d"),
        ("multi_stream_target_latency_percentile", "d"),
        ("multi_stream_samples_per_query", "u"),
    ),
    TestScenario.Server: (
        ("server_target_qps", "d"),
        ("server_target_latency_ns", "u"),
        ("server_target_latency_percentile", "d"),
        ("server_coalesce_queries", "b"),
        ("server_find_peak_qps_decimals_of_precision", "u"),
        ("server_find_peak_qps_boundary_step_size", "d"),
        ("server_max_async_queries", "u"),
        ("server_num_issue_query_threads", "u"),
    ),
    TestScenario.Offline: (("offline_expected_qps", "d"),),
}

_REQUESTED_COMMON: tuple[tuple[str, str], ...] = (
    ("min_duration_ms", "u"),
    ("max_duration_ms", "u"),
    ("min_query_count", "u"),
    ("max_query_count", "u"),
    ("qsl_rng_seed", "u"),
    ("sample_index_rng_seed", "u"),
    ("schedule_rng_seed", "u"),
    ("accuracy_log_rng_seed", "u"),
    ("accuracy_log_probability", "d"),
    ("accuracy_log_sampling_target", "u"),
    ("print_timestamps", "b"),
    ("performance_issue_unique", "b"),
    ("performance_issue_same", "b"),
    ("performance_issue_same_index", "u"),
    ("performance_sample_count_override", "u"),
    ("accuracy_sample_count_override", "u"),
    ("sample_concatenate_permutation", "b"),
)

_EFFECTIVE: tuple[tuple[str, str], ...] = (
    ("samples_per_query", "u"),
    ("target_qps", "d"),
    ("target_latency_ns", "u"),
    ("target_latency_percentile", "d"),
    ("max_async_queries", "u"),
    ("target_duration_ms", "u"),
    ("min_duration_ms", "u"),
    ("max_duration_ms", "u"),
    ("min_query_count", "u"),
    ("max_query_count", "u"),
    ("min_sample_count", "u"),
    ("qsl_rng_seed", "u"),
    ("sample_index_rng_seed", "u"),
    ("schedule_rng_seed", "u"),
    ("accuracy_log_rng_seed", "u"),
    ("accuracy_log_probability", "d"),
    ("accuracy_log_sampling_target", "u"),
    ("print_timestamps", "b"),
    ("performance_issue_unique", "b"),
    ("performance_issue_same", "b"),
    ("performance_issue_same_index", "u"),
    ("performance_sample_count", "u"),
    ("accuracy_sample_count", "u"),
    ("sample_concatenate_permutation", "b"),
)


def _typed(value: Any, kind: str) -> object:
    """A settings value with its C++ type, so it prints as the official one (1e+06, not 1000000)."""
    if kind == "d":
        return float(value)
    if kind == "b":
        return bool(value)
    return int(value)


def _name(enum_type: type[enum.IntEnum], value: Any) -> str:
    return enum_type(value).name


def log_requested_settings(detail: DetailLog, settings: TestSettings) -> None:
    """The ``requested_*`` keys: the TestSettings after audit.config, running scenario only."""
    now = detail.now()
    scenario = TestScenario(settings.scenario)
    detail.log("requested_scenario", _name(TestScenario, scenario), time_ns=now)
    detail.log("requested_test_mode", _name(TestMode, settings.mode), time_ns=now)
    for attr, kind in _REQUESTED_BY_SCENARIO[scenario] + _REQUESTED_COMMON:
        detail.log(f"requested_{attr}", _typed(getattr(settings, attr), kind), time_ns=now)
    if settings.use_token_latencies:
        detail.log("requested_use_token_latencies", True, time_ns=now)
        if scenario != TestScenario.Offline:
            detail.log("requested_server_ttft_latency", int(settings.ttft_latency), time_ns=now)
            detail.log("requested_server_tpot_latency", int(settings.tpot_latency), time_ns=now)


def log_effective_settings(detail: DetailLog, effective: EffectiveSettings) -> None:
    """The ``effective_*`` keys: the normalised settings the run uses."""
    now = detail.now()
    detail.log("effective_scenario", _name(TestScenario, effective.scenario), time_ns=now)
    detail.log("effective_test_mode", _name(TestMode, effective.mode), time_ns=now)
    for attr, kind in _EFFECTIVE:
        detail.log(f"effective_{attr}", _typed(getattr(effective, attr), kind), time_ns=now)


# --- results ---------------------------------------------------------------------------------


def _pct_label(p: float) -> str:
    return f"{p * 100:.2f}"


def _log_stats_percentiles(detail: DetailLog, stats: LatencyStats, template: str, now: int) -> None:
    for p, value in zip(PERCENTILES, stats.percentiles):
        detail.log(template.format(_pct_label(p)), value, time_ns=now)


def log_results(detail: DetailLog, result: PerformanceResult) -> None:
    """The result block of a performance run (spec §6.4 item 8), ending with ``num_errors``."""
    now = detail.now()
    s = result.settings
    scenario = s.scenario

    def log(key: str, value: object) -> None:
        detail.log(key, value, time_ns=now)

    log("result_validity", "VALID" if result.valid else "INVALID")
    if result.has_perf_constraints:
        log("result_perf_constraints_met", result.perf_constraints_met)
    log("result_min_duration_met", result.min_duration_met)
    log("result_min_queries_met", result.min_queries_met)
    log("early_stopping_met", result.early_stopping_met)
    if not result.valid:
        log("result_invalid_reason", result.invalid_reason)
    if not s.use_token_latencies:
        log("early_stopping_result", result.early_stopping_text.replace("\n", " "))
    else:
        log("early_stopping_ttft_result", result.early_stopping_ttft_text.replace("\n", " "))
        log("early_stopping_tpot_result", result.early_stopping_tpot_text.replace("\n", " "))
    log("result_query_count", result.query_count)
    if scenario == TestScenario.Server:
        log("result_overlatency_query_count", result.overlatency_query_count)

    if scenario == TestScenario.SingleStream:
        log("result_qps_with_loadgen_overhead", result.qps_with_loadgen_overhead)
        log("result_qps_without_loadgen_overhead", result.qps_without_loadgen_overhead)
        log("early_stopping_latency_ss", result.early_stopping_latency_ss)
        log("early_stopping_latency_ms", result.early_stopping_latency_ms)
    elif scenario == TestScenario.MultiStream:
        q = result.queries or LatencyStats()
        log("result_min_query_latency_ns", q.min)
        log("result_max_query_latency_ns", q.max)
        log("result_mean_query_latency_ns", q.mean)
        _log_stats_percentiles(detail, q, "result_{}_percentile_per_query_latency_ns", now)
        log("early_stopping_latency_ms", result.early_stopping_latency_ms)
    elif scenario == TestScenario.Server:
        log("result_scheduled_samples_per_sec", result.scheduled_samples_per_sec)
        log("result_completed_samples_per_sec", result.completed_samples_per_sec)
    else:
        log("result_samples_per_second", result.samples_per_second)

    log("result_min_latency_ns", result.samples.min)
    log("result_max_latency_ns", result.samples.max)
    log("result_mean_latency_ns", result.samples.mean)
    _log_stats_percentiles(detail, result.samples, "result_{}_percentile_latency_ns", now)

    if s.use_token_latencies:
        if scenario != TestScenario.Offline:
            ttft = result.first_token or LatencyStats()
            tpot = result.time_per_output_token or LatencyStats()
            log("result_first_token_min_latency_ns", ttft.min)
            log("result_first_token_max_latency_ns", ttft.max)
            log("result_first_token_mean_latency_ns", ttft.mean)
            _log_stats_percentiles(detail, ttft, "result_first_token_{}_percentile_latency_ns", now)
            log(
                "result_token_throughput_with_loadgen_overhead",
                result.token_throughput_with_loadgen_overhead,
            )
            log("result_token_throughput", result.token_throughput)
            _log_stats_percentiles(
                detail, tpot, "result_time_per_output_token_{}_percentile_ns", now
            )
            log("result_time_to_output_token_min", tpot.min)
            log("result_time_to_output_token_max", tpot.max)
            log("result_time_to_output_token_mean", tpot.mean)
            log("result_completed_tokens_per_second", result.completed_tokens_per_second)
        else:
            log("result_tokens_per_second", result.tokens_per_second)

    if s.infer_token_latencies:
        if scenario == TestScenario.Server:
            log(
                "result_inferred_completed_tokens_per_second",
                result.inferred_completed_tokens_per_second,
            )
        elif scenario == TestScenario.Offline:
            log("result_inferred_tokens_per_second", result.inferred_tokens_per_second)
    log("num_errors", detail.error_count)
