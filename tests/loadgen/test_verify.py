"""lon-verify on real compliance runs of our LoadGen, judged against the official scripts.

Every case runs our LoadGen in this process, runs ``lon-verify`` (in process, through its
``main``), runs the official ``run_verification.py`` on the same directories in a child
process, and asserts that both reach the same verdict and write the same files. The official
scripts come from ``MLPERF_INFERENCE_DIR`` (tests/conftest.py); without it those comparisons
are skipped, and the bad-input tests still run.

The verdicts do not depend on how busy the machine is (see tests/loadgen/compliance_runs.py):
a performance check that must pass compares a run with itself, one that must fail compares a
SUT that does no work with one that works at least SLOW_NS a sample.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import loadgen as lg
from loadgen.compliance import VerifyError, verify_test01, verify_test06, write_baseline
from loadgen.compliance._cli import main
from tests.loadgen.compliance_runs import (
    OFFICIAL_TIMEOUT_S,
    SLOW_NS,
    TEST01_AUDIT,
    TEST04_AUDIT,
    TEST06_AUDIT,
    AnswerSUT,
    CachingSUT,
    TokenSUT,
    run,
    run_official,
    same_tree,
    settings,
)

SS = lg.TestScenario.SingleStream
PERF, ACC = lg.TestMode.PerformanceOnly, lg.TestMode.AccuracyOnly


def answer(index: int) -> bytes:
    return bytes([index % 256, 1, 2, 3])


def other_answer(index: int) -> bytes:
    return bytes([(index + 1) % 256, 1, 2, 3]) if index % 3 == 0 else answer(index)


def submission_runs(root: Path, performance_sut: lg.SystemUnderTest) -> Path:
    """The submission runs a compliance run is judged against: accuracy and performance."""
    run(root / "accuracy", AnswerSUT(answer), settings(SS, ACC))
    assert_valid(run(root / "performance" / "run_1", performance_sut, settings(SS, PERF)))
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """Submission runs whose performance run does no work: its latencies are far below SLOW_NS."""
    return submission_runs(tmp_path_factory.mktemp("results"), AnswerSUT(answer))


@pytest.fixture(scope="module")
def slow_results(tmp_path_factory) -> Path:
    """Submission runs whose performance run works SLOW_NS a sample: no latency below it."""
    return submission_runs(tmp_path_factory.mktemp("slow-results"), AnswerSUT(answer, SLOW_NS))


def measured_like(compliance: Path, results: Path, root: Path) -> Path:
    """Submission runs with ``results``' accuracy run, whose performance run measured exactly
    what the compliance run did (its logs): a TEST01 performance check that must pass."""
    shutil.copytree(results / "accuracy", root / "accuracy")
    run_1 = root / "performance" / "run_1"
    run_1.mkdir(parents=True)
    for name in ("mlperf_log_detail.txt", "mlperf_log_summary.txt"):
        shutil.copy2(compliance / name, run_1 / name)
    return root


def latency_ns(log_dir: Path) -> int:
    for line in (log_dir / "mlperf_log_detail.txt").read_text().splitlines():
        if '"key": "early_stopping_latency_ss"' in line:
            return int(json.loads(line.split(" ", 1)[1])["value"])
    raise AssertionError(f"no early_stopping_latency_ss in {log_dir}")


def assert_valid(log_dir: Path) -> Path:
    summary = (log_dir / "mlperf_log_summary.txt").read_text()
    assert "Result is : VALID" in summary, summary
    return log_dir


def verify(*args: str, capsys) -> tuple[int, str]:
    """Run lon-verify in process: its exit status and output."""
    status = main(list(args))
    out = capsys.readouterr()
    assert not out.err, out.err
    return status, out.out


def closing_lines(stdout: str, n: int) -> list[str]:
    return [line.rstrip() for line in stdout.rstrip().splitlines()][-n:]


# --- TEST01 --------------------------------------------------------------------------------

TEST01_CASES = {
    # name: (SUT of the compliance run, sampling target, unixmode, submission runs, expected
    # (accuracy, perf)). "same" submission runs measured what the compliance run did; "fast"
    # ones are the no-work `results`, far faster than a SUT working SLOW_NS a sample.
    "same": (lambda: AnswerSUT(answer), 64, False, "same", (True, True)),
    "same-unixmode": (lambda: AnswerSUT(answer), 190, True, "same", (True, True)),
    "answers-differ": (lambda: AnswerSUT(other_answer), 64, False, "same", (False, True)),
    "answers-differ-unixmode": (lambda: AnswerSUT(other_answer), 190, True, "same", (False, True)),
    "slower": (lambda: AnswerSUT(answer, SLOW_NS), 64, False, "fast", (True, False)),
}


@pytest.mark.parametrize("case", list(TEST01_CASES))
def test_test01_verdict_matches_the_official_script(official_dir, results, tmp_path, capsys, case):
    make_sut, target, unixmode, reference, (accuracy, performance) = TEST01_CASES[case]
    extra = ["--unixmode"] if unixmode else []
    expected = [
        f"Accuracy check pass: {accuracy}",
        f"Performance check pass: {performance}",
        "TEST01 verification complete",
    ]
    # The official unixmode fails on logs under 100 lines: log 190/500 of 400 queries.
    s = settings(SS, PERF, min_query_count=400 if unixmode else 100)
    audit = TEST01_AUDIT.format(target=target)
    compliance = assert_valid(run(tmp_path / "run", make_sut(), s, audit))
    if unixmode:
        assert len((compliance / "mlperf_log_accuracy.json").read_text().splitlines()) > 100
    if reference == "same":
        submission = measured_like(compliance, results, tmp_path / "results")
    else:
        submission = results
        assert latency_ns(compliance) >= SLOW_NS  # slower than any disturbance makes `results`
    theirs = run_official(
        official_dir / "compliance/TEST01/run_verification.py",
        "-r", str(submission), "-c", str(compliance), "-o", str(tmp_path / "theirs"), *extra,
        cwd=tmp_path / "cwd",
    )  # fmt: skip
    assert closing_lines(theirs, 3) == expected, theirs
    baseline = tmp_path / "baseline.json"
    status, out = verify(
        "TEST01", "-r", str(submission), "-c", str(compliance), "-o", str(tmp_path / "ours"),
        "--baseline-file", str(baseline), *extra, capsys=capsys,
    )  # fmt: skip
    assert "\n".join(expected) + "\n" in out
    assert closing_lines(out, 1) == [
        f"TEST01 verdict: {'PASS' if accuracy and performance else 'FAIL'}"
    ]
    assert status == (0 if accuracy and performance else 1)
    same_tree(tmp_path / "ours", tmp_path / "theirs")
    assert baseline.exists() == (not accuracy)
    if not accuracy:
        assert "baseline_accuracy.txt" in out and "compliance_accuracy.txt" in out


def test_test01_baseline_holds_what_the_official_baseline_script_selects(
    official_dir, results, tmp_path
):
    compliance = run(
        tmp_path / "TEST01",
        AnswerSUT(other_answer),
        settings(SS, PERF),
        TEST01_AUDIT.format(target=32),
    )
    accuracy_log = results / "accuracy" / "mlperf_log_accuracy.json"
    compliance_log = compliance / "mlperf_log_accuracy.json"
    count = write_baseline(accuracy_log, compliance_log, tmp_path / "ours.json")
    subprocess.run(
        ["bash", str(official_dir / "compliance/TEST01/create_accuracy_baseline.sh"),
         str(accuracy_log), str(compliance_log)],
        cwd=tmp_path, check=True, capture_output=True, timeout=OFFICIAL_TIMEOUT_S,
    )  # fmt: skip
    ours = json.loads((tmp_path / "ours.json").read_text())
    assert ours == json.loads((tmp_path / "mlperf_log_accuracy_baseline.json").read_text())
    logged = {e["qsl_idx"] for e in json.loads(compliance_log.read_text())}
    assert count == len(ours) == len(logged) > 0
    assert {e["qsl_idx"] for e in ours} == logged


def test_test01_dtype_decides_what_the_first_value_is(results, tmp_path):
    """Answers that differ only in byte 1 pass as bytes but fail as int32."""
    compliance = run(
        tmp_path / "TEST01",
        AnswerSUT(lambda i: bytes([i % 256, 9, 2, 3])),
        settings(SS, PERF),
        TEST01_AUDIT.format(target=64),
    )
    as_bytes = verify_test01(results, compliance, tmp_path / "a")
    as_int32 = verify_test01(results, compliance, tmp_path / "b", dtype="int32")
    assert as_bytes.check("accuracy").passed is True
    assert as_int32.check("accuracy").passed is False


# --- TEST04 --------------------------------------------------------------------------------

TEST04_CASES = {
    # name: (SUT of the TEST04 run, submission runs, passes). TEST04 catches a run faster
    # than the submission's, so the cases compare no work with SLOW_NS of work a sample.
    # Slower under the audit than in the submission run: no cache, PASS.
    "no-cache": (lambda: AnswerSUT(answer, SLOW_NS), "fast", True),
    # Asked for one sample over and over, it works only the first time: FAIL.
    "caching": (lambda: CachingSUT(answer, SLOW_NS), "slow", False),
}


@pytest.mark.parametrize("case", list(TEST04_CASES))
def test_test04_verdict_matches_the_official_script(
    official_dir, results, slow_results, tmp_path, capsys, case
):
    make_sut, reference, passed = TEST04_CASES[case]
    expected = [f"Performance check pass: {passed}", "TEST04 verification complete"]
    submission = results if reference == "fast" else slow_results
    compliance = assert_valid(run(tmp_path / "run", make_sut(), settings(SS, PERF), TEST04_AUDIT))
    if passed:
        assert latency_ns(compliance) >= SLOW_NS
    else:
        assert latency_ns(submission / "performance" / "run_1") >= SLOW_NS
    theirs = run_official(
        official_dir / "compliance/TEST04/run_verification.py",
        "-r", str(submission), "-c", str(compliance), "-o", str(tmp_path / "theirs"),
        cwd=tmp_path / "cwd",
    )  # fmt: skip
    assert closing_lines(theirs, 2) == expected, theirs
    status, out = verify(
        "TEST04", "-r", str(submission), "-c", str(compliance), "-o", str(tmp_path / "ours"),
        capsys=capsys,
    )  # fmt: skip
    assert closing_lines(out, 3) == [*expected, f"TEST04 verdict: {'PASS' if passed else 'FAIL'}"]
    assert status == (0 if passed else 1)
    same_tree(tmp_path / "ours", tmp_path / "theirs")
    # The audit really issued one sample over and over.
    detail = (compliance / "mlperf_log_detail.txt").read_text()
    assert '"key": "effective_performance_issue_same", "value": true' in detail


@pytest.mark.parametrize("test", ["TEST01", "TEST04"])
def test_an_invalid_compliance_run_fails_as_in_the_official_script(
    official_dir, results, tmp_path, capsys, test
):
    """A run that ends before min_duration (its 100 queries expected to take 60 s, done in far
    less) is INVALID: the performance check fails whatever the scores."""
    audit = TEST01_AUDIT.format(target=64) if test == "TEST01" else TEST04_AUDIT
    s = settings(SS, PERF, min_duration_ms=60_000, single_stream_expected_latency_ns=600_000_000)
    compliance = run(tmp_path / test, AnswerSUT(answer), s, audit)
    assert "Result is : INVALID" in (compliance / "mlperf_log_summary.txt").read_text()
    args = ["-r", str(results), "-c", str(compliance)]
    status, out = verify(test, *args, "-o", str(tmp_path / "ours"), capsys=capsys)
    theirs = run_official(
        official_dir / f"compliance/{test}/run_verification.py",
        *args, "-o", str(tmp_path / "theirs"), cwd=tmp_path / "cwd",
    )  # fmt: skip
    assert "Performance check pass: False" in theirs and "Performance check pass: False" in out
    assert status == 1
    same_tree(tmp_path / "ours", tmp_path / "theirs")


def test_public_names_are_pinned():
    import loadgen.compliance as compliance

    assert compliance.__all__ == [
        "Check", "Verdict", "VerifyError", "verify_test01", "verify_test04", "verify_test06",
        "verify_test07", "verify_test08", "verify_test09", "write_baseline",
    ]  # fmt: skip
    for name in compliance.__all__:
        assert hasattr(compliance, name), name


# --- TEST06 --------------------------------------------------------------------------------


def tokens(index: int) -> np.ndarray:
    return np.array([5 + index % 50, 6, 7, 2], dtype=np.int32)


TEST06_CASES = {
    # name: (scenario, SUT, expected first-token, EOS and length lines)
    "server": ("Server", lambda: TokenSUT(tokens, lambda i: tokens(i)[:1], lambda i: 4),
               ("True", "True", "True")),
    "offline": ("Offline", lambda: TokenSUT(tokens, lambda i: tokens(i)[:1], lambda i: 4),
                ("Skipped", "True", "True")),
    "wrong-first-token": ("Server",
                          lambda: TokenSUT(tokens, lambda i: np.array([99], np.int32), lambda i: 4),
                          ("False", "True", "True")),
    "wrong-count": ("Server", lambda: TokenSUT(tokens, lambda i: tokens(i)[:1], lambda i: 5),
                    ("True", "True", "False")),
    "repeated-eos": ("Offline",
                     lambda: TokenSUT(lambda i: np.array([5, 6, 2, 2], np.int32),
                                      lambda i: np.array([5], np.int32), lambda i: 4),
                     ("Skipped", "False", "True")),
}  # fmt: skip


@pytest.mark.parametrize("case", list(TEST06_CASES))
def test_test06_verdict_matches_the_official_script(official_dir, tmp_path, capsys, case):
    scenario, make_sut, (first, eos, length) = TEST06_CASES[case]
    s = settings(getattr(lg.TestScenario, scenario), PERF, use_token_latencies=True)
    compliance = run(tmp_path / "TEST06", make_sut(), s, TEST06_AUDIT)
    assert len(json.loads((compliance / "mlperf_log_accuracy.json").read_text())) == 100
    args = ["-c", str(compliance), "-s", scenario]
    status, out = verify("TEST06", *args, "-o", str(tmp_path / "ours"), capsys=capsys)
    theirs = run_official(
        official_dir / "compliance/TEST06/run_verification.py",
        *args, "-o", str(tmp_path / "theirs"),
        cwd=tmp_path / "cwd",
    )  # fmt: skip
    passed = "False" not in (first, eos, length)
    expected = [
        f"First token check pass: {first}",
        f"EOS check pass: {eos}",
        f"Sample length check pass: {length}",
        f"TEST06 verification {'complete' if passed else 'failed'}",
    ]
    assert closing_lines(theirs, 4) == expected, theirs
    assert expected[-1] in out and closing_lines(out, 1) == [
        f"TEST06 verdict: {'PASS' if passed else 'FAIL'}"
    ]
    assert status == (0 if passed else 1)
    same_tree(tmp_path / "ours", tmp_path / "theirs")


def test_test06_scenario_from_the_detail_log_and_the_eos_token_option(tmp_path, capsys):
    """Outputs ending "0, 0" are fine with EOS 2 but pad with EOS when the tokenizer's EOS is 0."""
    s = settings(lg.TestScenario.Offline, PERF, use_token_latencies=True)
    padded = np.array([5, 6, 0, 0], np.int32)
    sut = TokenSUT(lambda i: padded, lambda i: padded[:1], lambda i: 4)
    compliance = run(tmp_path / "TEST06", sut, s, TEST06_AUDIT)
    verdict = verify_test06(compliance, tmp_path / "out")  # no scenario given: Offline
    assert verdict.passed and verdict.lines[0] == "First token check pass: Skipped"
    args = ["TEST06", "-c", str(compliance), "-o", str(tmp_path / "o2"), "--eos-token-id", "0"]
    status, out = verify(*args, capsys=capsys)
    assert status == 1 and "EOS check pass: False" in out and "ends with 2 EOS (0) tokens" in out
    written = (tmp_path / "o2" / "TEST06" / "verify_accuracy.txt").read_text()
    assert "EOS check pass: False\n" in written and "ends with" not in written


# --- bad input -----------------------------------------------------------------------------


def fails_cleanly(capsys, *args: str) -> str:
    """lon-verify exits 2 with one line on stderr; that line."""
    assert main(list(args)) == 2
    out = capsys.readouterr()
    assert out.out == ""
    lines = out.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lon-verify: error: "), out.err
    return lines[0]


def copy_of(source: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source, tmp_path / source.name))


@pytest.fixture
def test01_dirs(results, tmp_path) -> tuple[Path, Path]:
    """A copy of the submission runs and a TEST01 run, free to be broken."""
    compliance = run(
        tmp_path / "TEST01",
        AnswerSUT(answer),
        settings(SS, PERF, min_duration_ms=10),
        TEST01_AUDIT.format(target=64),
    )
    return copy_of(results, tmp_path), compliance


def test_unknown_test_name(tmp_path, capsys):
    line = fails_cleanly(capsys, "TEST02", "-c", str(tmp_path), "-o", str(tmp_path / "o"))
    assert "unknown test 'TEST02'" in line


def test_missing_directory_is_named(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    line = fails_cleanly(capsys, "TEST04", "-r", str(missing), "-c", str(tmp_path), "-o", "o")
    assert str(missing) in line and "does not exist" in line


def test_missing_required_option(tmp_path, capsys):
    line = fails_cleanly(capsys, "TEST01", "-c", str(tmp_path), "-o", str(tmp_path / "o"))
    assert "--results-dir" in line


@pytest.mark.parametrize(
    ("test", "dtype"), [("TEST01", "int16"), ("TEST06", "byte"), ("TEST01", "float")]
)
def test_bad_dtype(tmp_path, capsys, test, dtype):
    args = [test, "-r", str(tmp_path), "-c", str(tmp_path), "-o", str(tmp_path / "o")]
    line = fails_cleanly(capsys, *args, "--dtype", dtype)
    assert f"--dtype '{dtype}' is not valid for {test}" in line


@pytest.mark.parametrize(
    ("test", "option", "message"),
    [
        ("TEST04", ["--unixmode"], "--unixmode applies to TEST01 only"),
        ("TEST04", ["--baseline-file", "b.json"], "--baseline-file applies to TEST01 only"),
        ("TEST01", ["-s", "Server"], "--scenario applies to TEST06 only"),
        ("TEST01", ["--eos_token_id", "2"], "--eos-token-id applies to TEST06 only"),
        ("TEST04", ["--dtype", "int32"], "--dtype does not apply to TEST04"),
    ],
)
def test_option_of_another_test_is_rejected(tmp_path, capsys, test, option, message):
    args = ["-r", str(tmp_path), "-c", str(tmp_path), "-o", str(tmp_path / "o")]
    assert message in fails_cleanly(capsys, test, *args, *option)


def test_missing_log_is_named_and_nothing_is_written(test01_dirs, tmp_path, capsys):
    results, compliance = test01_dirs
    (compliance / "mlperf_log_detail.txt").unlink()
    out = tmp_path / "out"
    line = fails_cleanly(
        capsys, "TEST01", "-r", str(results), "-c", str(compliance), "-o", str(out)
    )
    assert str(compliance / "mlperf_log_detail.txt") in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("damage", "where"),
    [
        ("first-line", ":1: not a LoadGen detail log"),
        ("middle-line", ":5: malformed log line"),
        ("no-result", "no 'early_stopping_latency_ss' entry"),
    ],
)
def test_malformed_detail_log_names_file_and_line(test01_dirs, capsys, damage, where):
    results, compliance = test01_dirs
    detail = results / "performance" / "run_1" / "mlperf_log_detail.txt"
    lines = detail.read_text().splitlines(keepends=True)
    if damage == "first-line":
        lines.insert(0, "hello\n")
    elif damage == "middle-line":
        lines[4] = lines[4][:40] + "\n"
    else:
        lines = [x for x in lines if "early_stopping_latency_ss" not in x]
    detail.write_text("".join(lines))
    line = fails_cleanly(capsys, "TEST01", "-r", str(results), "-c", str(compliance), "-o", "o")
    assert f"{detail}{where}" in line or (str(detail) in line and where in line)


def test_malformed_accuracy_log_names_file_and_line(test01_dirs, tmp_path, capsys):
    results, compliance = test01_dirs
    log = compliance / "mlperf_log_accuracy.json"
    log.write_text(log.read_text()[:-4])  # cut off mid-way
    line = fails_cleanly(
        capsys, "TEST01", "-r", str(results), "-c", str(compliance), "-o", str(tmp_path / "o")
    )
    assert str(log) in line and "not valid JSON" in line


def test_test01_data_that_does_not_fit_the_dtype(test01_dirs, tmp_path, capsys):
    results, compliance = test01_dirs
    line = fails_cleanly(
        capsys, "TEST01", "-r", str(results), "-c", str(compliance), "-o", str(tmp_path / "o"),
        "--dtype", "int64",
    )  # fmt: skip
    assert "mlperf_log_accuracy.json entry 0" in line and "wrong --dtype?" in line


def test_test06_without_token_counts_names_the_entry(tmp_path, capsys):
    compliance = run(
        tmp_path / "TEST06",
        AnswerSUT(lambda i: tokens(i).tobytes()),
        settings(lg.TestScenario.Offline, PERF),
        TEST06_AUDIT,
    )
    line = fails_cleanly(capsys, "TEST06", "-c", str(compliance), "-o", str(tmp_path / "o"))
    assert "entry 0" in line and "no token_count" in line and "use_token_latencies" in line
    with pytest.raises(VerifyError, match="scenario 'Nightly' is not one of"):
        verify_test06(compliance, tmp_path / "o", scenario="Nightly")


def test_console_script_reports_bad_input_without_a_traceback(tmp_path):
    script = Path(sys.executable).with_name("lon-verify")
    if not script.exists():
        pytest.skip("lon-verify is not installed in this environment")
    proc = subprocess.run(
        [str(script), "TEST01", "-r", str(tmp_path / "r"), "-c", str(tmp_path), "-o", "o"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == f"lon-verify: error: results directory {tmp_path / 'r'} does not exist\n"
