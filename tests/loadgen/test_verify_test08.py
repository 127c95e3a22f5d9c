"""lon-verify TEST08 (dlrm-v3) on real runs of our LoadGen, judged against the official script.

The SUT plays dlrm-v3: sample i is query ``i % 8`` of timestamp ``i // 8`` with ``1 + i % 4``
candidates. In accuracy mode it answers float32 ``[ts_idx, query_idx, predictions, labels,
weights, candidate_size]``, in performance mode ``[ts_idx, query_idx, predictions]``. Sample 5
has zero weights, so both its NEs are 0 (the official script skips such a pair).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import loadgen as lg
from loadgen.compliance import verify_test08
from tests.loadgen.compliance_runs import (
    TEST08_AUDIT,
    AnswerSUT,
    run,
    run_official_process,
    settings,
)
from tests.loadgen.test_verify import fails_cleanly, verify

PERF, ACC = lg.TestMode.PerformanceOnly, lg.TestMode.AccuracyOnly
OFFLINE = lg.TestScenario.Offline


def predictions(i: int) -> np.ndarray:
    n = 1 + i % 4
    return ((np.arange(n) * 3 + i * 7) % 10 + 0.5) / 10


def accuracy_answer(i: int) -> bytes:
    n = 1 + i % 4
    labels = (np.arange(n) + i) % 2
    weights = np.zeros(n) if i == 5 else 1.0 + np.arange(n)
    values = [i // 8, i % 8, *predictions(i), *labels, *weights, n]
    return np.array(values, dtype=np.float32).tobytes()


def performance_answer(p: Callable[[int], np.ndarray], ts_shift: Callable[[int], int]):
    def answer(i: int) -> bytes:
        return np.array([i // 8 + ts_shift(i), i % 8, *p(i)], dtype=np.float32).tobytes()

    return answer


def no_shift(i: int) -> int:
    return 0


CASES = {
    # name: (performance answers, passes)
    "same-predictions": (performance_answer(predictions, no_shift), True),
    "tiny-noise": (performance_answer(lambda i: predictions(i) * (1 + 1e-6), no_shift), True),
    "other-predictions": (
        performance_answer(lambda i: 1 - predictions(i) if i % 3 else predictions(i), no_shift),
        False,
    ),
    "unmatched-keys": (performance_answer(predictions, lambda i: 100 * (i % 2)), False),
    "no-key-matches": (performance_answer(predictions, lambda i: 100), False),
}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The accuracy run of the submission, in a results directory's accuracy/."""
    root = tmp_path_factory.mktemp("results")
    run(root / "accuracy", AnswerSUT(accuracy_answer), settings(OFFLINE, ACC))
    return root


def compliance_run(root: Path, answer) -> Path:
    return run(root / "TEST08", AnswerSUT(answer), settings(OFFLINE, PERF), TEST08_AUDIT)


@pytest.mark.parametrize("case", list(CASES))
def test_test08_verdict_matches_the_official_script(official_dir, results, tmp_path, capsys, case):
    answer, passed = CASES[case]
    compliance = compliance_run(tmp_path, answer)
    reference = results / "accuracy" / "mlperf_log_accuracy.json"
    theirs = run_official_process(
        official_dir / "compliance/TEST08/run_verification.py",
        "-r", str(reference), "-t", str(compliance / "mlperf_log_accuracy.json"),
        cwd=tmp_path / "cwd",
    )  # fmt: skip
    assert theirs.returncode == (0 if passed else 1), theirs.stdout + theirs.stderr
    assert theirs.stdout.endswith(
        f"TEST {'PASS' if passed else 'FAIL'}\nTEST08 verification complete\n"
    )
    out_dir = tmp_path / "ours"
    status, out = verify(
        "TEST08", "-r", str(results), "-c", str(compliance), "-o", str(out_dir), capsys=capsys
    )
    assert status == theirs.returncode
    assert out.splitlines()[-1] == f"TEST08 verdict: {'PASS' if passed else 'FAIL'}"
    assert theirs.stdout in out
    # What the checker reads is what the official script prints, line for line.
    assert [p.name for p in out_dir.rglob("*")] == ["TEST08", "verify_accuracy.txt"]
    assert (out_dir / "TEST08" / "verify_accuracy.txt").read_text() == theirs.stdout


def test_the_cases_exercise_what_they_name(results, tmp_path):
    """Every logged response is compared; the failing cases fail for their own reason."""
    counts = {}
    for case, (answer, _) in CASES.items():
        verify_test08(results, compliance_run(tmp_path / case, answer), tmp_path / case / "out")
        text = (tmp_path / case / "out" / "TEST08" / "verify_accuracy.txt").read_text()
        counts[case] = dict(
            line.split(" = ") for line in text.splitlines() if line.startswith("num_")
        )
    assert counts["same-predictions"]["num_perf_log_entries"] == "110"  # Offline's 110 samples
    assert counts["same-predictions"]["num_acc_log_entries"] == "64"
    assert counts["tiny-noise"]["num_ne_mismatch"] == "0"
    assert int(counts["other-predictions"]["num_ne_mismatch"]) > 10
    assert counts["other-predictions"]["num_unmatched"] == "0"
    assert 10 < int(counts["unmatched-keys"]["num_unmatched"]) < 90
    assert counts["no-key-matches"]["num_matched"] == "0"


def test_tolerance_option(results, tmp_path, capsys):
    noisy = performance_answer(lambda i: predictions(i) * 1.01, no_shift)
    compliance = compliance_run(tmp_path, noisy)
    args = ["TEST08", "-r", str(results), "-c", str(compliance), "-o", str(tmp_path / "o")]
    status, out = verify(*args, capsys=capsys)
    assert status == 1 and "NE mismatch at (1, 5)" in out and "tolerance = 0.10%" in out
    status, out = verify(*args, "--tolerance", "0.5", capsys=capsys)
    assert status == 0 and "tolerance = 50.00%" in out


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def good_run(tmp_path) -> Path:
    return compliance_run(tmp_path, performance_answer(predictions, no_shift))


def test_swapped_logs_are_refused(results, good_run, tmp_path, capsys):
    line = fails_cleanly(
        capsys, "TEST08", "-r", str(good_run / "mlperf_log_accuracy.json"),
        "-c", str(results / "accuracy"), "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert "is the log of a PerformanceOnly run" in line and "the accuracy run" in line
    assert not (tmp_path / "o").exists()


def test_accuracy_log_of_another_benchmark(good_run, tmp_path, capsys):
    other = run(
        tmp_path / "other" / "accuracy", AnswerSUT(lambda i: bytes(8)), settings(OFFLINE, ACC)
    )
    line = fails_cleanly(
        capsys, "TEST08", "-r", str(other.parent), "-c", str(good_run), "-o", str(tmp_path / "o")
    )
    assert f"{other / 'mlperf_log_accuracy.json'} entry 0" in line
    assert "not a dlrm-v3 accuracy-run response" in line


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("results", "missing accuracy-run accuracy log"),
        ("results-detail", "missing accuracy-run detail log"),
        ("compliance", "missing TEST08 accuracy log"),
        ("nowhere", "does not exist"),
    ],
)
def test_missing_files_are_named(results, good_run, tmp_path, capsys, where, message):
    mine = Path(shutil.copytree(results, tmp_path / "results"))
    if where == "results":
        (mine / "accuracy" / "mlperf_log_accuracy.json").unlink()
    elif where == "results-detail":
        (mine / "accuracy" / "mlperf_log_detail.txt").unlink()
    elif where == "compliance":
        (good_run / "mlperf_log_accuracy.json").unlink()
    else:
        mine = tmp_path / "nowhere"
    args = ["TEST08", "-r", str(mine), "-c", str(good_run), "-o", str(tmp_path / "o")]
    assert message in fails_cleanly(capsys, *args)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--tolerance", "-1"], "--tolerance -1.0 must be a number >= 0"),
        (["--audit-config", "a"], "--audit-config does not apply to TEST08"),
        (["--unixmode"], "--unixmode applies to TEST01 only, not TEST08"),
    ],
)
def test_bad_options(results, good_run, tmp_path, capsys, options, message):
    args = ["TEST08", "-r", str(results), "-c", str(good_run), "-o", str(tmp_path / "o")]
    assert message in fails_cleanly(capsys, *args, *options)


def test_test08_needs_the_results_dir(good_run, tmp_path, capsys):
    line = fails_cleanly(capsys, "TEST08", "-c", str(good_run), "-o", str(tmp_path / "o"))
    assert "TEST08 needs --results-dir" in line


@pytest.mark.parametrize("form", ["files", "directories"])
def test_logs_named_as_files_or_as_their_directories(results, good_run, tmp_path, capsys, form):
    if form == "files":
        args = ["-r", str(results / "accuracy" / "mlperf_log_accuracy.json"),
                "-t", str(good_run / "mlperf_log_accuracy.json")]  # fmt: skip
    else:
        args = ["-r", str(results / "accuracy"), "-c", str(good_run)]
    status, out = verify("TEST08", *args, "-o", str(tmp_path / "o"), capsys=capsys)
    assert status == 0 and out.splitlines()[-1] == "TEST08 verdict: PASS"
