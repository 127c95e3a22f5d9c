"""The official checker's log parser and the compliance scripts, run on logs we write.

The scripts run unchanged, in child processes, from the official directory that
``MLPERF_INFERENCE_DIR`` names (tests/conftest.py); without it these tests are skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from loadgen._accuracy_log import AccuracyLog
from loadgen._detail_log import (
    DetailLog,
    log_effective_settings,
    log_requested_settings,
    log_results,
    log_test_start,
    log_version_info,
)
from loadgen._effective import effective_settings
from loadgen._enums import TestMode, TestScenario
from loadgen._records import PerformanceRecord
from loadgen._results import compute_results
from loadgen._settings import TestSettings
from loadgen._summary import write_summary
from tests.loadgen.compliance_runs import OFFICIAL_TIMEOUT_S, run_official


@pytest.fixture(scope="module")
def scripts(official_dir) -> Path:
    """The official mlcommons/inference directory (its compliance/ and tools/submission/)."""
    return official_dir


def run_script(script: Path, *args: str, cwd: Path) -> str:
    return run_official(script, *args, cwd=cwd)


def write_run(outdir: Path, scenario: TestScenario, scale: float = 1.0) -> None:
    """A complete detail log and summary of a VALID run, written with our modules."""
    outdir.mkdir(parents=True, exist_ok=True)
    s = TestSettings()
    s.scenario = scenario
    s.mode = TestMode.PerformanceOnly
    s.min_duration_ms = 50
    s.min_query_count = 100
    s.server_target_qps = 1000.0
    s.multi_stream_samples_per_query = 2
    eff = effective_settings(s, 10, 100)
    rng = np.random.default_rng(3)
    n_queries = 1 if scenario == TestScenario.Offline else 800
    n_samples = {TestScenario.MultiStream: 1600, TestScenario.Offline: 2000}.get(scenario, 800)
    latencies = (rng.integers(100_000, 200_000, n_samples) * scale).astype(np.int64)
    if scenario == TestScenario.Offline:
        latencies += 100_000_000
    record = PerformanceRecord(
        settings=eff,
        queries_issued=n_queries,
        sample_latency_ns=latencies,
        query_latency_ns=latencies[::2] if scenario == TestScenario.MultiStream else latencies[:0],
        final_query_scheduled_offset_ns=100_000_000,
        final_query_issue_offset_ns=100_000_000,
        final_query_all_done_offset_ns=int(100_000_000 * scale),
        max_completion_offset_ns=200_000_000,
    )
    result = compute_results(record)
    assert result.valid, result
    with open(outdir / "mlperf_log_detail.txt", "w", encoding="utf-8") as f:
        detail = DetailLog(f, time.perf_counter_ns())
        log_version_info(detail)
        log_test_start(detail, "Network SUT", 100, "QSL", 100, 10)
        log_requested_settings(detail, s)
        log_effective_settings(detail, eff)
        log_results(detail, result)
        detail.close()
        errors, warnings = detail.error_count, detail.warning_count
    with open(outdir / "mlperf_log_summary.txt", "w", encoding="utf-8") as f:
        write_summary(f, "Network SUT", eff, result, warnings, errors)


PARSE = """
import sys
sys.path.insert(0, sys.argv[1])
from log_parser import MLPerfLog
log = MLPerfLog(sys.argv[2])
print(log["effective_scenario"], log["result_validity"], log["sut_name"], log.num_errors(),
      log["early_stopping_met"], log["effective_min_duration_ms"])
"""


@pytest.mark.parametrize("scenario", list(TestScenario))
def test_the_checkers_strict_parser_reads_our_detail_log(scripts, tmp_path, scenario):
    write_run(tmp_path, scenario)
    proc = subprocess.run(
        [
            sys.executable,
            "-B",  # the official directory may be read-only, or a user's own clone
            "-c",
            PARSE,
            str(scripts / "tools/submission"),
            str(tmp_path / "mlperf_log_detail.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=OFFICIAL_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [scenario.name, "VALID", "Network", "SUT", "0", "True", "50"]
    assert "multiple messages" not in proc.stderr  # every key once


@pytest.mark.parametrize("scenario", list(TestScenario))
def test_test01_performance_check_on_our_detail_logs(scripts, tmp_path, scenario):
    write_run(tmp_path / "ref", scenario)
    write_run(tmp_path / "same", scenario)
    script = scripts / "compliance/TEST01/verify_performance.py"
    args = ["-r", str(tmp_path / "ref/mlperf_log_detail.txt")]
    out = run_script(
        script, *args, "-t", str(tmp_path / "same/mlperf_log_detail.txt"), cwd=tmp_path
    )
    assert "TEST PASS" in out
    if scenario != TestScenario.Offline:  # Offline's metric uses the unchanged max latency
        write_run(tmp_path / "slow", scenario, scale=1.5)
        out = run_script(
            script, *args, "-t", str(tmp_path / "slow/mlperf_log_detail.txt"), cwd=tmp_path
        )
        assert "TEST FAIL" in out


@pytest.mark.parametrize("scenario", list(TestScenario))
def test_test04_reads_the_scores_from_our_summaries(scripts, tmp_path, scenario):
    write_run(tmp_path / "ref", scenario, scale=1.5)
    write_run(tmp_path / "test", scenario)
    script = scripts / "compliance/TEST04/verify_performance.py"
    out = run_script(
        script,
        "-r",
        str(tmp_path / "ref/mlperf_log_summary.txt"),
        "-t",
        str(tmp_path / "test/mlperf_log_summary.txt"),
        cwd=tmp_path,
    )
    scores = {
        line.split(" = ")[0]: float(line.split(" = ")[1])
        for line in out.splitlines()
        if " score = " in line
    }
    assert scores["reference score"] > 0 and scores["test score"] > 0
    if scenario == TestScenario.Offline:
        assert "TEST PASS" in out
    else:  # the test run is 1.5x faster than the reference: a cache would do that
        assert scores["test score"] > scores["reference score"] * 1.2
        assert "TEST FAIL" in out


def accuracy_file(path: Path, entries: list[tuple]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        log = AccuracyLog(f)
        for e in entries:
            log.add(*e)
        log.close()


@pytest.mark.parametrize("unixmode", [False, True])
def test_test01_accuracy_check_on_our_accuracy_logs(scripts, tmp_path, unixmode):
    accuracy = [(i, i, bytes([i % 256, 7, 7])) for i in range(300)]
    accuracy_file(tmp_path / "acc.json", accuracy)
    script = scripts / "compliance/TEST01/verify_accuracy.py"
    extra = ["--unixmode"] if unixmode else []
    # The unix mode needs at least 100 lines in the test log.
    same = [(1000 + i, i, bytes([i % 256, 7, 7])) for i in range(0, 300, 2)]
    accuracy_file(tmp_path / "perf.json", same)
    args = ["-r", str(tmp_path / "acc.json"), "-t", str(tmp_path / "perf.json"), *extra]
    assert "TEST PASS" in run_script(script, *args, cwd=tmp_path)
    differ = [(1000 + i, i, bytes([(i + 1) % 256, 7, 7])) for i in range(0, 300, 2)]
    accuracy_file(tmp_path / "perf.json", differ)
    assert "TEST FAIL" in run_script(script, *args, cwd=tmp_path)


@pytest.mark.parametrize("scenario", ["Server", "Offline"])
def test_test06_token_checks_on_our_accuracy_log(scripts, tmp_path, scenario):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    entries = []
    for i in range(100):
        tokens = np.array([5 + i, 6, 7, 2], dtype=np.int32)
        first = tokens[:1].tobytes() if scenario != "Offline" else None
        entries.append((i, i, tokens.tobytes(), first, 4))
    accuracy_file(run_dir / "mlperf_log_accuracy.json", entries)
    script = scripts / "compliance/TEST06/run_verification.py"
    run_script(
        script, "-c", str(run_dir), "-o", str(tmp_path / "out"), "-s", scenario, cwd=tmp_path
    )
    report = (tmp_path / "out/TEST06/verify_accuracy.txt").read_text()
    first = "True" if scenario != "Offline" else "Skipped"
    assert report == (
        f"First token check pass: {first}\nEOS check pass: True\n"
        "Sample length check pass: True\nTEST06 verification complete\n"
    )
    assert json.loads((run_dir / "mlperf_log_accuracy.json").read_text())[0]["token_count"] == 4
