"""Compliance runs of our LoadGen, and the official verification scripts to judge them.

The runs are real: a SUT and QSL in this process, ``StartTestWithLogSettings`` with an
audit.config written next to the logs. The official scripts come unchanged from a local clone
of mlcommons/inference (``MLPERF_INFERENCE_GIT_DIR``, default the project's mirror) and run in
child processes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import loadgen as lg

GIT_DIR = os.environ.get("MLPERF_INFERENCE_GIT_DIR", "/work/.mirror/mlcommons+inference/repo")
OFFICIAL_FILES = [
    "compliance/TEST01/run_verification.py",
    "compliance/TEST01/verify_accuracy.py",
    "compliance/TEST01/verify_performance.py",
    "compliance/TEST01/create_accuracy_baseline.sh",
    "compliance/TEST04/run_verification.py",
    "compliance/TEST04/verify_performance.py",
    "compliance/TEST06/run_verification.py",
    "tools/submission/log_parser.py",
]
TEST01_AUDIT = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = {target}\n"
)
TEST04_AUDIT = "".join(
    f"*.{s}.mode = 2\n*.{s}.performance_issue_unique = 0\n"
    f"*.{s}.performance_issue_same = 1\n*.{s}.performance_issue_same_index = 3\n"
    for s in ("SingleStream", "MultiStream", "Server", "Offline")
)
TEST06_AUDIT = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 100\n"
    "*.*.min_query_count = 100\n"
    "*.*.min_duration = 0\n"
    "*.*.sample_concatenate_permutation = 0\n"
)
WORK_NS = 180_000  # the "real" SUT's time per sample: steady, and short (20 % tolerance)
_SPIN_TAIL_NS = 120_000  # the end of each sample's work is spun, the rest slept


def extract_official(root: Path) -> Path | None:
    """Write the official scripts under ``root`` (their repo layout); None without a clone."""
    for path in OFFICIAL_FILES:
        proc = subprocess.run(
            ["git", f"--git-dir={GIT_DIR}", "show", f"HEAD:{path}"],
            capture_output=True,
            timeout=60,
        )
        if proc.returncode != 0:
            return None
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(proc.stdout)
    return root


def run_official(script: Path, *args: str, cwd: Path) -> str:
    """Run an official script; its output (it exits 0 whatever the verdict)."""
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(script), *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def work(ns: int) -> None:
    """Take ``ns`` of wall-clock time: sleep, then spin to the deadline.

    Sleeping first keeps the time steady when other processes load the CPUs (a woken thread is
    scheduled promptly, a spinning one is preempted for whole time slices); spinning last makes
    it precise despite the kernel's timer slack.
    """
    end = time.perf_counter_ns() + ns
    if ns > _SPIN_TAIL_NS:
        time.sleep((ns - _SPIN_TAIL_NS) / 1e9)
    while time.perf_counter_ns() < end:
        pass


class AnswerSUT(lg.SystemUnderTest):
    """Answers ``answer(index)`` inline after ``work_ns`` of work (none if ``skip(index)``)."""

    def __init__(
        self,
        answer: Callable[[int], bytes],
        work_ns: int = 0,
        skip: Callable[[int], bool] | None = None,
    ) -> None:
        self.answer, self.work_ns, self.skip = answer, work_ns, skip

    def name(self) -> str:
        return "AnswerSUT"

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        for s in samples:
            if self.work_ns and not (self.skip and self.skip(s.index)):
                work(self.work_ns)
        lg.QuerySamplesComplete(
            [lg.QuerySampleResponse(s.id, self.answer(s.index)) for s in samples]
        )

    def flush_queries(self) -> None:
        pass


class CachingSUT(AnswerSUT):
    """Skips the work when asked for the same sample as last time: what TEST04 catches."""

    def __init__(self, answer: Callable[[int], bytes], work_ns: int) -> None:
        self.last = -1
        super().__init__(answer, work_ns, skip=self._cached)

    def _cached(self, index: int) -> bool:
        hit, self.last = index == self.last, index
        return hit


class TokenSUT(lg.SystemUnderTest):
    """An LLM-like SUT: reports ``first(index)`` as the first token, then ``tokens(index)``."""

    def __init__(
        self,
        tokens: Callable[[int], np.ndarray],
        first: Callable[[int], np.ndarray],
        count: Callable[[int], int],
    ) -> None:
        self.tokens, self.first, self.count = tokens, first, count

    def name(self) -> str:
        return "TokenSUT"

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        lg.FirstTokenComplete(
            [lg.QuerySampleResponse(s.id, self.first(s.index).tobytes()) for s in samples]
        )
        lg.QuerySamplesComplete(
            [
                lg.QuerySampleResponse(
                    s.id, self.tokens(s.index).tobytes(), n_tokens=self.count(s.index)
                )
                for s in samples
            ]
        )

    def flush_queries(self) -> None:
        pass


class SmallQSL(lg.QuerySampleLibrary):
    def name(self) -> str:
        return "SmallQSL"

    def total_sample_count(self) -> int:
        return 64

    def performance_sample_count(self) -> int:
        return 16

    def load_samples_to_ram(self, indices: list[int]) -> None:
        pass

    def unload_samples_from_ram(self, indices: list[int]) -> None:
        pass


def settings(scenario: lg.TestScenario, mode: lg.TestMode, **fields: object) -> lg.TestSettings:
    s = lg.TestSettings()
    s.scenario = scenario
    s.mode = mode
    s.min_duration_ms = 50
    s.min_query_count = 100
    s.single_stream_expected_latency_ns = WORK_NS
    s.server_target_qps = 5000
    s.server_target_latency_ns = 50_000_000
    s.offline_expected_qps = 100_000
    for key, value in fields.items():
        setattr(s, key, value)
    return s


def run(
    outdir: Path,
    sut: lg.SystemUnderTest,
    test_settings: lg.TestSettings,
    audit: str | None = None,
) -> Path:
    """One LoadGen run writing its logs to ``outdir``; ``audit`` is an audit.config's text."""
    outdir.mkdir(parents=True, exist_ok=True)
    audit_path = outdir.parent / f"{outdir.name}.audit.config"
    if audit is not None:
        audit_path.write_text(audit)
    log_settings = lg.LogSettings()
    log_settings.log_output.outdir = str(outdir)
    lg.StartTestWithLogSettings(
        sut, SmallQSL(), test_settings, log_settings, audit_config_filename=str(audit_path)
    )
    return outdir


def same_tree(ours: Path, theirs: Path) -> None:
    """Our output tree has the official's files with the official's content lines.

    verify_performance.txt is compared without the official parser's logging lines (which
    carry timestamps), as a sorted list because the script's stdout and stderr interleave.
    """
    files = sorted(p.relative_to(ours) for p in ours.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(theirs) for p in theirs.rglob("*") if p.is_file())
    for f in files:
        a, b = (ours / f).read_bytes(), (theirs / f).read_bytes()
        if f.name == "verify_performance.txt":
            logged = [x for x in b.decode().splitlines() if not x.startswith("[")]
            assert sorted(a.decode().splitlines()) == sorted(logged), f
        else:
            assert a == b, f
