"""``lon-verify``: run one compliance verification from the command line.

Exit status: 0 when the test passes, 1 when it fails, 2 on bad input (one line on stderr).
Options follow the official scripts' names; both ``--results-dir`` and ``--results_dir`` work.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..cli import Parser
from ._errors import VerifyError
from ._test01 import verify_test01
from ._test04 import verify_test04
from ._test06 import SCENARIOS, verify_test06
from ._test07 import SCORE_PATTERN, verify_test07
from ._test08 import TOLERANCE, verify_test08
from ._test09 import verify_test09
from ._verdict import Verdict

TESTS = ("TEST01", "TEST04", "TEST06", "TEST07", "TEST08", "TEST09")
PROG = "lon-verify"
BASELINE = "mlperf_log_accuracy_baseline.json"  # where the official baseline script writes it


_EXAMPLES = """\
examples (R: a scenario's results directory, RUN: the compliance run's logs):
  lon-verify TEST01 -r R -c RUN -o R
  lon-verify TEST04 -r R -c RUN -o R
  lon-verify TEST06 -c RUN -o R
  lon-verify TEST07 -c RUN -o R --audit-config TEST07/gpt-oss-120b/audit.config \\
      --accuracy-script 'python3 eval_mlperf_accuracy.py --mlperf-log {accuracy_log} ...'
  lon-verify TEST08 -r R -c RUN -o R            # dlrm-v3; R holds accuracy/
  lon-verify TEST09 -c RUN -o R --audit-config TEST09/gpt-oss-120b/audit.config

Exit status: 0 PASS, 1 FAIL, 2 bad input."""


def _parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Verify a TEST01, TEST04, TEST06, TEST07, TEST08 or TEST09 compliance run\n"
        "and write the files the submission needs under OUTPUT_DIR/TESTxx.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("test", metavar="TEST", help=", ".join(TESTS))
    p.add_argument(
        "-r",
        "--results-dir",
        "--results_dir",
        "--reference-accuracy",
        "--reference_accuracy",
        dest="results_dir",
        help="the submission's results directory for this benchmark and scenario (holding "
        "accuracy/ and performance/run_1/); TEST01, TEST04 and TEST08 (for TEST08 also the "
        "accuracy run's mlperf_log_accuracy.json itself)",
    )
    p.add_argument(
        "-c",
        "--compliance-dir",
        "--compliance_dir",
        "-t",
        "--test-accuracy",
        "--test_accuracy",
        dest="compliance_dir",
        required=True,
        help="the directory with the compliance run's logs (for TEST08 also its "
        "mlperf_log_accuracy.json itself)",
    )
    p.add_argument(
        "-o",
        "--output-dir",
        "--output_dir",
        dest="output_dir",
        required=True,
        help="where OUTPUT_DIR/TESTxx is written (the submission's compliance directory)",
    )
    p.add_argument(
        "-d",
        "--dtype",
        help="how response data decodes: TEST01 byte (default), float32, int32, int64; "
        "TEST06 int32 (default), int64, int16, float32",
    )
    p.add_argument(
        "--unixmode",
        action="store_true",
        help="TEST01: compare whole log lines by md5, streaming (for very large logs)",
    )
    p.add_argument(
        "--baseline-file",
        "--baseline_file",
        dest="baseline_file",
        help="TEST01: where to write the accuracy run's entries for the logged samples when "
        f"the accuracy check fails (default: {BASELINE} in the current directory)",
    )
    p.add_argument(
        "-s",
        "--scenario",
        help=f"TEST06: one of {', '.join(SCENARIOS)} (default: from the run's detail log)",
    )
    p.add_argument(
        "-e",
        "--eos-token-id",
        "--eos_token_id",
        dest="eos_token_id",
        type=int,
        help="TEST06: the tokenizer's EOS token id (default: 2)",
    )
    p.add_argument(
        "--accuracy-script",
        "--accuracy_script",
        dest="accuracy_script",
        help="TEST07: the shell command that scores an accuracy log; {accuracy_log} stands for "
        "the compliance run's mlperf_log_accuracy.json",
    )
    p.add_argument(
        "--audit-config",
        "--audit_config",
        dest="audit_config",
        help="TEST07 and TEST09: the audit.config of the run, holding the test's thresholds "
        "(test07_accuracy_threshold; test09_min_output_tokens, test09_max_output_tokens)",
    )
    p.add_argument(
        "--accuracy-threshold",
        "--accuracy_threshold",
        dest="accuracy_threshold",
        type=float,
        help="TEST07: the least passing score (overrides the audit.config's)",
    )
    p.add_argument(
        "--score-pattern",
        "--score_pattern",
        dest="score_pattern",
        help="TEST07: regex whose first group is the score in the accuracy script's output "
        f"(default: {SCORE_PATTERN.replace('%', '%%')})",
    )
    p.add_argument(
        "--tolerance",
        type=float,
        help=f"TEST08: the largest relative NE difference that passes (default: {TOLERANCE})",
    )
    p.add_argument(
        "--min-output-tokens",
        "--min_output_tokens",
        dest="min_output_tokens",
        type=float,
        help="TEST09: the least passing mean output length (overrides the audit.config's)",
    )
    p.add_argument(
        "--max-output-tokens",
        "--max_output_tokens",
        dest="max_output_tokens",
        type=float,
        help="TEST09: the greatest passing mean output length (overrides the audit.config's)",
    )
    return p


_OPTIONS = {
    # option: (its dest, the tests it applies to)
    "--unixmode": ("unixmode", ("TEST01",)),
    "--scenario": ("scenario", ("TEST06",)),
    "--eos-token-id": ("eos_token_id", ("TEST06",)),
    "--baseline-file": ("baseline_file", ("TEST01",)),
    "--dtype": ("dtype", ("TEST01", "TEST06")),
    "--results-dir": ("results_dir", ("TEST01", "TEST04", "TEST06", "TEST08")),  # TEST06: unused
    "--accuracy-script": ("accuracy_script", ("TEST07",)),
    "--audit-config": ("audit_config", ("TEST07", "TEST09")),
    "--accuracy-threshold": ("accuracy_threshold", ("TEST07",)),
    "--score-pattern": ("score_pattern", ("TEST07",)),
    "--tolerance": ("tolerance", ("TEST08",)),
    "--min-output-tokens": ("min_output_tokens", ("TEST09",)),
    "--max-output-tokens": ("max_output_tokens", ("TEST09",)),
}


def _only_for(args: argparse.Namespace, test: str) -> None:
    """Reject options the chosen test does not use, instead of silently ignoring them."""
    for option, (dest, tests) in _OPTIONS.items():
        value = getattr(args, dest)
        if test in tests or value is None or value is False:
            continue
        if len(tests) == 1:
            raise VerifyError(f"{option} applies to {tests[0]} only, not {test}")
        raise VerifyError(f"{option} does not apply to {test}")
    if test in ("TEST01", "TEST04", "TEST08") and args.results_dir is None:
        raise VerifyError(f"{test} needs --results-dir")
    if test == "TEST07" and args.accuracy_script is None:
        raise VerifyError("TEST07 needs --accuracy-script")


def _echo(line: str) -> None:
    """Show the accuracy script's output as it comes (it can run for a long time)."""
    sys.stdout.write(line)
    sys.stdout.flush()


def run(argv: Sequence[str] | None = None) -> Verdict:
    """Parse ``argv`` and run the verification; VerifyError on bad input."""
    args = _parser().parse_args(argv)
    test = args.test.upper()
    if test not in TESTS:
        raise VerifyError(f"unknown test {args.test!r}; choose one of {', '.join(TESTS)}")
    _only_for(args, test)
    if test == "TEST01":
        return verify_test01(
            args.results_dir,
            args.compliance_dir,
            args.output_dir,
            dtype=args.dtype or "byte",
            unixmode=args.unixmode,
            baseline_file=args.baseline_file or BASELINE,
        )
    if test == "TEST04":
        return verify_test04(args.results_dir, args.compliance_dir, args.output_dir)
    if test == "TEST07":
        return verify_test07(
            args.compliance_dir,
            args.output_dir,
            accuracy_script=args.accuracy_script,
            audit_config=args.audit_config,
            accuracy_threshold=args.accuracy_threshold,
            score_pattern=args.score_pattern or SCORE_PATTERN,
            echo=_echo,
        )
    if test == "TEST08":
        return verify_test08(
            args.results_dir,
            args.compliance_dir,
            args.output_dir,
            tolerance=TOLERANCE if args.tolerance is None else args.tolerance,
        )
    if test == "TEST09":
        return verify_test09(
            args.compliance_dir,
            args.output_dir,
            audit_config=args.audit_config,
            min_output_tokens=args.min_output_tokens,
            max_output_tokens=args.max_output_tokens,
        )
    return verify_test06(
        args.compliance_dir,
        args.output_dir,
        scenario=args.scenario,
        dtype=args.dtype or "int32",
        eos_token_id=2 if args.eos_token_id is None else args.eos_token_id,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: print the verdict; 0 PASS, 1 FAIL, 2 bad input."""
    try:
        verdict = run(argv)
    except VerifyError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(verdict.console_text())
    return 0 if verdict.passed else 1


if __name__ == "__main__":
    sys.exit(main())
