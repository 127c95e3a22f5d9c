"""The LLM proof: ``lon-submit --quick`` makes a network-division llama3.1-8b tree on a
``datacenter`` system, under the official LoadGen, from short runs on two real sut-server nodes,
each in front of a reference engine (the stand-in HTTP engine: no model); the official
submission checker then reports only what short runs and a stand-in data set cause, and
lon-submit counts every one of its errors as expected.

Offline, Server and Interactive: performance, accuracy and TEST06 each, as the README's LLM
section does.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lon._nodes import running_llm_nodes
from tests.conftest import need_loadgen

from .oracle_dir import mlperf_inference_dir
from .test_checker_end_to_end import run_checker

pytestmark = pytest.mark.e2e

MODEL = "llama3.1-8b"
USER_CONF = """\
llama3_1-8b.Offline.target_qps = 40
llama3_1-8b.Server.target_qps = 100
llama3_1-8b-interactive.Server.target_qps = 100
"""
# Server and Interactive queries (TEST06's 100, the accuracy run's 64) arrive at the target
# rate: a higher one keeps those runs short, and the engines answer far faster than it.
# What the checker reports because the runs are short (under 600 s, too few queries for early
# stopping) and because the data set and the engines are stand-ins: 64 random prompts instead of
# the 13368 of the real data set, and no accuracy.txt, since no accuracy script can score a
# stand-in engine's answers (so the accuracy check cannot run and sealing stops short of the
# accuracy logs). The README lists the same.
EXPECTED = {
    "Test duration less than 600s in user config. expected=600000, found={n}",
    "Early stopping condition was not met, msg={text}",
    "accurcy run does not cover all dataset, accuracy samples: 64, dataset size: 13368",
    "Execution occurred in running check {path} Running accuracy_result_check in AccuracyCheck",
    "is not truncated",
    "Some performance checks Checks failed for: {path}",
    "Some accuracy checks Checks failed for: {path}",
    "NoResults {path}",
    "SUMMARY: submission has errors",
}


def test_lon_submit_quick_makes_an_llm_tree_the_checker_accepts_but_for_short_runs(tmp_path):
    inference = mlperf_inference_dir()
    need_loadgen("official")
    (tmp_path / "user.conf").write_text(USER_CONF)
    out = tmp_path / "out"
    with running_llm_nodes(2, "--ttft-ms", "5", "--tpot-ms", "1", "--output-tokens", "16") as nodes:
        proc = subprocess.run(
            [
                sys.executable, "-m", "lon.submit._cli", "--quick", "--model", MODEL,
                "--nodes", ",".join(n.address for n in nodes), "--submitter", "Org",
                "--system", "lan2", "--synthetic", "32:int32:64",
                "--user-conf", str(tmp_path / "user.conf"), "--output", str(out),
                "--inference", str(inference), "--scenarios", "Offline,Server,Interactive",
            ],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "checker error: " not in proc.stdout  # none unexpected
    root = out / "submission"
    for scenario in ("Offline", "Server", "Interactive"):
        results = root / "network" / "Org" / "results" / "lan2" / MODEL / scenario
        detail = (results / "performance" / "run_1" / "mlperf_log_detail.txt").read_text()
        assert "@ lon" not in detail  # the official LoadGen made every run
        assert (results / "TEST06" / "verify_accuracy.txt").is_file()
    system = json.loads((root / "network" / "Org" / "systems" / "lan2.json").read_text())
    assert system["system_type"] == "datacenter"
    assert (out / "mlperf_submission_Org.tar.gz").is_file()

    errors, returncode = run_checker(inference, root, tmp_path)
    assert errors == EXPECTED, "\n".join(sorted(errors))
    assert returncode == 1
