"""The official submission checker's compliance checks accept what lon-verify TEST07, TEST08
and TEST09 write for a passing run, and reject it for a failing one.

The checker's own ``ComplianceCheck`` runs in a child process, from ``MLPERF_INFERENCE_DIR``,
on the directory lon-verify wrote (a scenario's results directory in a submission); the file
the checker's loader would read for the test is read from the checker's path table.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import loadgen as lg
from loadgen.compliance import verify_test07, verify_test08, verify_test09
from tests.loadgen.compliance_runs import (
    OFFICIAL_TIMEOUT_S,
    TEST07_AUDIT,
    TEST08_AUDIT,
    TEST09_AUDIT,
    AnswerSUT,
    run,
    settings,
)

PERF, ACC = lg.TestMode.PerformanceOnly, lg.TestMode.AccuracyOnly
OFFLINE = lg.TestScenario.Offline

CHECKER = """\
import logging, sys
sys.path.insert(0, sys.argv[1])
from submission_checker import constants
from submission_checker.checks.compliance_check import ComplianceCheck
from submission_checker.configuration.configuration import Config
from submission_checker.loader import SubmissionLogs

test, model, scenario_dir = sys.argv[2:5]
result = scenario_dir + "/" + getattr(constants, test + "_ACC_PATH")["v6.1"].split("{scenario}/")[1]
loader_data = {
    "benchmark": model, "division": "closed", "scenario": "Offline",
    "compliance_path": scenario_dir, test + "_acc_result": open(result).readlines(),
}
check = ComplianceCheck(logging.getLogger("checker"), scenario_dir, Config("v6.1", {}),
                        SubmissionLogs(loader_data=loader_data))
assert test in check.test_list, check.test_list
check.test_list = [test]
print("ACCEPTED" if check.dir_exists_check() and check.accuracy_check() else "REJECTED")
"""


def checker_verdict(official_dir: Path, test: str, model: str, scenario_dir: Path) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CHECKER, str(official_dir / "tools" / "submission"), test, model,
         str(scenario_dir)],
        capture_output=True, text=True, timeout=OFFICIAL_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


@pytest.mark.parametrize("passed", [True, False])
def test_test07_tree(official_dir, tmp_path, passed):
    answer = (lambda i: bytes([i % 256])) if passed else (lambda i: bytes([255]))
    audit = TEST07_AUDIT.format(threshold=60.698)
    compliance = run(tmp_path / "TEST07", AnswerSUT(answer), settings(OFFLINE, PERF), audit)
    scorer = tmp_path / "score.py"
    scorer.write_text(
        "import json, sys\n"
        "e = json.load(open(sys.argv[1]))\n"
        "ok = sum(bytes.fromhex(x['data'])[0] == x['qsl_idx'] for x in e)\n"
        "print({'exact_match': 100.0 * ok / len(e)})\n"
    )
    verdict = verify_test07(
        compliance,
        tmp_path / "scenario",
        accuracy_script=f"{sys.executable} {scorer} {{accuracy_log}}",
        audit_config=tmp_path / "TEST07.audit.config",
    )
    assert verdict.passed is passed
    expected = "ACCEPTED" if passed else "REJECTED"
    assert (
        checker_verdict(official_dir, "TEST07", "gpt-oss-120b", tmp_path / "scenario") == expected
    )


@pytest.mark.parametrize("passed", [True, False])
def test_test08_tree(official_dir, tmp_path, passed):
    def accuracy(i: int) -> bytes:
        return np.array([0, i, 0.25, 0.75, 0, 1, 1, 1, 2], np.float32).tobytes()

    def performance(i: int) -> bytes:
        predictions = [0.25, 0.75] if passed else [0.75, 0.25]
        return np.array([0, i, *predictions], np.float32).tobytes()

    run(tmp_path / "results" / "accuracy", AnswerSUT(accuracy), settings(OFFLINE, ACC))
    compliance = run(
        tmp_path / "TEST08", AnswerSUT(performance), settings(OFFLINE, PERF), TEST08_AUDIT
    )
    verdict = verify_test08(tmp_path / "results", compliance, tmp_path / "scenario")
    assert verdict.passed is passed
    expected = "ACCEPTED" if passed else "REJECTED"
    assert checker_verdict(official_dir, "TEST08", "dlrm-v3", tmp_path / "scenario") == expected


@pytest.mark.parametrize("passed", [True, False])
def test_test09_tree(official_dir, tmp_path, passed):
    length = 10 if passed else 4
    answer = AnswerSUT(lambda i: np.zeros(length, np.int32).tobytes())
    compliance = run(tmp_path / "TEST09", answer, settings(OFFLINE, PERF), TEST09_AUDIT)
    verdict = verify_test09(
        compliance, tmp_path / "scenario", audit_config=tmp_path / "TEST09.audit.config"
    )
    assert verdict.passed is passed
    expected = "ACCEPTED" if passed else "REJECTED"
    assert (
        checker_verdict(official_dir, "TEST09", "gpt-oss-120b", tmp_path / "scenario") == expected
    )


def test_thresholds_of_the_official_audit_configs(official_dir):
    from loadgen.compliance._test07 import pick_threshold
    from loadgen.compliance._test09 import bounds

    compliance = official_dir / "compliance"
    assert pick_threshold(compliance / "TEST07/gpt-oss-120b/audit.config", None) == 60.698
    assert bounds(compliance / "TEST09/gpt-oss-120b/audit.config", None, None) == (1150.38, 1406.02)
    assert bounds(compliance / "TEST09/e2e-rag-qna/audit.config", None, 300.0) == (246.43, 300.0)
