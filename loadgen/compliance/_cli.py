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
from ._verdict import Verdict

TESTS = ("TEST01", "TEST04", "TEST06")
PROG = "lon-verify"
BASELINE = "mlperf_log_accuracy_baseline.json"  # where the official baseline script writes it


def _parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Verify a TEST01, TEST04 or TEST06 compliance run and write the files "
        "the submission needs under OUTPUT_DIR/TESTxx.",
        epilog="Exit status: 0 PASS, 1 FAIL, 2 bad input.",
    )
    p.add_argument("test", metavar="TEST", help="TEST01, TEST04 or TEST06")
    p.add_argument(
        "-r",
        "--results-dir",
        "--results_dir",
        dest="results_dir",
        help="the submission's results directory for this benchmark and scenario (holding "
        "accuracy/ and performance/run_1/); TEST01 and TEST04",
    )
    p.add_argument(
        "-c",
        "--compliance-dir",
        "--compliance_dir",
        dest="compliance_dir",
        required=True,
        help="the directory with the compliance run's logs",
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
    return p


def _only_for(args: argparse.Namespace, test: str) -> None:
    """Reject options the chosen test does not use, instead of silently ignoring them."""
    if test != "TEST01" and args.unixmode:
        raise VerifyError(f"--unixmode applies to TEST01 only, not {test}")
    if test != "TEST06" and args.scenario is not None:
        raise VerifyError(f"--scenario applies to TEST06 only, not {test}")
    if test != "TEST06" and args.eos_token_id is not None:
        raise VerifyError(f"--eos-token-id applies to TEST06 only, not {test}")
    if test != "TEST01" and args.baseline_file is not None:
        raise VerifyError(f"--baseline-file applies to TEST01 only, not {test}")
    if test == "TEST04" and args.dtype is not None:
        raise VerifyError("--dtype does not apply to TEST04")
    if test in ("TEST01", "TEST04") and args.results_dir is None:
        raise VerifyError(f"{test} needs --results-dir")


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
