"""Config files: the official parser's rules and quirks, the key table, the embedded
mlperf.conf, the process-global first-call rule, and equivalence with the official wheel.

conf_type 1 touches a process-global counter, so every test of it runs in a fresh process;
in-process tests use conf_type 2 (user.conf rules without the counter) or conf_type 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import typing
from pathlib import Path

import pytest

from loadgen import TestMode, TestScenario, TestSettings, _config
from loadgen._config import (
    AUDIT_FOUND_MESSAGE,
    MULTIPLE_CONF_MESSAGE,
    TEST05_MESSAGE,
    ConfigError,
    apply_audit_config,
    apply_test05,
    config_errors,
    config_warnings,
    from_config,
    parse_config,
    set_field,
)
from loadgen._fields import TEST_SETTINGS_DEFAULTS
from loadgen._pending_log import PendingEntry, drain_pending, log_pending
from loadgen.config import check_settings, load_settings

CHILD_TIMEOUT_S = 60.0

# The official mlperf.conf seeds (v6.x).
QSL_SEED = 2085463073848966840
SAMPLE_INDEX_SEED = 2747215439041700203
SCHEDULE_SEED = 16159082839903944936


@pytest.fixture(autouse=True)
def empty_pending_log():
    """Every test starts and ends with an empty pending log (it is process-global)."""
    drain_pending()
    yield
    drain_pending()


def write(tmp_path: Path, text: str | bytes, name: str = "user.conf") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text))
    return str(path)


def apply(tmp_path: Path, text: str, model: str = "resnet50", scenario: str = "Offline"):
    """Apply ``text`` as a user.conf without the global counter; return (rc, settings)."""
    settings = TestSettings()
    rc = from_config(settings, write(tmp_path, text), model, scenario, 2)
    return rc, settings


def fields(settings: object) -> dict[str, object]:
    return {name: getattr(settings, name) for name in TEST_SETTINGS_DEFAULTS}


# --- the pending log ------------------------------------------------------------------------


def test_pending_log_returns_entries_in_order_and_clears():
    log_pending("a", 1)
    log_pending("b", "two", error=True)
    log_pending("c", 3.0, warning=True)
    entries = drain_pending()
    assert [(e.key, e.value, e.is_error, e.is_warning) for e in entries] == [
        ("a", 1, False, False),
        ("b", "two", True, False),
        ("c", 3.0, False, True),
    ]
    assert entries[0].time_ns <= entries[1].time_ns <= entries[2].time_ns
    assert isinstance(entries[0], PendingEntry)
    assert drain_pending() == []


def test_pending_log_keeps_every_entry_from_many_threads():
    def worker(n: int) -> None:
        for i in range(200):
            log_pending(f"t{n}", i)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    drained = []
    for t in threads:
        t.join()
        drained += drain_pending()
    drained += drain_pending()
    assert len(drained) == 800
    for n in range(4):
        assert [e.value for e in drained if e.key == f"t{n}"] == list(range(200))


# --- syntax ---------------------------------------------------------------------------------


def test_good_file_sets_fields(tmp_path):
    rc, s = apply(
        tmp_path,
        """\
        # a comment line
        resnet50.Offline.target_qps = 1234.5
        *.*.min_query_count = 100000

        resnet50.*.performance_sample_count_override = 2048
        """,
    )
    assert rc == 0
    assert s.offline_expected_qps == 1234.5
    assert s.min_query_count == 100000
    assert s.performance_sample_count_override == 2048
    changed = {k for k, v in fields(s).items() if v != TEST_SETTINGS_DEFAULTS[k]}
    assert changed == {
        "offline_expected_qps",
        "min_query_count",
        "performance_sample_count_override",
    }
    assert drain_pending() == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010", 8),  # strtoul base 0: leading 0 is octal
        ("0x20", 32),
        ("0X1f", 31),
        ("+7", 7),
        ("08", 0),  # not octal, so accepted as the double 8.0; the integer read stops at 0
        ("010.5", 8),
        ("1e3", 1),  # a double; the integer read stops at 'e'
        ("2.9", 2),
        ("-1", 2**64 - 1),  # strtoull wraps negatives
        ("99999999999999999999", 2**64 - 1),  # and saturates on overflow
    ],
)
def test_integer_values_read_like_strtoull(tmp_path, value, expected):
    rc, s = apply(tmp_path, f"*.*.min_query_count = {value}\n")
    assert (rc, s.min_query_count) == (0, expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("010", 10.0),  # strtod reads decimal
        ("0x20", 32.0),
        ("0x1.8p1", 3.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-2.5E-1", -0.25),
        ("INFINITY", float("inf")),
        ("0x1p99999", float("inf")),
    ],
)
def test_double_values_read_like_strtod(tmp_path, value, expected):
    rc, s = apply(tmp_path, f"*.Offline.target_qps = {value}\n")
    assert (rc, s.offline_expected_qps) == (0, expected)


def test_nan_value_is_accepted(tmp_path):
    rc, s = apply(tmp_path, "*.Offline.target_qps = nan(abc)\n")
    assert rc == 0
    assert s.offline_expected_qps != s.offline_expected_qps


def test_quirks_of_the_official_parser(tmp_path):
    rc, s = apply(
        tmp_path,
        """\
        *.*.max_query_count=5
        *.*.min_query_count = 5 6
        *.*.min_duration = 1
        *.*.min_duration = 2
        *.*.max_duration # = 9
        #comment = 3
        *.*.print_timestamps =
        """,
    )
    assert rc == 0
    assert s.max_query_count == 0  # 'k=v' is one token: ignored
    assert s.min_query_count == 6  # the last value wins
    assert s.min_duration_ms == 2  # a later line overrides
    assert s.max_duration_ms == 0  # '#' before the value ends the line
    assert s.print_timestamps is False
    assert drain_pending() == []  # none of these is an error


def test_skipped_lines_are_reported_on_stderr_as_warnings(tmp_path, capsys):
    rc, _ = apply(tmp_path, "*.*.max_query_count=5\n*.*.min_query_count = 5 6\n")
    assert rc == 0
    err = capsys.readouterr().err.splitlines()
    path = str(tmp_path / "user.conf")
    assert err[0].startswith(f"warning: {path}:1: key '*.*.max_query_count=5': ")
    assert err[1].startswith(f"warning: {path}:2: key '*.*.min_query_count': 2 values")


def test_tabs_vertical_tabs_and_crlf_separate_tokens(tmp_path):
    path = write(tmp_path, b"*.*.min_query_count\t=\x0b42\r\n*.*.max_query_count = 7\r\n")
    s = TestSettings()
    assert from_config(s, path, "resnet50", "Offline", 2) == 0
    assert (s.min_query_count, s.max_query_count) == (42, 7)


def test_keys_are_case_sensitive(tmp_path):
    rc, s = apply(tmp_path, "RESNET50.offline.min_query_count = 5\n*.*.Min_Query_Count = 6\n")
    assert (rc, s.min_query_count) == (0, 100)


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ("resnet50.Offline.target_qps = abc", "resnet50.Offline.target_qps", "value 'abc'"),
        ("*.*.min_query_count = 5 # five", "*.*.min_query_count", "own line"),
        ("*.*.min_query_count = #", "*.*.min_query_count", "where the value belongs"),
        ("*.*.min_query_count = 5 x", "*.*.min_query_count", "value 'x'"),
        ("#no space comment", "#no", "comment needs '# '"),
        ("*.*.min_query_count : 5", "*.*.min_query_count", "expected '='"),
        ("*.*.min_query_count = 0b101", "*.*.min_query_count", "value '0b101'"),
        ("*.*.min_query_count = 1_000", "*.*.min_query_count", "value '1_000'"),
        ("*.*.min_query_count = 0x", "*.*.min_query_count", "value '0x'"),
        ("*.*.min_query_count = 1e", "*.*.min_query_count", "value '1e'"),
        ("*.*.min_query_count = 5\u00a0", "*.*.min_query_count", "value '5\u00a0'"),
    ],
)
def test_malformed_line_names_file_line_and_key_and_applies_nothing(
    tmp_path, capsys, line, key, problem
):
    text = f"*.*.max_query_count = 9\n# comment\n{line}\n*.*.max_duration = 3\n"
    path = write(tmp_path, text)
    s = TestSettings()
    assert from_config(s, path, "resnet50", "Offline", 2) == -22
    assert fields(s) == fields(TestSettings())
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"{path}:3: key '{key}': ")
    assert problem in err[0]
    [entry] = drain_pending()
    assert (entry.key, entry.value, entry.is_error) == ("error_invalid_config", err[0], True)


def test_every_error_of_a_file_is_reported(tmp_path, capsys):
    path = write(tmp_path, "a.b.c = x\nok.ok.ok = 1\nd e f\n")
    assert from_config(TestSettings(), path, "m", "Offline", 2) == -22
    err = capsys.readouterr().err.splitlines()
    assert [e.split(": ")[0] for e in err] == [f"{path}:1", f"{path}:3"]
    assert len(drain_pending()) == 2


def test_missing_file_returns_enoent(tmp_path, capsys):
    s = TestSettings()
    path = str(tmp_path / "nope.conf")
    assert from_config(s, path, "resnet50", "Offline", 2) == -2
    assert path in capsys.readouterr().err
    [entry] = drain_pending()
    assert entry.key == "error_invalid_config" and path in str(entry.value)


def test_directory_is_an_error(tmp_path, capsys):
    # The official parser reads a directory as an empty file; we say what is wrong.
    assert from_config(TestSettings(), str(tmp_path), "resnet50", "Offline", 2) == -2
    assert "directory" in capsys.readouterr().err.lower()


def test_invalid_mode_is_logged_but_the_rest_applies(tmp_path, capsys):
    rc, s = apply(tmp_path, "*.*.mode = 7\n*.*.min_query_count = 3\n")
    assert rc == 0
    assert s.mode == TestMode.PerformanceOnly
    assert s.min_query_count == 3
    assert "user.conf:1: key '*.*.mode': value '7'" in capsys.readouterr().err
    [entry] = drain_pending()
    assert entry.key == "error_invalid_config" and entry.is_error


@pytest.mark.parametrize(("value", "mode"), [("0", 0), ("1", 1), ("3", 3), ("2.9", 2)])
def test_mode_values(tmp_path, value, mode):
    rc, s = apply(tmp_path, f"*.*.mode = {value}\n")
    assert (rc, s.mode) == (0, TestMode(mode))
    assert isinstance(s.mode, TestMode)


def test_non_utf8_bytes_do_not_break_anything(tmp_path, capsys):
    path = write(tmp_path, b"\xff.*.min_query_count = 5\n*.*.max_query_count = \xfe\n")
    assert from_config(TestSettings(), path, "resnet50", "Offline", 2) == -22
    assert "\\xfe" in capsys.readouterr().err


# --- lookup ---------------------------------------------------------------------------------

PRECEDENCE_LINES = [
    "resnet50.Offline.min_query_count = 1",
    "*.Offline.min_query_count = 2",
    "resnet50.*.min_query_count = 3",
    "*.*.min_query_count = 4",
]


@pytest.mark.parametrize("first", range(4))
def test_lookup_precedence(tmp_path, first):
    # Reversed order so that file order cannot explain the result.
    text = "\n".join(reversed(PRECEDENCE_LINES[first:])) + "\n"
    rc, s = apply(tmp_path, text)
    assert (rc, s.min_query_count) == (0, first + 1)


def test_other_models_and_scenarios_do_not_match(tmp_path):
    text = "resnet50x.*.min_query_count = 1\nresnet50.Server.min_query_count = 2\n"
    rc, s = apply(tmp_path, text)
    assert (rc, s.min_query_count) == (0, 100)


def test_fixed_lookup_scenarios_apply_whatever_the_run(tmp_path):
    rc, s = apply(
        tmp_path,
        """\
        *.Server.target_qps = 50
        *.Server.target_latency = 20
        *.Server.coalesce_queries = 1
        *.Server.max_async_queries = 4
        *.MultiStream.samples_per_query = 16
        *.MultiStream.target_latency = 80
        *.SingleStream.target_latency = 10
        *.Offline.min_query_count = 5
        """,
        scenario="SingleStream",
    )
    assert rc == 0
    assert s.server_target_qps == 50.0
    assert s.server_target_latency_ns == 20_000_000
    assert s.server_coalesce_queries is True
    assert s.server_max_async_queries == 4
    assert s.multi_stream_samples_per_query == 16
    assert s.multi_stream_expected_latency_ns == 80_000_000.0
    assert s.single_stream_expected_latency_ns == 10_000_000.0
    assert s.min_query_count == 100  # running-scenario key of another scenario


# --- conversions ----------------------------------------------------------------------------


def test_unit_conversions(tmp_path):
    rc, s = apply(
        tmp_path,
        """\
        *.SingleStream.target_latency_percentile = 99.9
        *.MultiStream.target_latency_percentile = 99
        *.Server.target_latency_percentile = 97
        *.Server.target_latency = 12.7
        *.SingleStream.target_latency = 0.5
        *.*.min_duration = 600000
        *.*.max_duration = 1000
        *.*.performance_issue_unique = 5
        *.*.sample_concatenate_permutation = 2
        *.*.print_timestamps = 3
        *.*.accuracy_log_rng_seed = 0x10
        *.*.accuracy_log_sampling_target = 64
        """,
    )
    assert rc == 0
    assert s.single_stream_target_latency_percentile == 0.9990000000000001
    assert s.multi_stream_target_latency_percentile == 0.99
    assert s.server_target_latency_percentile == 0.97
    assert s.server_target_latency_ns == 12_000_000  # read as an integer
    assert s.single_stream_expected_latency_ns == 500_000.0
    assert (s.min_duration_ms, s.max_duration_ms) == (600_000, 1000)
    assert s.performance_issue_unique is True  # != 0
    assert s.sample_concatenate_permutation is False  # only 1 means true
    assert s.print_timestamps is True
    assert (s.accuracy_log_rng_seed, s.accuracy_log_sampling_target) == (16, 64)


def test_integer_scaling_wraps_like_uint64(tmp_path):
    rc, s = apply(tmp_path, "*.Server.target_latency = -3\n")
    assert (rc, s.server_target_latency_ns) == (0, 2**64 - 3_000_000)


def test_max_async_queries_goes_through_a_c_int(tmp_path):
    rc, s = apply(tmp_path, "*.Server.max_async_queries = 2147483648\n")
    assert (rc, s.server_max_async_queries) == (0, 2**64 - 2**31)
    rc, s = apply(tmp_path, "*.Server.max_async_queries = 4294967301\n")
    assert (rc, s.server_max_async_queries) == (0, 5)


def test_token_latencies_need_their_switch(tmp_path):
    text = """\
        *.Server.ttft_latency = 2000
        *.Server.tpot_latency = 200
        *.*.token_latency_scaling_factor = 69
        """
    rc, s = apply(tmp_path, text)
    assert (rc, s.ttft_latency, s.tpot_latency, s.token_latency_scaling_factor) == (
        0,
        100_000_000,
        100_000_000,
        0,
    )
    switches = "*.*.use_token_latencies = 1\n*.*.infer_token_latencies = 1\n"
    rc, s = apply(tmp_path, textwrap.dedent(text) + switches)
    assert (rc, s.ttft_latency, s.tpot_latency, s.token_latency_scaling_factor) == (
        0,
        2_000_000_000,
        200_000_000,
        69,
    )
    assert s.use_token_latencies and s.infer_token_latencies


def test_token_switch_already_set_in_code_is_enough(tmp_path):
    s = TestSettings()
    s.use_token_latencies = True
    path = write(tmp_path, "*.Server.ttft_latency = 450\n")
    assert from_config(s, path, "m", "Offline", 2) == 0
    assert s.ttft_latency == 450_000_000


def test_seeds_and_test05_are_ignored_outside_mlperf_conf(tmp_path):
    rc, s = apply(
        tmp_path,
        """\
        *.*.qsl_rng_seed = 1
        *.*.sample_index_rng_seed = 2
        *.*.schedule_rng_seed = 3
        *.*.accuracy_log_probability = 50
        *.*.test05 = 1
        *.*.test05_qsl_rng_seed = 4
        """,
    )
    assert rc == 0
    assert fields(s) == fields(TestSettings())


def test_keys_nobody_reads_are_harmless(tmp_path):
    rc, s = apply(tmp_path, "*.Server.target_duration = 0\n*.*.scenario = 2\nnodots = 1\n")
    assert rc == 0
    assert fields(s) == fields(TestSettings())


# --- the embedded mlperf.conf ---------------------------------------------------------------


def embedded(model: str, scenario: str) -> TestSettings:
    s = TestSettings()
    assert from_config(s, "ignored", model, scenario, 0) == 0
    return s


def test_embedded_mlperf_conf_values():
    s = embedded("resnet50", "Offline")
    assert s.min_query_count == 24576
    assert s.performance_sample_count_override == 1024
    assert s.min_duration_ms == 600_000
    assert (s.qsl_rng_seed, s.sample_index_rng_seed, s.schedule_rng_seed) == (
        QSL_SEED,
        SAMPLE_INDEX_SEED,
        SCHEDULE_SEED,
    )
    assert s.server_target_latency_ns == 15_000_000  # resnet50.Server.target_latency, any run
    assert embedded("retinanet", "Server").server_target_latency_ns == 100_000_000
    assert embedded("pointpainting", "SingleStream").single_stream_target_latency_percentile == (
        0.9990000000000001
    )
    llama = embedded("llama2-70b", "Server")
    assert llama.use_token_latencies and llama.sample_concatenate_permutation
    assert (llama.ttft_latency, llama.tpot_latency) == (2_000_000_000, 200_000_000)
    assert llama.server_target_latency_ns == 0
    gptj = embedded("gptj", "Offline")
    assert gptj.infer_token_latencies and gptj.token_latency_scaling_factor == 69
    ms = embedded("resnet50", "MultiStream")
    assert (ms.min_query_count, ms.multi_stream_samples_per_query) == (662, 8)
    assert drain_pending() == []


# --- audit.config and test05 ----------------------------------------------------------------


def test_audit_config_applies_only_wildcard_model_lines(tmp_path):
    path = write(
        tmp_path,
        """\
        resnet50.Offline.min_query_count = 500
        *.Offline.min_query_count = 7
        *.*.accuracy_log_rng_seed = 720381539243781796
        *.*.accuracy_log_sampling_target = 64
        *.*.qsl_rng_seed = 1
        """,
        name="audit.config",
    )
    s = TestSettings()
    assert apply_audit_config(s, path, "Offline") is True
    assert s.min_query_count == 7
    assert s.accuracy_log_rng_seed == 720381539243781796
    assert s.accuracy_log_sampling_target == 64
    assert s.qsl_rng_seed == 0
    [entry] = drain_pending()
    assert (entry.key, entry.value, entry.is_warning) == (
        "warning_generic_message",
        AUDIT_FOUND_MESSAGE,
        True,
    )


def test_missing_audit_config_does_nothing(tmp_path):
    s = TestSettings()
    assert apply_audit_config(s, str(tmp_path / "audit.config"), "Offline") is False
    assert fields(s) == fields(TestSettings())
    assert drain_pending() == []


def test_bad_audit_config_logs_the_error_after_the_warning(tmp_path, capsys):
    path = write(tmp_path, "*.*.min_query_count = x\n", name="audit.config")
    s = TestSettings()
    assert apply_audit_config(s, path, "Offline") is True
    assert s.min_query_count == 100
    assert [e.key for e in drain_pending()] == ["warning_generic_message", "error_invalid_config"]
    assert f"{path}:1:" in capsys.readouterr().err


def test_test05_forces_performance_mode_and_its_seeds():
    s = TestSettings()
    assert apply_test05(s) is False
    assert drain_pending() == []
    s.mode = TestMode.AccuracyOnly
    s.test05 = True
    s.test05_qsl_rng_seed, s.test05_sample_index_rng_seed, s.test05_schedule_rng_seed = 1, 2, 3
    assert apply_test05(s) is True
    assert s.mode == TestMode.PerformanceOnly
    assert (s.qsl_rng_seed, s.sample_index_rng_seed, s.schedule_rng_seed) == (1, 2, 3)
    [entry] = drain_pending()
    assert (entry.key, entry.value, entry.is_warning) == (
        "warning_generic_message",
        TEST05_MESSAGE,
        True,
    )


# --- load_settings, config_errors, parse_config ---------------------------------------------


def test_load_settings_applies_mlperf_conf_then_user_conf(tmp_path):
    path = write(tmp_path, "resnet50.Offline.min_query_count = 5\n*.Offline.target_qps = 9\n")
    base = TestSettings()
    base.max_query_count = 77
    s = load_settings("resnet50", "Offline", path, base=base)
    assert s.scenario == TestScenario.Offline
    assert s.min_query_count == 5  # user.conf over mlperf.conf's 24576
    assert s.offline_expected_qps == 9.0
    assert s.performance_sample_count_override == 1024  # from mlperf.conf
    assert s.qsl_rng_seed == QSL_SEED
    assert s.max_query_count == 77  # from base
    assert fields(base)["min_query_count"] == 100  # base untouched
    assert drain_pending() == []


def test_load_settings_does_not_depend_on_the_global_counter():
    a = load_settings("resnet50", "Server")
    b = load_settings("resnet50", "Server")
    assert fields(a) == fields(b)
    assert a.server_target_latency_ns == 15_000_000 and a.schedule_rng_seed == SCHEDULE_SEED


def test_load_settings_with_an_mlperf_conf_path_reads_seeds(tmp_path):
    mlperf = write(tmp_path, "*.*.qsl_rng_seed = 11\n*.*.min_duration = 5\n", "mlperf.conf")
    s = load_settings("x", "SingleStream", mlperf_conf=mlperf)
    assert (s.qsl_rng_seed, s.min_duration_ms, s.sample_index_rng_seed) == (11, 5, 0)


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("*.*.min_query_count = 1\n*.Offline.target_qps = abc\n", 2, "*.Offline.target_qps"),
        ("*.*.min_query_count=1\n", 1, "*.*.min_query_count=1"),  # officially skipped
        ("\n\n*.*.min_query_count = 1 2\n", 3, "*.*.min_query_count"),
        ("*.*.mode = 9\n", 1, "*.*.mode"),
        ("*.*.mode = 1\n*.*.b = x\n*.*.c d\n", 2, "*.*.b"),  # the first problem
    ],
)
def test_load_settings_raises_on_the_first_problem(tmp_path, text, line, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings("resnet50", "Offline", path)
    err = info.value
    assert (err.path, err.line, err.key) == (path, line, key)
    assert str(err).startswith(f"{path}:{line}: key '{key}': ")
    assert isinstance(err, ValueError)
    assert drain_pending() == []


def test_load_settings_missing_file_and_unknown_scenario(tmp_path):
    path = str(tmp_path / "user.conf")
    with pytest.raises(ConfigError, match="No such file") as info:
        load_settings("resnet50", "Offline", path)
    assert (info.value.path, info.value.line, info.value.key) == (path, None, None)
    with pytest.raises(ConfigError, match="unknown scenario 'offline'"):
        load_settings("resnet50", "offline")


def test_config_errors_lists_every_problem_in_line_order(tmp_path):
    path = write(tmp_path, "a = 1 2\nb = x\n\nc=d\n*.*.min_query_count = 5\ne f\n")
    assert [(e.line, e.key) for e in config_errors(path)] == [
        (1, "a"),
        (2, "b"),
        (4, "c=d"),
        (6, "e"),
    ]
    assert config_errors(write(tmp_path, "# fine\n*.*.min_query_count = 5\n")) == []
    [missing] = config_errors(str(tmp_path / "missing.conf"))
    assert missing.line is None


def test_parse_config_keeps_the_last_value_and_its_line():
    parsed = parse_config("k = 1\nk = 2 3\n", "x.conf")
    assert (parsed.values, parsed.lines, parsed.errors) == ({"k": "3"}, {"k": 2}, [])


# --- set_field ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("min_query_count", "1000", 1000),
        ("min_query_count", "0x10", 16),
        ("min_duration_ms", "6e5", 600_000),
        ("min_query_count", "010", 10),  # a CLI reads decimal
        ("server_target_qps", "12.5", 12.5),
        ("single_stream_expected_latency_ns", "1000", 1000.0),
        ("print_timestamps", "true", True),
        ("print_timestamps", "0", False),
        ("use_token_latencies", "Yes", True),
        ("mode", "AccuracyOnly", TestMode.AccuracyOnly),
        ("mode", "performanceonly", TestMode.PerformanceOnly),
        ("mode", "3", TestMode.FindPeakPerformance),
        ("scenario", "Server", TestScenario.Server),
        ("server_find_peak_qps_decimals_of_precision", "-1", -1),
        ("qsl_rng_seed", str(SCHEDULE_SEED), SCHEDULE_SEED),
    ],
)
def test_set_field(name, text, expected):
    s = TestSettings()
    set_field(s, name, text)
    value = getattr(s, name)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("min_querycount", "5", "did you mean 'min_query_count'"),
        ("nonsense_zzz", "5", "not a TestSettings field"),
        ("min_query_count", "abc", "not an integer"),
        ("min_query_count", "1.5", "not an integer"),
        ("min_query_count", "-1", "out of range"),
        ("min_query_count", str(2**64), "out of range"),
        ("server_target_qps", "fast", "not a number"),
        ("print_timestamps", "maybe", "not a boolean"),
        ("mode", "Fast", "not a TestMode"),
        ("scenario", "7", "not a TestScenario"),
    ],
)
def test_set_field_errors_name_the_field(name, text, problem):
    s = TestSettings()
    with pytest.raises(ConfigError) as info:
        set_field(s, name, text)
    assert info.value.key == name
    assert f"key '{name}'" in str(info.value) and problem in str(info.value)
    assert fields(s) == fields(TestSettings())


# --- the first-call rule of conf_type 1 (fresh processes) -----------------------------------

COUNTER_CHILD = """
import json, sys
from loadgen import TestSettings
from loadgen._pending_log import drain_pending
path = sys.argv[1]
out = []
for _ in range(2):
    s = TestSettings()
    rc = s.FromConfig(path, "resnet50", "Offline")
    out.append([rc, s.qsl_rng_seed, s.min_query_count, s.offline_expected_qps])
out.append([[e.key, e.value, e.is_error] for e in drain_pending()])
print(json.dumps(out))
"""


def run_child(code: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
        cwd=cwd,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_first_user_conf_loads_mlperf_conf_later_ones_are_flagged(tmp_path):
    path = write(tmp_path, "*.Offline.target_qps = 100\n")
    proc = run_child(COUNTER_CHILD, path, cwd=tmp_path)
    first, second, pending = json.loads(proc.stdout)
    assert first == [0, QSL_SEED, 24576, 100.0]
    assert second == [0, 0, 100, 100.0]  # no mlperf.conf the second time
    assert pending == [["error_invalid_config", MULTIPLE_CONF_MESSAGE, True]]
    assert MULTIPLE_CONF_MESSAGE in proc.stderr


def test_first_user_conf_loads_mlperf_conf_even_if_it_is_bad_or_missing(tmp_path):
    bad = write(tmp_path, "*.Offline.target_qps = fast\n")
    first, *_ = json.loads(run_child(COUNTER_CHILD, bad, cwd=tmp_path).stdout)
    assert first == [-22, QSL_SEED, 24576, 1.0]
    missing = str(tmp_path / "missing.conf")
    first, *_ = json.loads(run_child(COUNTER_CHILD, missing, cwd=tmp_path).stdout)
    assert first == [-2, QSL_SEED, 24576, 1.0]


# --- equivalence with the official wheel ----------------------------------------------------

EQUIV_CHILD = """
import json, math, sys
impl, spec = sys.argv[1], json.loads(sys.argv[2])
if impl == "official":
    import mlperf_loadgen as lg
else:
    import loadgen as lg
def encode(name, value):
    if name in spec["float_fields"]:
        return float(value).hex()
    return int(value)
out = []
for path, model, scenario, conf_type in spec["calls"]:
    s = lg.TestSettings()
    rc = s.FromConfig(path, model, scenario, conf_type)
    out.append([rc, {n: encode(n, getattr(s, n)) for n in spec["fields"]}])
print(json.dumps(out))
"""

FLOAT_FIELDS = [n for n, t in typing.get_type_hints(TestSettings).items() if t is float]

# user.conf files for the equivalence test, good and bad.
EQUIV_FILES: dict[str, bytes] = {
    "good": b"""# a typical user.conf
resnet50.Offline.target_qps = 1000
*.Server.target_qps = 50.5
resnet50.*.min_query_count = 010
*.*.max_duration = 0x20
\tllama2-70b.Server.target_latency   =   12.7\r
*.SingleStream.target_latency_percentile = 99.9
*.MultiStream.target_latency = 0.35
*.MultiStream.samples_per_query = 16
""",
    "quirks": b"""*.*.max_query_count=5
*.*.min_query_count = 5 6
*.*.min_duration = 1
*.*.min_duration = 08
*.*.performance_sample_count_override = 1e3
*.*.accuracy_sample_count_override = -1
*.*.max_duration # = 9
#comment = 3
*.Server.max_async_queries = 2147483648
*.Server.coalesce_queries = 2
*.*.sample_concatenate_permutation = 2
*.*.print_timestamps = 7
*.*.performance_issue_same = 1
*.*.performance_issue_same_index = 99999999999999999999
*.Offline.target_qps = 0x1.8p3
*.Server.target_qps = -inf
*.SingleStream.target_latency = nan(x)
*.*.qsl_rng_seed = 1
*.*.accuracy_log_probability = 50
*.*.test05 = 1
*.*.accuracy_log_rng_seed = 720381539243781796
*.*.accuracy_log_sampling_target = 64
*.Server.target_duration = 0
*.Server.target_latency = -3
""",
    "tokens": b"""*.*.use_token_latencies = 1
*.Server.ttft_latency = 450.9
*.Server.tpot_latency = 40
*.*.infer_token_latencies = 1
*.*.token_latency_scaling_factor = 69
gptj.Offline.mode = 1
""",
    "token_switch_off": b"""*.Server.ttft_latency = 450
*.*.token_latency_scaling_factor = 3
*.*.use_token_latencies = 2
""",
    "bad_mode": b"*.*.mode = 7\n*.*.min_query_count = 3\n",
    "precedence": b"""*.*.min_query_count = 4
resnet50.*.min_query_count = 3
*.Offline.min_query_count = 2
resnet50.Offline.min_query_count = 1
*.Server.min_query_count = 5
""",
    "empty": b"",
    "trailing_comment": b"*.*.min_query_count = 5 # five\n",
    "hash_no_space": b"#this is a comment\n*.*.min_query_count = 5\n",
    "not_a_number": b"resnet50.Offline.target_qps = abc\n",
    "no_equals": b"*.*.min_query_count 5\n",
    "binary_and_underscore": b"*.*.min_query_count = 0b101\n*.*.max_query_count = 1_0\n",
    "non_utf8_and_nbsp": b"\xff.*.min_query_count = 5\n*.*.max_query_count = 5\xc2\xa0\n",
}
EQUIV_MODELS = ["resnet50", "llama2-70b", "gptj", "*"]
SCENARIOS = [s.name for s in TestScenario]


def embedded_models() -> list[str]:
    text = (Path(__file__).parents[2] / "loadgen" / "mlperf.conf").read_text()
    models = {line.split(".*.", 1)[0] for line in text.splitlines() if ".*." in line}
    return sorted(m for m in models if m and not m.startswith(("#", "*")))


def compare(calls: list[list[object]], cwd: Path) -> None:
    spec = json.dumps(
        {"calls": calls, "fields": list(TEST_SETTINGS_DEFAULTS), "float_fields": FLOAT_FIELDS}
    )
    theirs = json.loads(run_child(EQUIV_CHILD, "official", spec, cwd=cwd).stdout)
    ours = json.loads(run_child(EQUIV_CHILD, "ours", spec, cwd=cwd).stdout)
    assert len(ours) == len(theirs) == len(calls)
    for call, (rc_t, f_t), (rc_o, f_o) in zip(calls, theirs, ours):
        assert rc_o == rc_t, call
        diff = {k: (f_o[k], f_t[k]) for k in f_t if f_o[k] != f_t[k]}
        assert diff == {}, (call, "field: (ours, official)")


@pytest.fixture
def equiv_files(tmp_path) -> dict[str, str]:
    paths = {}
    for name, data in EQUIV_FILES.items():
        paths[name] = str(tmp_path / f"{name}.conf")
        Path(paths[name]).write_bytes(data)
    paths["missing"] = str(tmp_path / "missing.conf")
    return paths


def test_matches_official_for_user_and_audit_files(tmp_path, equiv_files):
    pytest.importorskip("mlperf_loadgen")
    calls: list[list[object]] = []
    for path in equiv_files.values():
        for model in EQUIV_MODELS:
            for scenario in SCENARIOS:
                calls.append([path, model, scenario, 2])
    compare(calls, tmp_path)


def test_matches_official_for_the_embedded_mlperf_conf(tmp_path):
    pytest.importorskip("mlperf_loadgen")
    models = embedded_models()
    assert {"resnet50", "llama2-70b", "gpt-oss-120b", "wan-2.2-t2v-a14b"} <= set(models)
    calls = [["", m, s, 0] for m in [*models, "unknown"] for s in SCENARIOS]
    compare(calls, tmp_path)


@pytest.mark.parametrize(
    ("name", "model", "scenario"),
    [
        ("good", "resnet50", "Server"),
        ("good", "llama2-70b", "Server"),
        ("quirks", "gptj", "Offline"),
        ("tokens", "llama3_1-8b", "SingleStream"),
        ("not_a_number", "resnet50", "Offline"),
        ("missing", "bert", "MultiStream"),
    ],
)
def test_matches_official_for_user_conf_in_a_fresh_process(
    tmp_path, equiv_files, name, model, scenario
):
    pytest.importorskip("mlperf_loadgen")
    # The first call also loads mlperf.conf; the second is a later user.conf in that process.
    path = equiv_files[name]
    compare([[path, model, scenario, 1], [equiv_files["good"], model, scenario, 1]], tmp_path)


def test_user_conf_lines_read_back_to_the_same_settings(tmp_path):
    changed = {
        "server_target_latency_ns": "12000000",
        "server_target_latency_percentile": "0.97",
        "min_duration_ms": "5000",
        "server_target_qps": "1234.5",
        "use_token_latencies": "1",
        "server_coalesce_queries": "1",
    }
    settings = load_settings("mlp", "Server")
    for name, value in changed.items():
        _config.set_field(settings, name, value)
    lines = _config.user_conf_lines(settings, [*changed, "offline_expected_qps"], "mlp", "Server")
    assert "mlp.Server.target_latency = 12" in lines
    assert "# offline_expected_qps = 1.0 (no user.conf key sets it in Server)" in lines
    path = tmp_path / "user.conf"
    path.write_text("\n".join(lines) + "\n")
    again = load_settings("mlp", "Server", str(path))
    for name in changed:
        assert getattr(again, name) == pytest.approx(getattr(settings, name)), name


# --- keys nothing reads: warnings with the nearest valid name -------------------------------


def test_unknown_keys_are_warned_about_with_file_line_and_the_nearest_name(tmp_path):
    path = write(
        tmp_path,
        """\
        # my settings
        mlp.Server.targt_qps = 900
        mlp.Sever.target_qps = 900
        *.Server.server_target_qps = 900
        min_duration = 5
        mlp.Offline.target_qps = 5
        """,
    )
    assert [str(w) for w in config_warnings(path)] == [
        f"{path}:2: key 'mlp.Server.targt_qps': unknown name 'targt_qps', so nothing reads it; "
        "did you mean 'target_qps'?",
        f"{path}:3: key 'mlp.Sever.target_qps': 'Sever' is not a scenario, so nothing reads "
        "it; did you mean 'Server'?",
        f"{path}:4: key '*.Server.server_target_qps': 'server_target_qps' is a TestSettings "
        "field, not a config name, so nothing reads it; did you mean 'target_qps'?",
        f"{path}:5: key 'min_duration': not MODEL.SCENARIO.NAME, so nothing reads it; write "
        "e.g. '*.*.min_duration'",
    ]
    # Only warnings: the strict loader still reads the file, and the typo changes nothing.
    s = load_settings("mlp", "Server", path)
    assert (s.server_target_qps, s.offline_expected_qps) == (1.0, 5.0)


def test_lines_for_other_models_and_scenarios_and_compliance_keys_do_not_warn(tmp_path):
    path = write(
        tmp_path,
        """\
        resnet50.Offline.target_qps = 5
        llama2-70b-99.9.Server.ttft_latency = 2000
        *.MultiStream.samples_per_query = 8
        *.Server.target_duration = 0
        *.*.test07_accuracy_threshold = 60.698
        *.*.test09_max_output_tokens = 1406.02
        *.*.mode = 2
        """,
    )
    assert config_warnings(path) == []


def test_the_embedded_mlperf_conf_is_clean_under_every_strict_rule():
    parsed = _config._embedded()
    assert (parsed.errors, parsed.warnings, parsed.misread, parsed.unknown) == ([], [], [], [])


def test_from_config_warns_about_a_user_conf_typo_but_applies_the_rest(tmp_path, capsys):
    rc, s = apply(tmp_path, "mlp.Offline.targt_qps = 900\n*.*.min_query_count = 7\n", "mlp")
    assert (rc, s.min_query_count, s.offline_expected_qps) == (0, 7, 1.0)
    assert capsys.readouterr().err == ""  # conf_type 2 (StartTest's audit.config) stays quiet
    child = run_child(
        "import sys; from loadgen import TestSettings\n"
        "s = TestSettings(); print(s.FromConfig(sys.argv[1], 'mlp', 'Offline'), s.min_duration_ms)",
        write(tmp_path, "mlp.Offline.targt_qps = 900\n*.*.min_duration = -5\n"),
        cwd=tmp_path,
    )
    path = str(tmp_path / "user.conf")
    assert child.stdout == f"0 {2**64 - 5}\n"  # the official reading, wrap included
    assert child.stderr.splitlines() == [
        f"warning: {path}:1: key 'mlp.Offline.targt_qps': unknown name 'targt_qps', so nothing "
        "reads it; did you mean 'target_qps'?",
        f"warning: {path}:2: key '*.*.min_duration': value '-5' is negative; min_duration is "
        f"unsigned, so it would wrap to {2**64 - 5}",
    ]


# --- values the official parser reads as something else: errors in the strict path ---------


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("*.*.min_duration = -5",
         f"value '-5' is negative; min_duration is unsigned, so it would wrap to {2**64 - 5}"),
        ("*.*.min_duration = 6e5",
         "value '6e5' is not an integer; min_duration is read as one, so it would be 6"),
        ("*.*.target_latency = 12.5",
         "value '12.5' is not an integer; target_latency (for Server) is read as one, so it "
         "would be 12"),
        ("*.*.min_query_count = 18446744073709551616",
         "value '18446744073709551616' is too large; min_query_count can be at most "
         "18446744073709551615"),
        ("*.Server.target_latency = 20000000000000",
         "value '20000000000000' is too large; target_latency can be at most 18446744073709 ms"),
        ("*.Server.max_async_queries = 2147483648",
         "value '2147483648' is too large; max_async_queries can be at most 2147483647"),
        ("*.Server.target_qps = nan", "value 'nan' is not a number (NaN)"),
        ("*.Offline.target_qps = -inf", "value '-inf' is infinite"),
        ("other.Server.target_qps = -5",  # whatever model the line names
         "value '-5' is negative; target_qps must be 0 or more"),
    ],
)  # fmt: skip
def test_misread_values_are_errors_with_file_and_line(tmp_path, line, problem):
    path = write(tmp_path, f"# first\n{line}\n")
    with pytest.raises(ConfigError) as info:
        load_settings("mlp", "Server", path)
    key = line.split()[0]
    assert str(info.value) == f"{path}:2: key '{key}': {problem}"
    assert [str(e) for e in config_errors(path)] == [str(info.value)]


# --- check_settings: the whole run, every value named by where it came from -----------------


def checked_error(**kwargs) -> str:
    kwargs.setdefault("memory_bytes", 10**15)  # the 1e9-sample cap, whatever this machine has
    with pytest.raises(ConfigError) as info:
        check_settings(kwargs.pop("model", "mlp"), kwargs.pop("scenario", "Server"), **kwargs)
    return str(info.value)


@pytest.mark.parametrize(
    ("scenario", "name", "value", "problem"),
    [
        ("Server", "server_target_qps", "-5",
         "is negative; server_target_qps must be more than 0"),
        ("Server", "server_target_qps", "nan", "is not a number (NaN)"),
        ("Server", "server_target_qps", "0", "must be more than 0"),
        ("Offline", "offline_expected_qps", "inf", "is infinite"),
        ("Server", "server_target_latency_percentile", "1.5",
         "is out of range: a percentile must be more than 0 and less than 1"),
        ("MultiStream", "multi_stream_samples_per_query", "0", "must be 1 or more"),
        ("SingleStream", "single_stream_expected_latency_ns", "0", "must be more than 0"),
        ("Server", "server_target_qps", "1e9",
         "would make the LoadGen pre-generate 600,000,000,000 samples (about 138,000 GB) for "
         "one Server run (1,000,000,000 QPS over 600 s of min_duration_ms from mlperf.conf "
         "(embedded):85); the limit is 1,000,000,000 samples"),
        ("Offline", "min_query_count", "2000000000",
         "would make the LoadGen pre-generate 2,000,000,000 samples (about 460 GB) for one "
         "Offline run (min_query_count 2000000000 from --set min_query_count); the limit is "
         "1,000,000,000 samples"),
        ("Offline", "min_duration_ms", "1e12",
         "means a run of at least 31.7 years; the limit is 24 hours"),
        ("Server", "server_target_qps", "0.001",
         "means a run of 27.8 hours (100 queries of min_query_count at 0.001 QPS); the limit "
         "is 24 hours"),
    ],
)  # fmt: skip
def test_check_settings_names_the_set_value(scenario, name, value, problem):
    message = checked_error(scenario=scenario, sets=[(name, value)])
    assert message == f"--set: key '{name}': value '{value}' {problem}"


def test_the_sample_cap_is_what_the_machines_memory_holds_when_that_is_less():
    # 2e5 QPS over mlperf.conf's 600 s: 120,000,000 samples, about 27.6 GB.
    sets = [("server_target_qps", "2e5")]
    assert checked_error(sets=sets, memory_bytes=16 * 10**9) == (
        "--set: key 'server_target_qps': value '2e5' would make the LoadGen pre-generate "
        "120,000,000 samples (about 28 GB) for one Server run (200,000 QPS over 600 s of "
        "min_duration_ms from mlperf.conf (embedded):85); the limit is 69,565,217 samples "
        "(what 16.0 GB of memory holds)"
    )
    check_settings("mlp", "Server", sets=sets, memory_bytes=64 * 10**9)  # fits: no error


def test_check_settings_names_the_user_conf_line(tmp_path):
    path = write(tmp_path, "# x\n\n*.Server.target_latency_percentile = 150\n")
    assert checked_error(user_conf=path) == (
        f"{path}:3: key '*.Server.target_latency_percentile': value '150' is out of range: a "
        "percentile must be more than 0 and less than 100"
    )
    path = write(tmp_path, "mlp.Server.target_qps = 0\n")
    assert checked_error(user_conf=path) == (
        f"{path}:1: key 'mlp.Server.target_qps': value '0' must be more than 0"
    )


def test_check_settings_blames_the_users_value_not_mlperf_conf(tmp_path):
    path = write(tmp_path, "*.*.min_duration = 100000000\n")
    assert checked_error(user_conf=path) == (
        f"{path}:1: key '*.*.min_duration': value '100000000' means a run of at least 27.8 "
        "hours; the limit is 24 hours"
    )
    # 12.5 QPS (80 ms) and 600 s come from mlperf.conf, the samples per query from the user.
    message = checked_error(
        scenario="MultiStream", sets=[("multi_stream_samples_per_query", "1e6")]
    )
    assert message == (
        "--set: key 'multi_stream_samples_per_query': value '1e6' would make the LoadGen "
        "pre-generate 15,000,000,000 samples (about 3,450 GB) for one MultiStream run "
        "(12.5 QPS over 600 s of min_duration_ms from mlperf.conf (embedded):56); the limit is "
        "1,000,000,000 samples"
    )
    path = write(tmp_path, "*.*.min_duration = 6000000\n")
    message = checked_error(
        scenario="Offline", user_conf=path, sets=[("offline_expected_qps", "2e5")]
    )
    assert message.startswith("--set: key 'offline_expected_qps': value '2e5' would make")
    assert f"over 6000 s of min_duration_ms from {path}:1)" in message


def test_check_settings_checks_the_audit_config_the_run_will_apply(tmp_path):
    audit = write(tmp_path, "*.*.mode = 2\n*.Server.target_qps = 0\n", "audit.config")
    assert checked_error(audit_config=audit) == (
        f"{audit}:2: key '*.Server.target_qps': value '0' must be more than 0"
    )
    # Model-specific lines do not apply (StartTest loads audit.config with model "*").
    audit = write(tmp_path, "mlp.Server.target_qps = 0\n*.*.foo = 1\n", "audit.config")
    checked = check_settings("mlp", "Server", audit_config=audit)
    assert [str(w) for w in checked.warnings] == [
        f"{audit}:2: key '*.*.foo': unknown name 'foo', so nothing reads it"
    ]


def test_check_settings_returns_settings_and_warnings_without_audit_values(tmp_path):
    user = write(tmp_path, "mlp.Server.targt_qps = 900\nmlp.Server.min_query_count = 7\n")
    audit = write(tmp_path, "*.*.min_query_count = 9\n", "audit.config")
    checked = check_settings(
        "mlp",
        "Server",
        user_conf=user,
        mode=TestMode.AccuracyOnly,
        sets=[("server_target_qps", "1e9")],  # no performance run: its size does not matter
        audit_config=audit,
    )
    s = checked.settings
    assert (s.min_query_count, s.mode, s.server_target_qps) == (7, TestMode.AccuracyOnly, 1e9)
    assert [w.line for w in checked.warnings] == [1]
    assert drain_pending() == []


def test_check_settings_accepts_every_model_of_the_embedded_mlperf_conf():
    for model in embedded_models():
        for scenario in TestScenario.__members__:
            check_settings(model, scenario)


def test_the_field_table_matches_the_declared_settings_fields():
    from loadgen._fields import FIELD_TYPES, SettingsFields

    declared = typing.get_type_hints(TestSettings)
    assert list(declared) == list(FIELD_TYPES)  # same fields, official order
    assert declared == FIELD_TYPES
    assert SettingsFields.__slots__ == tuple(FIELD_TYPES) and TestSettings.__slots__ == ()
