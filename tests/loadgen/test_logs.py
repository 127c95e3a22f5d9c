"""loadgen.logs, the one reader of the LoadGen's logs: real logs of our runs, and broken ones."""

from __future__ import annotations

import json

import pytest

import loadgen
from loadgen import logs


class EchoSUT(loadgen.SystemUnderTest):
    def name(self) -> str:
        return "echo"

    def issue_query(self, samples) -> None:
        loadgen.QuerySamplesComplete(
            [loadgen.QuerySampleResponse(s.id, b"\x01\x00\x00\x00", 4) for s in samples]
        )

    def flush_queries(self) -> None:
        pass


class TinyQSL(loadgen.QuerySampleLibrary):
    def name(self) -> str:
        return "tiny"

    def total_sample_count(self) -> int:
        return 8

    def performance_sample_count(self) -> int:
        return 8

    def load_samples_to_ram(self, indices) -> None:
        pass

    def unload_samples_from_ram(self, indices) -> None:
        pass


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    settings = loadgen.TestSettings()
    settings.scenario = loadgen.TestScenario.Offline
    settings.mode = loadgen.TestMode.AccuracyOnly
    log_settings = loadgen.LogSettings()
    log_settings.log_output.outdir = str(out)
    report = loadgen.run_test(EchoSUT(), TinyQSL(), settings, log_settings)
    return out, report


def test_a_runs_logs_read_back(accuracy_run):
    out, report = accuracy_run
    detail = logs.read_detail_log(out / "mlperf_log_detail.txt")
    assert detail.require("effective_scenario") == "Offline"
    assert detail.error_count == 0 and detail.logged_errors().count == 0
    assert detail.find_peak().peak_qps is None
    assert [r["key"] for r in detail.records][:1] == ["loadgen_version"]  # in file order
    entries = logs.read_accuracy_log(out / "mlperf_log_accuracy.json")
    assert sorted(e["qsl_idx"] for e in entries) == list(range(8))
    assert {e["data"] for e in entries} == {"01000000"}
    assert logs.read_validity(report.summary_path) == report.validity


def mllog(key, value, error=False):
    return ":::MLLOG " + json.dumps({"key": key, "value": value, "metadata": {"is_error": error}})


def test_logged_errors_and_a_find_peak_search(tmp_path):
    path = tmp_path / "mlperf_log_detail.txt"
    lines = [
        mllog("effective_scenario", "Server"),
        mllog("error_runtime", "sample answered twice (response id 7)", error=True),
        mllog("error_runtime", "sample answered twice (response id 9)", error=True),
        mllog("generic_message", "FindBoundaries: Checking fields [target_qps: 100]"),
        mllog("generic_message", "Found peak performance field: 123.5"),
    ]
    path.write_text("\n".join(lines) + "\n")
    detail = logs.read_detail_log(path)
    assert detail.get("error_runtime") == "sample answered twice (response id 7)"  # first wins
    assert len(detail.records) == 5
    errors = detail.logged_errors()
    assert (errors.count, errors.messages) == (2, ["sample answered twice"])
    peak = detail.find_peak()
    assert peak.peak_qps == 123.5 and len(peak.probes) == 1 and peak.lower_bound_error is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty file, not a LoadGen detail log"),
        ("hello\n", ":1: not a LoadGen detail log"),
        (mllog("a", 1) + "\n:::MLLOG {oops\n", ":2: malformed log line"),
    ],
)
def test_a_broken_detail_log_is_one_error_naming_the_line(tmp_path, text, message):
    path = tmp_path / "mlperf_log_detail.txt"
    path.write_text(text)
    with pytest.raises(logs.LogError, match=message) as info:
        logs.read_detail_log(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "text, message",
    [
        ('[{"qsl_idx": 1, "data": "00"},', "not valid JSON at line 1"),
        ('{"qsl_idx": 1}', "expected a JSON list of entries"),
        ('[{"qsl_idx": -1, "data": "00"}]', "entry 0: qsl_idx must be a whole number >= 0"),
        ('[{"qsl_idx": 1, "data": "00"}, {"qsl_idx": 2}]', "entry 1: data must be a hex string"),
    ],
)
def test_a_broken_accuracy_log_is_one_error_naming_the_entry(tmp_path, text, message):
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(text)
    with pytest.raises(logs.LogError, match=message) as info:
        logs.read_accuracy_log(path)
    assert str(path) in str(info.value)


def test_a_summary_without_a_result_has_no_validity(tmp_path):
    assert logs.read_validity(tmp_path / "missing.txt") is None
    (tmp_path / "s.txt").write_text("Result is : INVALID\n")
    assert logs.read_validity(tmp_path / "s.txt") == "INVALID"
