"""TEST07: the accuracy of a performance run, scored over every sample it answered.

For benchmarks whose TEST01 cannot compare responses one by one (gpt-oss-120b), an
audit.config makes a performance run log all of its responses, and the benchmark's own accuracy
script scores that log. The score (found in the script's output with ``score_pattern``) must
reach the threshold, which comes from ``--accuracy-threshold`` or else from the audit.config's
``test07_accuracy_threshold``. The script's output and the verdict go to
``TEST07/verify_accuracy.txt``, where the submission checker looks for ``TEST PASS``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from ._audit_config import read_threshold
from ._errors import VerifyError
from ._logs import PERFORMANCE_MODES, require_dir, require_file, require_mode
from ._output import copy_into, test_dir, write_text
from ._verdict import Check, Verdict

TEST = "TEST07"
THRESHOLD_KEY = "test07_accuracy_threshold"
SCORE_PATTERN = r"'exact_match':\s*([\d.]+)"
RULE = "=" * 80


def pick_threshold(audit_config: str | Path | None, threshold: float | None) -> float:
    """The threshold given, or else the audit.config's; VerifyError when there is neither."""
    from_config = None
    if audit_config is not None:
        from_config = read_threshold(audit_config, THRESHOLD_KEY, inline_comments=False)
    if threshold is not None:
        return threshold
    if from_config is None:
        where = f"{audit_config} has no *.*.{THRESHOLD_KEY}" if audit_config else "none given"
        raise VerifyError(
            f"TEST07 needs an accuracy threshold ({where}): pass --accuracy-threshold or "
            f"--audit-config with {THRESHOLD_KEY}"
        )
    return from_config


def compile_score_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled; VerifyError unless it is a regex with a group for the score."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise VerifyError(f"--score-pattern {pattern!r} is not a valid regex: {exc}") from None
    if compiled.groups < 1:
        raise VerifyError(f"--score-pattern {pattern!r} needs a group capturing the score")
    return compiled


def accuracy_command(template: str, accuracy_log: str) -> str:
    """The accuracy script's command with ``{accuracy_log}`` filled in."""
    try:
        return template.format(accuracy_log=accuracy_log)
    except (KeyError, IndexError, ValueError) as exc:
        raise VerifyError(
            f"--accuracy-script: cannot fill in {template!r} ({exc}); the only placeholder is "
            "{accuracy_log}, and literal braces are written {{ and }}"
        ) from None


def run_accuracy_script(command: str, echo: Callable[[str], None] | None) -> tuple[str, int]:
    """Run ``command`` in a shell, its stderr merged into its stdout; the output and status.

    Each line goes to ``echo`` as it comes: a benchmark's accuracy script can take long.
    """
    lines: list[str] = []
    with subprocess.Popen(
        command,
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if echo is not None:
                echo(line)
    return "".join(lines), proc.returncode


def find_score(pattern: re.Pattern[str], output: str) -> float | None:
    """The first score ``pattern`` finds in ``output``, or None."""
    match = pattern.search(output)
    if match is None:
        return None
    try:
        return float(match.group(1))
    except (TypeError, ValueError):
        return None


def verify_test07(
    compliance_dir: str | Path,
    output_dir: str | Path,
    *,
    accuracy_script: str,
    audit_config: str | Path | None = None,
    accuracy_threshold: float | None = None,
    score_pattern: str = SCORE_PATTERN,
    echo: Callable[[str], None] | None = None,
) -> Verdict:
    """Score the TEST07 run's accuracy log with ``accuracy_script`` and write ``OUTPUT/TEST07``.

    ``accuracy_script`` is a shell command in which ``{accuracy_log}`` stands for the run's
    ``mlperf_log_accuracy.json``; it runs in the current directory, and each line of its
    output goes to ``echo`` as it comes. ``accuracy_threshold`` overrides the audit.config's.
    """
    compliance = require_dir(compliance_dir, "compliance directory")
    accuracy_log = require_file(compliance / "mlperf_log_accuracy.json", "TEST07 accuracy log")
    detail = require_file(compliance / "mlperf_log_detail.txt", "TEST07 detail log")
    summary = require_file(compliance / "mlperf_log_summary.txt", "TEST07 summary log")
    require_mode(detail, PERFORMANCE_MODES, "the TEST07 run (made with its audit.config)")
    threshold = pick_threshold(audit_config, accuracy_threshold)
    pattern = compile_score_pattern(score_pattern)
    log_name = os.path.join(os.fspath(compliance_dir), "mlperf_log_accuracy.json")
    command = accuracy_command(accuracy_script, log_name)

    output, status = run_accuracy_script(command, echo)
    score = find_score(pattern, output)
    passed = score is not None and score >= threshold

    found: tuple[str, ...]
    written: tuple[str, ...]
    if score is None:
        found = (
            "Error: Could not parse accuracy score from output.",
            f"Expected pattern: {pattern.pattern}",
        )
        written = ("Error: Could not parse accuracy score",)
    else:
        found = (f"Accuracy score: {score}", f"Accuracy threshold: {threshold}")
        written = (*found, f"Accuracy check pass: {passed}")
    report = "".join(
        f"{line}\n"
        for line in (
            "",
            RULE,
            "TEST07 Verification Summary",
            RULE,
            *written,
            "TEST PASS" if passed else "TEST FAIL",
        )
    )
    notes: tuple[str, ...] = ()
    if status:
        notes = (f"The accuracy script exited with status {status}: {command}",)

    out = test_dir(output_dir, TEST, "accuracy", "performance/run_1")
    write_text(out / "verify_accuracy.txt", output + report)
    copy_into(accuracy_log, out / "accuracy")
    copy_into(summary, out / "performance" / "run_1")
    copy_into(detail, out / "performance" / "run_1")
    lines = ("", RULE, *found, "", f"Accuracy check pass: {passed}", "TEST07 verification complete")
    return Verdict(TEST, (Check("accuracy", passed, notes=notes),), lines, out)
