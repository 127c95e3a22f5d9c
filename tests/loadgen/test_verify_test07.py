"""lon-verify TEST07 on real compliance runs of our LoadGen, judged against the official script.

The benchmark's accuracy script is a stand-in written by the test (gpt-oss-120b's needs its
model's data set): it scores a response right when its first byte is the sample's index, and
prints ``'exact_match': <percent>`` as the real one does.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import loadgen as lg
from tests.loadgen.compliance_runs import (
    TEST07_AUDIT,
    AnswerSUT,
    run,
    run_official,
    same_tree,
    settings,
)
from tests.loadgen.test_verify import closing_lines, fails_cleanly, verify

PERF, ACC = lg.TestMode.PerformanceOnly, lg.TestMode.AccuracyOnly
OFFLINE = lg.TestScenario.Offline

SCORER = """\
import json, sys
entries = json.load(open(sys.argv[sys.argv.index("--mlperf-log") + 1]))
right = sum(bytes.fromhex(e["data"])[0] == e["qsl_idx"] % 256 for e in entries)
print(f"Evaluated {len(entries)} samples")
if "--silent" not in sys.argv:
    print({"exact_match": round(100.0 * right / len(entries), 3), "gen_len": 4})
"""


def right(index: int) -> bytes:
    return bytes([index % 256, 1, 2, 3])


def mostly_wrong(index: int) -> bytes:
    return right(index) if index % 4 == 0 else bytes([255, 1, 2, 3])


@pytest.fixture
def scorer(tmp_path) -> str:
    """The accuracy-script command, with the official placeholder for the log."""
    script = tmp_path / "score.py"
    script.write_text(SCORER)
    return f"{sys.executable} {script} --mlperf-log {{accuracy_log}}"


def compliance_run(root: Path, answer, threshold: str = "60.698") -> tuple[Path, Path]:
    """A TEST07 run (every response logged) and its audit.config."""
    audit = TEST07_AUDIT.format(threshold=threshold)
    run_dir = run(root / "TEST07", AnswerSUT(answer), settings(OFFLINE, PERF), audit)
    return run_dir, root / "TEST07.audit.config"


CASES = {
    # name: (answers, extra options, accuracy check passes)
    "right": (right, [], True),
    "mostly-wrong": (mostly_wrong, [], False),
    "threshold-option-overrides": (right, ["--accuracy-threshold", "100.5"], False),
    "score-pattern": (right, ["--score-pattern", r"Evaluated (\d+) samples"], True),
    "no-score": (right, ["--silent"], False),
}


@pytest.mark.parametrize("case", list(CASES))
def test_test07_verdict_matches_the_official_script(official_dir, tmp_path, scorer, capsys, case):
    answer, extra, passed = CASES[case]
    compliance, audit = compliance_run(tmp_path, answer)
    command = scorer
    if "--silent" in extra:
        command, extra = f"{scorer} --silent", []
    args = ["-c", str(compliance), "--audit-config", str(audit), "--accuracy-script", command]
    theirs = run_official(
        official_dir / "compliance/TEST07/run_verification.py",
        *args, *extra, "-o", str(tmp_path / "theirs"), cwd=tmp_path / "cwd",
    )  # fmt: skip
    expected = [f"Accuracy check pass: {passed}", "TEST07 verification complete"]
    assert closing_lines(theirs, 2) == expected, theirs
    status, out = verify("TEST07", *args, *extra, "-o", str(tmp_path / "ours"), capsys=capsys)
    assert "\n".join(expected) + "\n" in out
    assert closing_lines(out, 1) == [f"TEST07 verdict: {'PASS' if passed else 'FAIL'}"]
    assert status == (0 if passed else 1)
    same_tree(tmp_path / "ours", tmp_path / "theirs")
    written = (tmp_path / "ours" / "TEST07" / "verify_accuracy.txt").read_text()
    assert written.startswith("Evaluated ")  # the script's own output comes first
    assert written.endswith("TEST PASS\n" if passed else "TEST FAIL\n")


def test_test07_all_responses_are_logged(tmp_path):
    compliance, _ = compliance_run(tmp_path, right)
    entries = json.loads((compliance / "mlperf_log_accuracy.json").read_text())
    assert len(entries) == 100  # every sample of the 100-sample Offline query


# --- bad input -----------------------------------------------------------------------------


@pytest.fixture
def good_run(tmp_path) -> tuple[Path, Path]:
    return compliance_run(tmp_path, right)


def test_accuracy_run_logs_are_refused(tmp_path, scorer, capsys):
    run_dir = run(tmp_path / "acc", AnswerSUT(right), settings(OFFLINE, ACC))
    line = fails_cleanly(
        capsys, "TEST07", "-c", str(run_dir), "-o", str(tmp_path / "o"),
        "--accuracy-threshold", "50", "--accuracy-script", scorer,
    )  # fmt: skip
    assert "AccuracyOnly run" in line and "PerformanceOnly" in line
    assert not (tmp_path / "o").exists()


def test_missing_accuracy_log_is_named(good_run, tmp_path, scorer, capsys):
    compliance, audit = good_run
    (compliance / "mlperf_log_accuracy.json").unlink()
    line = fails_cleanly(
        capsys, "TEST07", "-c", str(compliance), "-o", str(tmp_path / "o"),
        "--audit-config", str(audit), "--accuracy-script", scorer,
    )  # fmt: skip
    assert f"missing TEST07 accuracy log: {compliance / 'mlperf_log_accuracy.json'}" in line


def test_wrong_compliance_path(tmp_path, scorer, capsys):
    line = fails_cleanly(
        capsys, "TEST07", "-c", str(tmp_path / "nowhere"), "-o", str(tmp_path / "o"),
        "--accuracy-threshold", "1", "--accuracy-script", scorer,
    )  # fmt: skip
    assert f"compliance directory {tmp_path / 'nowhere'} does not exist" in line


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "TEST07 needs an accuracy threshold (none given)"),
        (["--audit-config", "AUDIT_WITHOUT"], "has no *.*.test07_accuracy_threshold"),
        (["--audit-config", "BAD_VALUE"], ":2: test07_accuracy_threshold '6x' is not a number"),
        (["--audit-config", "NOWHERE"], "does not exist"),
        (["--accuracy-threshold", "1", "--score-pattern", "("], "is not a valid regex"),
        (["--accuracy-threshold", "1", "--score-pattern", "x"], "needs a group"),
        (["--accuracy-threshold", "1", "--accuracy-script", "echo {log}"], "{accuracy_log}"),
        (["--accuracy-threshold", "1", "--tolerance", "0.1"], "--tolerance applies to TEST08"),
    ],
)
def test_bad_options_are_named(good_run, tmp_path, scorer, capsys, options, message):
    compliance, _ = good_run
    without = tmp_path / "without.config"
    without.write_text("*.*.mode = 2\n")
    bad = tmp_path / "bad.config"
    bad.write_text("*.*.mode = 2\n*.*.test07_accuracy_threshold = 6x\n")
    names = {"AUDIT_WITHOUT": str(without), "BAD_VALUE": str(bad), "NOWHERE": str(tmp_path / "n")}
    options = [names.get(o, o) for o in options]
    if "--accuracy-script" not in options:
        options += ["--accuracy-script", scorer]
    args = ["TEST07", "-c", str(compliance), "-o", str(tmp_path / "o"), *options]
    assert message in fails_cleanly(capsys, *args)
    assert not (tmp_path / "o").exists()


def test_test07_needs_the_accuracy_script(good_run, tmp_path, capsys):
    compliance, audit = good_run
    line = fails_cleanly(capsys, "TEST07", "-c", str(compliance), "-o", str(tmp_path / "o"))
    assert "TEST07 needs --accuracy-script" in line


def test_help_shows_the_tests_and_their_options(capsys):
    with pytest.raises(SystemExit) as exc:
        verify("--help", capsys=capsys)
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "TEST07",
        "TEST08",
        "TEST09",
        "--accuracy-script",
        "--score-pattern",
        "--accuracy-threshold",
        "--tolerance",
        "--min-output-tokens",
        "{accuracy_log}",
    ):
        assert word in text, word
