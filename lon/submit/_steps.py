"""Running one step of the plan: lon-run (and lon-verify) as processes of their own.

A process per run: the official LoadGen keeps process-wide state, and a step killed with its
plan leaves nothing running (the child gets SIGTERM when lon-submit dies). Each run's own
live progress goes to the terminal; its error lines are kept for the step's outcome.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence

from loadgen import submission
from loadgen.logs import read_validity

from ._config import SubmitConfig
from ._plan import Step, quick_sets
from ._state import Outcome

EXIT_VALID, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 130
_METRIC = re.compile(
    r"^(Samples per second|Completed samples per second|Tokens per second|"
    r"Completed tokens per second|\d+(?:\.\d+)? percentile latency \(ns\))\s*:\s*(\S+)",
    re.MULTILINE,
)


def layout(config: SubmitConfig) -> submission.Layout:
    return submission.Layout(
        config.tree, config.division, config.submitter, config.system, config.model
    )


def run_output(config: SubmitConfig, step: Step) -> str:
    assert step.scenario is not None
    return os.path.join(config.runs, step.scenario, step.kind)


def lon_run_argv(config: SubmitConfig, step: Step) -> list[str]:
    assert step.scenario is not None
    argv = [
        "--nodes", config.nodes, "--scenario", step.scenario, *config.data_args(),
        "--model", config.model, "--division", config.division, "--loadgen", config.loadgen,
        "--output", run_output(config, step),
    ]  # fmt: skip
    if config.user_conf is not None:
        argv += ["--user-conf", config.user_conf]
    for item in quick_sets(config, step.scenario):
        argv += ["--set", item]
    argv += list(config.run_args)
    if step.kind in ("performance", "accuracy"):
        argv += [
            "--submission-dir", config.tree, "--submitter", config.submitter,
            "--system", config.system, "--audit-config", "none",
        ]  # fmt: skip
        if step.kind == "accuracy":
            argv += ["--mode", "AccuracyOnly"]
        if config.rehearsal:
            argv.append("--rehearsal")
    else:
        assert step.audit_config is not None
        argv += ["--audit-config", step.audit_config]
    return argv


def verify_argv(config: SubmitConfig, step: Step) -> list[str]:
    assert step.scenario is not None and step.audit_config is not None
    results = layout(config).scenario_dir(step.scenario)
    argv = [step.kind, "-c", run_output(config, step), "-o", results]
    if step.kind in ("TEST01", "TEST04", "TEST08"):
        argv += ["-r", results]
    if step.kind == "TEST06":
        argv += ["-s", step.scenario]
        if config.eos_token_id is not None:
            argv += ["-e", str(config.eos_token_id)]
    if step.kind in ("TEST07", "TEST09"):
        argv += ["--audit-config", step.audit_config]
    if step.kind == "TEST07" and config.test07_accuracy_script:
        argv += ["--accuracy-script", config.test07_accuracy_script]
    return argv


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run(module: str, argv: Sequence[str]) -> tuple[int, str]:
    """Run ``python -m module argv``; its stdout to ours; return (exit status, its stderr)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *argv],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    assert proc.stderr is not None
    err = []
    for line in proc.stderr:
        sys.stderr.write(line)
        err.append(line)
    return proc.wait(), "".join(err)


def _failure(err: str, code: int) -> str:
    lines = [line for line in err.splitlines() if "error" in line.lower()] or err.splitlines()
    return lines[-1].strip() if lines else f"exit status {code}"


def metric(summary: str) -> str:
    try:
        with open(summary, encoding="utf-8", errors="replace") as f:
            match = _METRIC.search(f.read())
    except OSError:
        return ""
    return f"{match.group(1)}: {match.group(2)}" if match else ""


def run_step(config: SubmitConfig, step: Step) -> Outcome:
    """Run one run step (lon-run, then lon-verify for a compliance test)."""
    output = run_output(config, step)
    code, err = _run("lon._run", lon_run_argv(config, step))
    if code in (EXIT_INTERRUPTED, -signal.SIGINT, -signal.SIGTERM):
        return Outcome("interrupted")
    if code not in (EXIT_VALID, EXIT_INVALID):
        return Outcome("failed", logs=output, detail=_failure(err, code))
    summary = os.path.join(output, "mlperf_log_summary.txt")
    validity = read_validity(summary) or ("VALID" if code == EXIT_VALID else "INVALID")
    if step.kind == "performance":
        return Outcome(validity, metric(summary), output)
    if step.kind == "accuracy":
        return _accuracy(config, step, output)
    code, err = _run("loadgen.compliance._cli", verify_argv(config, step))
    if code not in (EXIT_VALID, EXIT_INVALID):
        return Outcome("failed", logs=output, detail=_failure(err, code))
    return Outcome("PASS" if code == EXIT_VALID else "FAIL", "", output)


def _accuracy(config: SubmitConfig, step: Step, output: str) -> Outcome:
    """The accuracy run placed; accuracy.txt from ``accuracy_command`` when one is set."""
    assert step.scenario is not None
    accuracy = os.path.join(layout(config).scenario_dir(step.scenario), "accuracy")
    txt = os.path.join(accuracy, "accuracy.txt")
    if os.path.isfile(txt):
        return Outcome("done", "accuracy.txt written", output)
    if config.accuracy_command is None:
        return Outcome("done", "", output, "accuracy.txt still needed (accuracy_command)")
    log = os.path.join(output, "mlperf_log_accuracy.json")
    command = config.accuracy_command.replace("{accuracy_log}", log)
    proc = subprocess.run(command, shell=True, capture_output=True, text=True)  # noqa: S602
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return Outcome("failed", logs=output, detail=f"accuracy_command: {last}")
    with open(txt, "w", encoding="utf-8") as f:
        f.write(proc.stdout)
    return Outcome("done", "accuracy.txt written", output)


def in_place(config: SubmitConfig, step: Step) -> bool:
    """Whether the step's output is where the tree keeps it."""
    assert step.scenario is not None
    scenario = layout(config).scenario_dir(step.scenario)
    if step.kind == "performance":
        return os.path.isfile(
            os.path.join(scenario, "performance", "run_1", "mlperf_log_summary.txt")
        )
    if step.kind == "accuracy":
        return os.path.isfile(os.path.join(scenario, "accuracy", "mlperf_log_accuracy.json"))
    return os.path.isdir(os.path.join(scenario, step.kind))
