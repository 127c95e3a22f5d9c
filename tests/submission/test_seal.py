"""Sealing (truncating accuracy logs, recording their hashes) gives byte for byte what the
official ``truncate_accuracy_log.py`` gives, and what its checks accept."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from loadgen.submission import seal_tree, truncated
from loadgen.submission._cli import main as lon_submission

from .oracle_dir import mlperf_inference_dir

RESULT = '{"accuracy": 100.0, "good": 400, "total": 400}\nscored 400 of 400 samples\n'


def accuracy_log(entries: int) -> str:
    body = ",\n".join(
        f'{{ "seq_id" : {i}, "qsl_idx" : {i % 97}, "data" : "{i:08X}" }}' for i in range(entries)
    )
    return "[\n" + body + "\n]\n"


def tree(root: Path, *, test01_txt: bool, llm_tests: bool = False) -> dict[str, Path]:
    scenario = root / "network" / "Org" / "results" / "lan2" / "resnet50" / "Offline"
    dirs = {"small": scenario.parent / "SingleStream" / "accuracy", "big": scenario / "accuracy"}
    dirs["test01"] = scenario / "TEST01" / "accuracy"
    if llm_tests:  # their accuracy/ has a log and no accuracy.txt
        dirs["TEST07"] = scenario / "TEST07" / "accuracy"
        dirs["TEST09"] = scenario / "TEST09" / "accuracy"
    for name, d in dirs.items():
        d.mkdir(parents=True)
        (d / "mlperf_log_accuracy.json").write_text(accuracy_log(20 if name == "small" else 400))
        if name.startswith("TEST"):
            continue
        if name != "test01" or test01_txt:
            (d / "accuracy.txt").write_text(RESULT)
    (scenario / "TEST04").mkdir()  # has no accuracy log: left alone
    return dirs


@pytest.mark.parametrize("llm_tests", [False, True])
def test_seal_matches_the_official_truncate_script(tmp_path, llm_tests):
    inference = mlperf_inference_dir()
    ours, source = tmp_path / "ours", tmp_path / "source"
    tree(ours, test01_txt=True, llm_tests=llm_tests)
    tree(source, test01_txt=True, llm_tests=llm_tests)
    theirs = tmp_path / "theirs"
    script = inference / "tools" / "submission" / "truncate_accuracy_log.py"
    subprocess.run(
        [sys.executable, str(script), "--input", str(source), "--submitter", "Org",
         "--output", str(theirs)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    outcomes = seal_tree(str(ours))
    assert sorted(o.outcome for o in outcomes) == ["sealed"] * (5 if llm_tests else 3)
    files = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    for rel in files:
        assert (ours / rel).read_bytes() == (theirs / rel).read_bytes(), rel
    # Sealing twice changes nothing, as the official script leaves a sealed tree alone.
    before = {rel: (ours / rel).read_bytes() for rel in files}
    assert {o.outcome for o in seal_tree(str(ours))} == {"already sealed"}
    assert {rel: (ours / rel).read_bytes() for rel in files} == before


def test_the_hash_is_of_the_whole_log_and_the_log_is_cut_to_head_and_tail(tmp_path):
    dirs = tree(tmp_path, test01_txt=True)
    full = (dirs["big"] / "mlperf_log_accuracy.json").read_bytes()
    seal_tree(str(tmp_path))
    kept = (dirs["big"] / "mlperf_log_accuracy.json").read_bytes()
    assert kept == full[:4096] + b"\n\n...\n\n" + full[-4096:] == truncated(full)
    assert len(kept) < 10 * 1024
    digest = hashlib.sha256(full).hexdigest()
    assert (dirs["big"] / "accuracy.txt").read_text() == RESULT + f"\nhash={digest}\n"
    small = dirs["small"] / "mlperf_log_accuracy.json"
    assert json.loads(small.read_text())  # under 4 KiB: kept whole


def test_test01_gets_the_accuracy_runs_result_when_it_has_none(tmp_path, capsys):
    dirs = tree(tmp_path, test01_txt=False)
    assert lon_submission(["seal", str(tmp_path)]) == 0
    text = (dirs["test01"] / "accuracy.txt").read_text()
    assert text.startswith(RESULT) and text.count("hash=") == 1
    full = accuracy_log(400).encode()
    assert text.endswith(f"\nhash={hashlib.sha256(full).hexdigest()}\n")
    assert capsys.readouterr().out.count("sealed: ") == 3


def test_what_is_missing_is_listed_and_fails(tmp_path, capsys):
    dirs = tree(tmp_path, test01_txt=True)
    (dirs["big"] / "accuracy.txt").unlink()
    shutil.rmtree(dirs["small"])
    assert lon_submission(["seal", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"still needs: {dirs['big']} (accuracy.txt: the benchmark's accuracy script" in out
    assert f"still needs: {dirs['small']} (an AccuracyOnly run placed here)" in out
    assert (dirs["big"] / "mlperf_log_accuracy.json").read_text() == accuracy_log(400)


def test_a_root_that_is_not_there_is_bad_input(tmp_path, capsys):
    assert lon_submission(["seal", str(tmp_path / "nope")]) == 2
    assert (
        capsys.readouterr().err
        == f"lon-submission: error: {tmp_path / 'nope'}: no such directory\n"
    )
