"""lon-verify TEST09 on real compliance runs of our LoadGen, judged against the official script.

The SUT answers int32 token ids, 8 to 12 of them a sample (10 on average over the samples the
runs issue), so the audit.config's bounds of 9 and 11 tokens pass it; truncated or padded
answers fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import loadgen as lg
from loadgen.compliance import verify_test09
from tests.loadgen.compliance_runs import (
    TEST09_AUDIT,
    AnswerSUT,
    run,
    run_official_process,
    same_tree,
    settings,
)
from tests.loadgen.test_verify import fails_cleanly, verify

PERF, ACC = lg.TestMode.PerformanceOnly, lg.TestMode.AccuracyOnly
OFFLINE = lg.TestScenario.Offline


def tokens(length: int):
    return lambda index: np.arange(length(index), dtype=np.int32).tobytes()


CASES = {
    # name: (output length per sample, extra options, passes)
    "reference-length": (lambda i: 8 + i % 5, [], True),
    "truncated": (lambda i: 3, [], False),
    "padded": (lambda i: 30 + i % 5, [], False),
    "bounds-from-options": (lambda i: 3,
                            ["--min-output-tokens", "2", "--max-output-tokens", "4"], True),
    "one-bound-overridden": (lambda i: 8 + i % 5, ["--max-output-tokens", "9.5"], False),
}  # fmt: skip


def compliance_run(root: Path, length) -> tuple[Path, Path]:
    """A TEST09 run (every response logged) and its audit.config."""
    run_dir = run(root / "TEST09", AnswerSUT(tokens(length)), settings(OFFLINE, PERF), TEST09_AUDIT)
    return run_dir, root / "TEST09.audit.config"


@pytest.mark.parametrize("case", list(CASES))
def test_test09_verdict_matches_the_official_script(official_dir, tmp_path, capsys, case):
    length, extra, passed = CASES[case]
    compliance, audit = compliance_run(tmp_path, length)
    args = ["-c", str(compliance), "--audit-config", str(audit), *extra]
    theirs = run_official_process(
        official_dir / "compliance/TEST09/run_verification.py",
        *args, "-o", str(tmp_path / "theirs"), cwd=tmp_path / "cwd",
    )  # fmt: skip
    verdict = f"Overall: TEST {'PASS' if passed else 'FAIL'}"
    assert theirs.returncode == (0 if passed else 1), theirs.stdout + theirs.stderr
    assert verdict in theirs.stdout.splitlines(), theirs.stdout
    status, out = verify("TEST09", *args, "-o", str(tmp_path / "ours"), capsys=capsys)
    assert status == theirs.returncode
    assert verdict in out.splitlines()
    assert out.splitlines()[-1] == f"TEST09 verdict: {'PASS' if passed else 'FAIL'}"
    assert f"Results written to: {tmp_path / 'ours' / 'TEST09'}" in out
    same_tree(tmp_path / "ours", tmp_path / "theirs")
    # The lines the official script prints about the thresholds are ours too.
    for line in theirs.stdout.splitlines():
        if line.startswith(("Mean output tokens:", "Min threshold:", "Max threshold:")):
            assert line in out.splitlines(), line


def test_mean_and_spread_of_the_lengths(tmp_path):
    compliance, audit = compliance_run(tmp_path, lambda i: 8 + i % 5)
    verdict = verify_test09(compliance, tmp_path / "o", audit_config=audit)
    text = (tmp_path / "o" / "TEST09" / "verify_output_len.txt").read_text()
    assert verdict.passed and "Total samples: 100\n" in text
    assert "Min output tokens: 8\n" in text and "Max output tokens: 12\n" in text
    assert "Min threshold: 9.0\nMax threshold: 11.0\n" in text


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def good_run(tmp_path) -> tuple[Path, Path]:
    return compliance_run(tmp_path, lambda i: 10)


def test_accuracy_run_logs_are_refused(tmp_path, capsys):
    run_dir = run(tmp_path / "acc", AnswerSUT(tokens(lambda i: 10)), settings(OFFLINE, ACC))
    line = fails_cleanly(
        capsys, "TEST09", "-c", str(run_dir), "-o", str(tmp_path / "o"),
        "--min-output-tokens", "9", "--max-output-tokens", "11",
    )  # fmt: skip
    assert f"{run_dir / 'mlperf_log_detail.txt'} is the log of a AccuracyOnly run" in line
    assert not (tmp_path / "o").exists()


def test_run_without_the_audit_config_has_no_entries(tmp_path, capsys):
    run_dir = run(tmp_path / "plain", AnswerSUT(tokens(lambda i: 10)), settings(OFFLINE, PERF))
    line = fails_cleanly(
        capsys, "TEST09", "-c", str(run_dir), "-o", str(tmp_path / "o"),
        "--min-output-tokens", "9", "--max-output-tokens", "11",
    )  # fmt: skip
    assert "has no entries" in line and "audit.config" in line


@pytest.mark.parametrize("missing", ["mlperf_log_accuracy.json", "mlperf_log_detail.txt"])
def test_missing_log_is_named(good_run, tmp_path, capsys, missing):
    compliance, audit = good_run
    (compliance / missing).unlink()
    args = ["-c", str(compliance), "-o", str(tmp_path / "o"), "--audit-config", str(audit)]
    line = fails_cleanly(capsys, "TEST09", *args)
    assert str(compliance / missing) in line and "error: missing TEST09 " in line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "TEST09 needs --min-output-tokens and --max-output-tokens (none given)"),
        (["--min-output-tokens", "1"], "TEST09 needs --max-output-tokens (none given)"),
        (["--audit-config", "NOWHERE"], "does not exist"),
        (["--audit-config", "BAD_VALUE"], ":1: test09_max_output_tokens 'ten' is not a number"),
        (["--audit-config", "ONE_BOUND"], "needs --min-output-tokens ("),
        (["--min-output-tokens", "1", "--max-output-tokens", "2", "--dtype", "int32"],
         "--dtype does not apply to TEST09"),
        (["--min-output-tokens", "1", "--max-output-tokens", "x"], "invalid float value: 'x'"),
    ],
)  # fmt: skip
def test_bad_options_are_named(good_run, tmp_path, capsys, options, message):
    compliance, _ = good_run
    bad = tmp_path / "bad.config"
    bad.write_text("*.*.test09_max_output_tokens = ten\n")
    one = tmp_path / "one.config"
    one.write_text("*.*.test09_max_output_tokens = 11 # only the upper bound\n")
    names = {"BAD_VALUE": str(bad), "ONE_BOUND": str(one), "NOWHERE": str(tmp_path / "n")}
    options = [names.get(o, o) for o in options]
    args = ["TEST09", "-c", str(compliance), "-o", str(tmp_path / "o"), *options]
    if message.startswith("invalid float"):
        with pytest.raises(SystemExit) as exc:
            verify(*args, capsys=capsys)
        assert exc.value.code == 2 and message in capsys.readouterr().err
        return
    assert message in fails_cleanly(capsys, *args)
    assert not (tmp_path / "o").exists()
