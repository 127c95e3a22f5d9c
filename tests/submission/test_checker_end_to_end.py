"""The proof: a tree written by ``lon-submit --quick`` (lon-run under the official LoadGen,
lon-verify, lon-submission seal) from short runs on a real sut-server node passes the official
submission checker but for what short runs cause.

Every scenario the checker requires of resnet50 on a ``datacenter,edge`` system is run:
performance, accuracy, and the compliance tests TEST01 and TEST04, as the README's resnet50
section does, with a small synthetic data set (the checker never looks at the sample shape).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lon._nodes import running_nodes, sut_server_command
from tests.conftest import need_loadgen

from .oracle_dir import mlperf_inference_dir

pytestmark = pytest.mark.e2e

USER_CONF = """\
resnet50.Offline.target_qps = 200
resnet50.Server.target_qps = 100
resnet50.SingleStream.target_latency = 1
resnet50.MultiStream.target_latency = 8
"""
# What the checker reports because the runs are short (paths and numbers left out): under
# 600 s, too few queries for early stopping, so INVALID, so the compliance runs cannot be
# compared with them; and an accuracy run over a 64-sample data set, not ImageNet's 50000.
ALWAYS = {
    "Test duration less than 600s in user config. expected=600000, found={n}",
    "accurcy run does not cover all dataset, accuracy samples: 64, dataset size: 50000",
    "Early stopping condition was not met, msg={text}",
    "Compliance test performance check in {path} failed",
    "Some performance checks Checks failed for: {path}",
    "Some accuracy checks Checks failed for: {path}",
    "Some compliance check Checks failed for: {path}",
    "NoResults {path}",
    "SUMMARY: submission has errors",
}
# A busy machine may also make a short run miss resnet50's 15 ms Server latency bound.
SOMETIMES = {
    "Latency constraint with early stopping not met, expected=15000000, found={n}",
    "{path} Latency constraint not met, expected=15000000, found={n}",
}


def template(message: str, root: Path) -> str:
    """The message with its paths and numbers replaced, to compare with the lists above."""
    text = message.replace(str(root), "ROOT")
    text = re.sub(r"^ROOT\S*\s*", "", text)
    text = re.sub(r"ROOT\S*", "{path}", text)
    text = re.sub(r"msg=.*", "msg={text}", text)
    return re.sub(r"(found|Found)=\d+", r"\1={n}", text)


def test_lon_submit_quick_makes_a_resnet50_tree_the_checker_accepts_but_for_short_runs(tmp_path):
    """Every scenario resnet50 needs on a datacenter,edge system, with TEST01 and TEST04, under
    the official LoadGen; numpy-mlp answers, so lon-accuracy writes every accuracy.txt."""
    inference = mlperf_inference_dir()
    need_loadgen("official")
    (tmp_path / "user.conf").write_text(USER_CONF)
    out = tmp_path / "out"
    with running_nodes([sut_server_command("numpy-mlp", extra=("--name", "n1"))]) as (node,):
        proc = subprocess.run(
            [
                sys.executable, "-m", "lon.submit._cli", "--quick", "--model", "resnet50",
                "--nodes", node.address, "--submitter", "Org", "--system", "lan2",
                "--system-type", "datacenter,edge", "--synthetic", "8x8x3:uint8:64",
                "--user-conf", str(tmp_path / "user.conf"), "--output", str(out),
                "--inference", str(inference),
            ],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "checker error: " not in proc.stdout  # none unexpected
    root = out / "submission"
    for scenario in ("SingleStream", "MultiStream", "Offline", "Server"):
        results = root / "network" / "Org" / "results" / "lan2" / "resnet50" / scenario
        assert (results / "TEST01").is_dir() and (results / "TEST04").is_dir()
        assert "hash=" in (results / "accuracy" / "accuracy.txt").read_text()  # sealed

    errors, returncode = run_checker(inference, root, tmp_path)
    assert errors - ALWAYS - SOMETIMES == set(), "\n".join(sorted(errors))
    assert errors >= ALWAYS, "\n".join(sorted(errors))
    assert returncode == 1


def run_checker(inference: Path, root: Path, tmp_path: Path) -> tuple[set[str], int]:
    """The official checker (v6.1) on the tree at ``root``: its error lines, paths and numbers
    replaced (``template``), and its exit status. A traceback fails the test."""
    checker = subprocess.run(
        [
            sys.executable, "-m", "submission_checker.main", "--input", str(root),
            "--version", "v6.1", "--csv", str(tmp_path / "summary.csv"),
        ],
        cwd=inference / "tools" / "submission",
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    log = checker.stdout + checker.stderr
    assert "Traceback" not in log, log
    errors = [line.split(" ERROR] ", 1)[1] for line in log.splitlines() if " ERROR] " in line]
    return {template(e, root) for e in errors}, checker.returncode
