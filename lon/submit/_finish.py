"""The steps after the runs: the system description, sealing, the checker, the tarball."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
from dataclasses import dataclass

from loadgen import submission

from ._config import SubmitConfig
from ._host import loadgen_fields
from ._state import Outcome
from ._steps import layout

CHECKER_TIMEOUT_S = 600
SHORT_RUN_ERRORS = (
    r"Test duration less than 600s",
    r"Early stopping condition was not met",
    r"Compliance test performance check in .* failed",
    r"accurcy run does not cover all dataset",
    r"Latency constraint .*not met",
)
"""What the checker says of runs shorter than the rules ask (``--quick``)."""
NO_ACCURACY_TXT_ERRORS = (
    r"Execution occurred in running check .*accuracy_result_check",
    r"is not truncated",
)
"""What it says where no accuracy.txt could be written (listed as still needed)."""
ROLL_UP_ERRORS = (
    r"Some \w+ checks? Checks failed for",
    r"NoResults ",
    r"SUMMARY: submission has errors",
)
"""Lines that only sum up the errors above."""


def fill_system(config: SubmitConfig) -> Outcome:
    """system_type, the [system_description] values, and the LoadGen host's NICs."""
    path = layout(config).system_json
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        return Outcome("failed", logs=path, detail="no system description (no run was placed)")
    except (OSError, ValueError) as exc:
        return Outcome("failed", logs=path, detail=f"unreadable: {exc}")
    doc["system_type"] = config.system_type
    doc.update(config.system_description)
    for key, value in loadgen_fields().items():
        if str(doc.get(key, "")).startswith(submission.FILL_ME):
            doc[key] = value
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return Outcome("done", logs=path)


def seal(config: SubmitConfig) -> Outcome:
    if config.rehearsal:
        return Outcome("refused", detail="a rehearsal tree is never sealed")
    try:
        sealed = submission.seal_tree(config.tree)
    except submission.SubmissionError as exc:
        return Outcome("failed", detail=str(exc))
    needs = [s for s in sealed if s.outcome == "still needs"]
    detail = f"{len(needs)} accuracy directory(ies) still need accuracy.txt" if needs else ""
    return Outcome("done", f"{len(sealed) - len(needs)} sealed", config.tree, detail)


@dataclass(frozen=True)
class CheckerVerdict:
    returncode: int
    expected: list[tuple[str, str]]  # (why, error): a short run, a still-needed accuracy.txt
    unexpected: list[str]
    log: str


def run_checker(config: SubmitConfig, accuracy_missing: bool) -> CheckerVerdict:
    """The official checker on the tree; its errors sorted into expected and unexpected."""
    log = os.path.join(config.output, "checker.log")
    try:
        proc = subprocess.run(
            [
                sys.executable, "-m", "submission_checker.main", "--input",
                os.path.abspath(config.tree), "--version", config.version,
                "--csv", os.path.abspath(os.path.join(config.output, "summary.csv")),
            ],
            cwd=os.path.join(config.inference, "tools", "submission"),
            capture_output=True, text=True, timeout=CHECKER_TIMEOUT_S,
        )  # fmt: skip
        text, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired:
        text, code = f"the checker ran past {CHECKER_TIMEOUT_S} s\n", -1
    with open(log, "w", encoding="utf-8") as f:
        f.write(text)
    errors = [line.split(" ERROR] ", 1)[1] for line in text.splitlines() if " ERROR] " in line]
    if "Traceback" in text:
        errors.append("the checker crashed (a Traceback in " + log + ")")
    reasons = [(p, "sums up the others") for p in ROLL_UP_ERRORS]
    if config.quick:
        reasons += [(p, "a short run (--quick)") for p in SHORT_RUN_ERRORS]
    if config.rehearsal:
        reasons.append((r"is not truncated", "a rehearsal is never sealed"))
    if accuracy_missing:
        reasons += [(p, "no accuracy.txt yet (listed above)") for p in NO_ACCURACY_TXT_ERRORS]
    expected, unexpected = [], []
    for error in errors:
        why = next((r for p, r in reasons if re.search(p, error)), None)
        if why is None:
            unexpected.append(error)
        else:
            expected.append((why, error))
    if code not in (0, 1) and not unexpected:
        unexpected.append(f"the checker exited with status {code} (see {log})")
    return CheckerVerdict(code, expected, unexpected, log)


def tarball(config: SubmitConfig) -> Outcome:
    """``mlperf_submission_<submitter>.tar.gz`` of the tree, and its SHA-1 beside it."""
    if config.rehearsal:
        return Outcome("refused", detail="a rehearsal tree is not packed")
    path = os.path.join(config.output, f"mlperf_submission_{config.submitter}.tar.gz")
    with tarfile.open(path, "w:gz") as tar:
        for division in sorted(os.listdir(config.tree)):
            tar.add(os.path.join(config.tree, division), arcname=division)
    digest = hashlib.sha1(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    with open(path.removesuffix(".tar.gz") + ".sha1", "w", encoding="utf-8") as f:
        f.write(f"{digest.hexdigest()}  {os.path.basename(path)}\n")
    return Outcome("done", digest.hexdigest()[:12], path)


def unfilled_lines(config: SubmitConfig) -> list[str]:
    """``file:line: key`` of every FILL ME value left in the tree's descriptive files."""
    found = []
    for top, _, files in os.walk(config.tree):
        for name in sorted(files):
            if not name.endswith((".json", ".md")):
                continue
            path = os.path.join(top, name)
            with open(path, encoding="utf-8", errors="replace") as f:
                for number, line in enumerate(f, 1):
                    if submission.FILL_ME in line:
                        key = (
                            line.split(":", 1)[0].strip().strip('"')
                            if name.endswith(".json")
                            else ""
                        )
                        found.append(f"{path}:{number}" + (f": {key}" if key else ""))
    return sorted(found)
