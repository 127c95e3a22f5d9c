"""The LLM proof: a network-division llama3.1-8b tree on a ``datacenter`` system, written by
lon-run, lon-verify and lon-submission from short runs on two real sut-server nodes, each in
front of a reference engine (the stand-in HTTP engine: no model), passes the official
submission checker but for what short runs and a stand-in data set cause.

Offline, Server and Interactive are run: performance, accuracy and TEST06, exactly as the
README's LLM section does, with settings that make the runs short.
"""

from __future__ import annotations

import io
import json

import pytest

from loadgen.compliance._cli import main as lon_verify
from loadgen.submission._cli import main as lon_submission
from lon._nodes import running_engines, running_nodes, sut_server_command
from lon._run import parse_options, run

from .oracle_dir import mlperf_inference_dir
from .test_checker_end_to_end import run_checker

pytestmark = pytest.mark.e2e

MODEL = "llama3.1-8b"
SCENARIOS = ("Offline", "Server", "Interactive")
SHORT = {
    "Offline": ("--set", "min_query_count=64"),
    "Server": ("--set", "min_duration_ms=500", "--set", "min_query_count=32",
               "--set", "server_target_qps=40"),
    "Interactive": ("--set", "min_duration_ms=500", "--set", "min_query_count=32",
                    "--set", "server_target_qps=40"),
}  # fmt: skip
DATA = ("--synthetic", "32:int32:64", "--performance-count", "64")

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


def lon_run(*argv: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(list(argv)), out, err)
    assert code in (0, 1), err.getvalue()  # VALID or INVALID, never bad input or a failure
    return out.getvalue()


def test_the_official_checker_accepts_an_llm_tree_but_for_short_runs(tmp_path):
    inference = mlperf_inference_dir()
    root, out = tmp_path / "submission", tmp_path / "out"
    layout = ("--division", "network", "--submitter", "Org", "--system", "lan2")
    sub = (*layout, "--model", MODEL, "--submission-dir", str(root))
    test06 = inference / "compliance" / "TEST06" / "audit.config"
    with running_engines(2, "--ttft-ms", "5", "--tpot-ms", "1", "--output-tokens", "16") as urls:
        commands = [
            sut_server_command("openai", extra=("--name", f"n{i}", "--backend-opt",
                                                f"url={url}/v1"))
            for i, url in enumerate(urls)
        ]  # fmt: skip
        with running_nodes(commands) as running:
            nodes = ("--nodes", ",".join(n.address for n in running), "--audit-config", "none")
            for s in SCENARIOS:
                base = (*nodes, "--scenario", s, *DATA, *SHORT[s])
                lon_run(*base, *sub, "--output", str(out / f"perf-{s}"))
                lon_run(*base, *sub, "--mode", "AccuracyOnly", "--output", str(out / f"acc-{s}"))
                results = root / "network" / "Org" / "results" / "lan2" / MODEL / s
                compliance = out / f"TEST06-{s}"
                audit = [a if a != "none" else str(test06) for a in base]
                lon_run(*audit, "--model", MODEL, "--output", str(compliance))
                lon_verify(["TEST06", "-c", str(compliance), "-o", str(results), "-s", s])
    system = root / "network" / "Org" / "systems" / "lan2.json"
    doc = json.loads(system.read_text())
    doc["system_type"] = "datacenter"
    system.write_text(json.dumps(doc, indent=2))
    lon_submission(["seal", str(root)])

    errors, returncode = run_checker(inference, root, tmp_path)
    assert errors == EXPECTED, "\n".join(sorted(errors))
    assert returncode == 1
