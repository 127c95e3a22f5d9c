"""The detail log: exact line format, value formats, blocks, and the official key sequences."""

from __future__ import annotations

import enum
import io
import json
import os
import sys
import threading
import time

import numpy as np
import pytest

from loadgen._detail_log import (
    MARKER,
    DetailLog,
    format_time_ms,
    format_value,
    log_effective_settings,
    log_requested_settings,
    log_results,
    log_test_start,
    log_version_info,
)
from loadgen._effective import effective_settings
from loadgen._enums import TestMode, TestScenario
from loadgen._pending_log import PendingEntry
from loadgen._results import compute_results
from loadgen._settings import TestSettings

from . import official_logs
from .test_results import our_settings

HERE = os.path.basename(__file__)


def entries(text: str) -> list[dict]:
    lines = text.splitlines()
    assert lines, "empty log"
    for line in lines:
        assert line.startswith(MARKER), line
    return [json.loads(line[len(MARKER) :]) for line in lines]


def test_one_line_exactly():
    buf = io.StringIO()
    log = DetailLog(buf, origin_ns=1_000)
    line_no = sys._getframe().f_lineno + 1
    log.log("generated_query_count", 41, time_ns=1_000 + 12_345_678)
    assert buf.getvalue() == (
        ':::MLLOG {"key": "generated_query_count", "value": 41, "time_ms": 12.345678, '
        '"namespace": "mlperf::logging", "event_type": "POINT_IN_TIME", "metadata": '
        f'{{"is_error": false, "is_warning": false, "file": "{HERE}", "line_no": {line_no}, '
        f'"pid": {os.getpid()}, "tid": {threading.get_native_id()}}}}}\n'
    )


def test_time_ms_has_six_digit_remainder_and_wraps_negative_offsets():
    assert format_time_ms(0) == "0.000000"
    assert format_time_ms(6_839) == "0.006839"
    assert format_time_ms(14_708_904) == "14.708904"
    assert format_time_ms(-465_280) == "18446744073709.086336"  # as the official prints it


@pytest.mark.parametrize(
    "value, text",
    [
        (True, "true"),
        (False, "false"),
        (np.bool_(True), "true"),
        (0, "0"),
        (18446744073709551615, "18446744073709551615"),
        (np.int64(-3), "-3"),
        (1e6, "1e+06"),
        (0.9, "0.9"),
        (954.575, "954.575"),
        (4.28126e-05, "4.28126e-05"),
        (1000.0, "1000"),
        (0.9990000000000001, "0.999"),
        (np.float64(394552.96), "394553"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (float("nan"), "NaN"),
        ("VALID", '"VALID"'),
        ('say "hi"\n\tnow\\', '"say \\"hi\\"\\n\\tnow\\\\"'),
        ("\x01", '"\\u0001"'),
        ([3, 1, 2], "[3,1,2]"),
        (np.array([5, 6], dtype=np.int64), "[5,6]"),
        ([], "[]"),
        ({"/a.py": "ff", "/b": "00"}, '{"/a.py":"ff","/b":"00"}'),
        (TestScenario.Server, '"Server"'),
    ],
)
def test_value_formats(value, text):
    assert format_value(value) == text
    json.loads(text)  # Python's json also accepts Infinity/NaN, as the checker does


def test_strings_with_every_awkward_character_stay_valid_json():
    nasty = "".join(chr(c) for c in range(0, 0xA0)) + "é€\u2028\u2029"
    buf = io.StringIO()
    log = DetailLog(buf, 0)
    log.log(nasty, nasty)
    (entry,) = entries(buf.getvalue())
    assert entry["key"] == nasty and entry["value"] == nasty
    assert buf.getvalue().count("\n") == 1


def test_unencodable_text_is_escaped_so_the_utf8_file_can_take_it(tmp_path):
    with open(tmp_path / "d.txt", "w", encoding="utf-8") as f:
        DetailLog(f, 0).log("sut_name", "bad \udcff name")
    (entry,) = entries((tmp_path / "d.txt").read_text(encoding="utf-8"))
    assert entry["value"] == "bad \udcff name"


def test_errors_and_warnings_are_flagged_counted_and_flushed(tmp_path):
    path = tmp_path / "detail.txt"
    with open(path, "w", encoding="utf-8") as f:
        log = DetailLog(f, time.perf_counter_ns())
        log.log("generic_message", "x")
        log.log("warning_generic_message", "w", warning=True)
        log.log("error_runtime", "boom", error=True)
        # Flushed at once: visible to a reader while the file is still open.
        flagged = entries(path.read_text(encoding="utf-8"))
        assert [(e["metadata"]["is_error"], e["metadata"]["is_warning"]) for e in flagged] == [
            (False, False),
            (False, True),
            (True, False),
        ]
        assert (log.error_count, log.warning_count) == (1, 1)
        log.close()


def test_pending_entries_come_first_with_wrapped_times_and_count_as_errors():
    origin = time.perf_counter_ns()
    pending = [PendingEntry("error_invalid_config", "Multiple conf files", True, False, origin - 5)]
    buf = io.StringIO()
    log = DetailLog(buf, origin)
    log.write_pending(pending)
    log.log("loadgen_version", "v", time_ns=origin + 7)
    first, second = entries(buf.getvalue())
    assert first["key"] == "error_invalid_config" and first["metadata"]["is_error"] is True
    assert first["time_ms"] == pytest.approx(18446744073709.551611)
    assert buf.getvalue().split('"time_ms": ')[1].startswith("18446744073709.551611,")
    assert second["time_ms"] == 0.000007
    assert log.error_count == 1


def test_copy_to_stdout(capsys):
    buf = io.StringIO()
    DetailLog(buf, 0, copy_to_stdout=True).log("sut_name", "s")
    assert capsys.readouterr().out == buf.getvalue()


def test_logging_after_close_is_reported_not_written(capsys):
    buf = io.StringIO()
    log = DetailLog(buf, 0)
    log.close()
    log.log("error_runtime", "late", error=True)
    assert buf.getvalue() == ""
    assert "error_runtime" in capsys.readouterr().err


def test_many_threads_write_whole_lines():
    buf = io.StringIO()
    log = DetailLog(buf, 0)

    def work(k: int) -> None:
        for i in range(200):
            log.log(f"k{k}", "x" * (i % 50), error=i % 7 == 0)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = entries(buf.getvalue())
    assert len(got) == 1600
    assert log.error_count == 8 * len(range(0, 200, 7))
    assert len({e["metadata"]["tid"] for e in got}) >= 2


def test_version_block_names_this_loadgen_not_the_official_build():
    buf = io.StringIO()
    log = DetailLog(buf, 0)
    log_version_info(log)
    got = {e["key"]: e["value"] for e in entries(buf.getvalue())}
    assert list(got) == [
        "loadgen_version",
        "loadgen_build_date_local",
        "loadgen_build_date_utc",
        "loadgen_git_commit_date",
        "loadgen_git_log_message",
        "loadgen_git_status_message",
        "loadgen_file_sha1",
    ]
    assert got["loadgen_version"].endswith(" @ lon")
    assert not got["loadgen_version"].startswith("6.")
    assert "/_detail_log.py" in got["loadgen_file_sha1"]
    assert all(len(v) == 40 for v in got["loadgen_file_sha1"].values())
    assert got["loadgen_git_status_message"] == "NA"  # no "uncommitted changes" error
    assert log.error_count == 0


def test_test_start_block():
    buf = io.StringIO()
    log = DetailLog(buf, 0)
    log_test_start(log, "Network SUT", 338, "PyQSL", 100, 10, test_datetime="2026-01-02T03:04:05Z")
    got = [(e["key"], e["value"]) for e in entries(buf.getvalue())]
    assert got == [
        ("test_datetime", "2026-01-02T03:04:05Z"),
        ("sut_name", "Network SUT"),
        ("get_sut_name_duration_ns", 338),
        ("qsl_name", "PyQSL"),
        ("qsl_reported_total_count", 100),
        ("qsl_reported_performance_count", 10),
    ]
    assert len({e["time_ms"] for e in entries(buf.getvalue())}) == 1  # one block, one stamp


def test_requested_doubles_print_as_doubles_and_token_keys_appear_only_when_on():
    s = TestSettings()
    s.scenario = TestScenario.Offline
    s.offline_expected_qps = 1000  # an int given by the user is still a double
    buf = io.StringIO()
    log_requested_settings(DetailLog(buf, 0), s)
    assert '"key": "requested_offline_expected_qps", "value": 1000,' in buf.getvalue()
    assert "token" not in buf.getvalue()
    s.scenario = TestScenario.SingleStream
    s.use_token_latencies = True
    buf = io.StringIO()
    log_requested_settings(DetailLog(buf, 0), s)
    text = buf.getvalue()
    assert '"key": "requested_single_stream_expected_latency_ns", "value": 1e+06,' in text
    keys = [e["key"] for e in entries(text)]
    assert keys[-3:] == [
        "requested_use_token_latencies",
        "requested_server_ttft_latency",
        "requested_server_tpot_latency",
    ]


def test_results_block_ends_with_the_error_count():
    from .test_results import record, settings

    buf = io.StringIO()
    log = DetailLog(buf, 0)
    log.log("error_runtime", "x", error=True)
    log_results(log, compute_results(record(settings(TestScenario.Offline), [5], queries=1)))
    got = entries(buf.getvalue())
    assert got[-1]["key"] == "num_errors" and got[-1]["value"] == 1
    assert got[1]["key"] == "result_validity"


# --- the official key sequences --------------------------------------------------------------

VERSION_KEYS = {
    "loadgen_version",
    "loadgen_build_date_local",
    "loadgen_build_date_utc",
    "loadgen_git_commit_date",
    "loadgen_git_log_message",
    "loadgen_git_status_message",
    "loadgen_file_sha1",
}


def segments(keys: list[str]) -> dict[str, list[str]]:
    """The blocks this module writes, cut out of a whole detail log by their first keys."""

    def block(first: str, stop: str | None) -> list[str]:
        if first not in keys:
            return []
        i = keys.index(first)
        j = keys.index(stop, i) if stop and stop in keys[i:] else len(keys)
        return keys[i:j]

    return {
        "start": block("test_datetime", "requested_scenario"),
        "requested": block("requested_scenario", "effective_scenario"),
        "effective": [k for k in keys if k.startswith("effective_")],
        "results": block("result_validity", None),
    }


def our_full_log(run: official_logs.OfficialRun) -> str:
    """Our blocks for the official run's settings, with a record rebuilt from its trace."""
    requested = our_settings(run.settings)
    eff = effective_settings(requested, official_logs.PERFORMANCE_COUNT, official_logs.TOTAL_COUNT)
    buf = io.StringIO()
    log = DetailLog(buf, time.perf_counter_ns())
    log_version_info(log)
    log_test_start(log, "PySUT", 1, "PyQSL", official_logs.TOTAL_COUNT, 10)
    log_requested_settings(log, requested)
    log_effective_settings(log, eff)
    if eff.mode != TestMode.AccuracyOnly:
        log_results(log, compute_results(official_logs.record_from_trace(run, eff)))
    return buf.getvalue()


KEY_RUNS = [
    official_logs.run_settings(scenario, tokens)
    for scenario in ("SingleStream", "MultiStream", "Server", "Offline")
    for tokens in (False, True)
] + [
    official_logs.run_settings(
        "Offline", infer_token_latencies=True, token_latency_scaling_factor=7
    ),
    official_logs.run_settings(
        "Server", infer_token_latencies=True, token_latency_scaling_factor=7
    ),
    official_logs.run_settings("SingleStream", mode="AccuracyOnly"),
]


@pytest.fixture(scope="module")
def key_runs():
    pytest.importorskip("mlperf_loadgen")
    return official_logs.official_runs(*KEY_RUNS)


@pytest.mark.parametrize("index", range(len(KEY_RUNS)))
def test_key_sequences_and_settings_values_match_the_official_log(key_runs, index):
    run = key_runs[index]
    ours = entries(our_full_log(run))
    official_keys = [e["key"] for e in run.detail if e["key"] not in VERSION_KEYS]
    our_keys = [e["key"] for e in ours if e["key"] not in VERSION_KEYS]
    theirs_by_block, ours_by_block = segments(official_keys), segments(our_keys)
    assert ours_by_block == theirs_by_block
    assert theirs_by_block["requested"] and theirs_by_block["effective"]
    # Settings values are fully determined by the settings: equal, parsed as JSON.
    official_values = {e["key"]: e["value"] for e in run.detail}
    for e in ours:
        if e["key"].startswith(("requested_", "effective_", "qsl_reported_")):
            assert e["value"] == official_values[e["key"]], e["key"]


def test_first_line_and_every_line_parse_as_the_checker_requires(key_runs):
    text = our_full_log(key_runs[0])
    assert text.splitlines()[0].startswith(":::MLLOG")
    assert len(entries(text)) == text.count("\n")
    # The official log has the same marker on every line.
    assert all(line.startswith(":::MLLOG") for line in key_runs[0].detail_text.splitlines())


class _Color(enum.Enum):
    RED = 1


def test_enum_values_log_their_names():
    assert format_value(_Color.RED) == '"RED"'
