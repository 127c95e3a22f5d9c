"""TEST09: a performance run's outputs are as long as the benchmark's reference outputs.

An audit.config makes a performance run log every response; each response's length is its
number of 4-byte tokens. The mean length must lie within the bounds, which come from
``--min-output-tokens``/``--max-output-tokens`` or else from the audit.config's
``test09_min_output_tokens``/``test09_max_output_tokens``: truncated outputs would make the run
look faster, padded ones would hide a broken model. The statistics and the verdict go to
``TEST09/verify_output_len.txt``, where the submission checker looks for ``TEST PASS``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ._audit_config import read_threshold
from ._errors import VerifyError
from ._logs import (
    PERFORMANCE_MODES,
    entry_name,
    read_accuracy_log,
    require_dir,
    require_file,
    require_mode,
)
from ._output import copy_into, test_dir, write_text
from ._verdict import Check, Verdict

TEST = "TEST09"
TOKEN_BYTES = 4  # token ids are logged as 32-bit integers
RULE = "=" * 80
TITLE = "TEST09: Verify Output Token Length in Performance Mode"


def bounds(
    audit_config: str | Path | None, low: float | None, high: float | None
) -> tuple[float, float]:
    """The bounds given, each falling back on the audit.config's; VerifyError if one is unknown."""
    if audit_config is not None:
        if low is None:
            low = read_threshold(audit_config, "test09_min_output_tokens", inline_comments=True)
        if high is None:
            high = read_threshold(audit_config, "test09_max_output_tokens", inline_comments=True)
    if low is None or high is None:
        missing = " and ".join(
            f"--{side}-output-tokens" for side, v in (("min", low), ("max", high)) if v is None
        )
        source = f"{audit_config} has no test09 bound for it" if audit_config else "none given"
        raise VerifyError(f"TEST09 needs {missing} ({source}), or --audit-config with both")
    return low, high


@dataclass(frozen=True)
class Lengths:
    """The output lengths of a run, in tokens, and their statistics."""

    counts: tuple[int, ...]

    @property
    def mean(self) -> float:
        return sum(self.counts) / len(self.counts)

    @property
    def std(self) -> float:
        """The population standard deviation."""
        mean = self.mean
        return (sum((c - mean) ** 2 for c in self.counts) / len(self.counts)) ** 0.5


def output_lengths(accuracy_log: Path) -> Lengths:
    """Each logged response's length in whole tokens; VerifyError if the log has none."""
    entries = read_accuracy_log(accuracy_log)
    if not entries:
        raise VerifyError(
            f"{accuracy_log} has no entries: was the TEST09 run made with its audit.config?"
        )
    counts = []
    for i, e in enumerate(entries):
        try:
            counts.append(len(bytes.fromhex(e["data"].strip())) // TOKEN_BYTES)
        except ValueError:
            raise VerifyError(
                f"{entry_name(accuracy_log, i, e)}: data is not a hex string"
            ) from None
    return Lengths(tuple(counts))


def report(lengths: Lengths, low: float, high: float) -> tuple[bool, str]:
    """The verdict and the text of verify_output_len.txt."""
    mean = lengths.mean
    low_ok, high_ok = mean >= low, mean <= high
    passed = low_ok and high_ok
    lines = [
        RULE,
        TITLE,
        RULE,
        "",
        "Output Token Length Statistics",
        "-" * 40,
        f"Total samples: {len(lengths.counts)}",
        f"Mean output tokens: {mean:.2f}",
        f"Min output tokens: {min(lengths.counts)}",
        f"Max output tokens: {max(lengths.counts)}",
        f"Std deviation: {lengths.std:.2f}",
        "",
        RULE,
        "Verification Results",
        RULE,
        f"Mean output tokens: {mean:.2f}",
        f"Min threshold: {low}",
        f"Max threshold: {high}",
        f"Min check pass: {low_ok}",
        f"Max check pass: {high_ok}",
        "",
        "TEST PASS" if passed else "TEST FAIL",
    ]
    return passed, "".join(f"{line}\n" for line in lines)


def verify_test09(
    compliance_dir: str | Path,
    output_dir: str | Path,
    *,
    audit_config: str | Path | None = None,
    min_output_tokens: float | None = None,
    max_output_tokens: float | None = None,
) -> Verdict:
    """Check the TEST09 run's mean output length and write ``OUTPUT/TEST09``."""
    compliance = require_dir(compliance_dir, "compliance directory")
    accuracy_log = require_file(compliance / "mlperf_log_accuracy.json", "TEST09 accuracy log")
    detail = require_file(compliance / "mlperf_log_detail.txt", "TEST09 detail log")
    summary = require_file(compliance / "mlperf_log_summary.txt", "TEST09 summary log")
    require_mode(detail, PERFORMANCE_MODES, "the TEST09 run (made with its audit.config)")
    low, high = bounds(audit_config, min_output_tokens, max_output_tokens)
    lengths = output_lengths(accuracy_log)
    passed, text = report(lengths, low, high)

    out = test_dir(output_dir, TEST, "accuracy", "performance/run_1")
    write_text(out / "verify_output_len.txt", text)
    copy_into(accuracy_log, out / "accuracy")
    copy_into(summary, out / "performance" / "run_1")
    copy_into(detail, out / "performance" / "run_1")
    mean = lengths.mean
    lines = (
        f"Mean output tokens: {mean:.2f}",
        f"Min threshold: {low} -> {'PASS' if mean >= low else 'FAIL'}",
        f"Max threshold: {high} -> {'PASS' if mean <= high else 'FAIL'}",
        "",
        f"Overall: {'TEST PASS' if passed else 'TEST FAIL'}",
        "",
        RULE,
        "TEST09 verification complete",
        f"Results written to: {os.path.join(os.fspath(output_dir), TEST)}",
        RULE,
    )
    return Verdict(TEST, (Check("output length", passed, text),), lines, out)
