"""TEST04: the SUT does not cache results, so issuing one sample over and over is no faster.

Both runs are judged from their summaries. The score is a rate: the early-stopping percentile
latency turned into 1e9/latency for SingleStream (90th, or 99.9th where that is the target) and
MultiStream (99th), completed samples per second for Server, samples per second for Offline. The
TEST04 run may be at most 10 % faster than the submission run (20 % when the SingleStream or
MultiStream score is small, i.e. the latency is long enough to be noisy).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ._errors import VerifyError
from ._logs import require_dir, require_file
from ._output import copy_into, test_dir, write_text
from ._verdict import Check, Verdict

TEST = "TEST04"
_SCORE_LINES = {
    "SingleStream": re.compile(r".*Early stopping (90th|90.0th|99.9th) percentile estimate"),
    "MultiStream": re.compile(r".*Early stopping (99th|99.0th) percentile estimate"),
    "Server": re.compile(r"Completed samples per second"),
    "Offline": re.compile(r"Samples per second"),
}
_LATENCY_SCENARIOS = ("SingleStream", "MultiStream")
_SMALL_SCORE = {"SingleStream": 200_000, "MultiStream": 1_600_000}


@dataclass(frozen=True)
class SummaryScore:
    """What TEST04 reads from one summary.

    ``score_text`` is the score as reported (the rate for latency scenarios); ``invalid`` is set
    when the summary says ``Result is : INVALID`` (reading stops there); ``warnings`` are the
    ``N ERROR`` lines seen before that point.
    """

    path: Path
    scenario: str
    score: float | None
    score_text: str
    invalid: bool
    warnings: tuple[str, ...]


def _value(path: Path, number: int, line: str) -> str:
    if ": " not in line:
        raise VerifyError(f"{path}:{number}: expected 'name : value', got {line.strip()!r}")
    return line.split(": ", 1)[1].strip()


def read_summary_score(path: Path, role: str) -> SummaryScore:
    """Scan a summary top to bottom the way TEST04 does; ``role`` is reference or test."""
    scenario, score, score_text = "", None, ""
    warnings: list[str] = []
    try:
        with open(path, encoding="utf-8") as f:
            lines = list(enumerate(f, start=1))
    except OSError as exc:
        raise VerifyError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{path}: not UTF-8 text") from None
    for number, line in lines:
        if line.startswith("Scenario"):
            scenario = _value(path, number, line)
            continue
        pattern = _SCORE_LINES.get(scenario)
        if pattern is not None and pattern.match(line):
            text = _value(path, number, line)
            try:
                value = float(text)
                if scenario in _LATENCY_SCENARIOS:
                    value = 1e9 / value
                    text = str(value)
            except (ValueError, ZeroDivisionError):
                raise VerifyError(f"{path}:{number}: {text!r} is not a usable score") from None
            score, score_text = value, text
            continue
        if line.startswith("Result is") and _value(path, number, line) == "INVALID":
            return SummaryScore(path, scenario, score, score_text, True, tuple(warnings))
        error = re.match(r"(\d+) ERROR", line)
        if error:
            warnings.append(f"WARNING: {error.group(1)} ERROR reported in {role} results")
    if not scenario:
        raise VerifyError(f"{path}: no 'Scenario :' line; is this a LoadGen summary?")
    if score is None:
        raise VerifyError(f"{path}: no score line for scenario {scenario!r}")
    return SummaryScore(path, scenario, score, score_text, False, tuple(warnings))


def check_performance(reference: Path, test: Path) -> Check:
    """The TEST04 run (``test``) must not beat the reference summary by more than the margin."""
    lines = ["Verifying performance."]
    ref = read_summary_score(reference, "reference")
    lines += ref.warnings
    if ref.invalid:
        return Check("performance", False, "\n".join([*lines, _invalid("Reference")]) + "\n")
    got = read_summary_score(test, "test")
    lines += got.warnings
    if got.invalid:
        return Check("performance", False, "\n".join([*lines, _invalid("Test")]) + "\n")
    if got.scenario != ref.scenario:
        lines.append("Test and reference scenarios do not match!")
        return Check("performance", False, "\n".join(lines) + "\n")
    assert ref.score is not None and got.score is not None  # read_summary_score ensures it
    lines += [f"reference score = {ref.score_text}", f"test score = {got.score_text}"]
    small = ref.score <= _SMALL_SCORE.get(ref.scenario, -1)
    passed = got.score < ref.score * (1 + (0.20 if small else 0.10))
    lines.append("TEST PASS" if passed else "TEST FAIL: Test score invalid")
    return Check("performance", passed, "\n".join(lines) + "\n")


def _invalid(role: str) -> str:
    return f"TEST FAIL: {role} results are invalid"


def verify_test04(
    results_dir: str | Path, compliance_dir: str | Path, output_dir: str | Path
) -> Verdict:
    """Compare the TEST04 run with the submission run and write ``output_dir/TEST04``.

    ``results_dir`` holds ``performance/run_1/mlperf_log_summary.txt``; ``compliance_dir`` the
    summary and detail logs of the TEST04 run.
    """
    results = require_dir(results_dir, "results directory")
    compliance = require_dir(compliance_dir, "compliance directory")
    ref_summary = require_file(
        results / "performance" / "run_1" / "mlperf_log_summary.txt", "performance-run summary"
    )
    test_summary = require_file(compliance / "mlperf_log_summary.txt", "TEST04 summary log")
    test_detail = require_file(compliance / "mlperf_log_detail.txt", "TEST04 detail log")

    performance = check_performance(ref_summary, test_summary)

    out = test_dir(output_dir, TEST, "performance/run_1")
    write_text(out / "verify_performance.txt", performance.report)
    copy_into(test_summary, out / "performance" / "run_1")
    copy_into(test_detail, out / "performance" / "run_1")
    lines = (f"Performance check pass: {performance.passed}", "TEST04 verification complete")
    return Verdict(TEST, (performance,), lines, out)
