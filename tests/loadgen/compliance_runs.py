"""Compliance runs of our LoadGen, and the official verification scripts to judge them.

The runs are real: a SUT and QSL in this process, ``StartTestWithLogSettings`` with an
audit.config written next to the logs. The official scripts run unchanged, in child processes,
from the directory ``MLPERF_INFERENCE_DIR`` names (see tests/conftest.py).

Performance verdicts compare latencies measured on the wall clock, so the SUTs here make them
certain on however busy a machine: a slow SUT works at least ``SLOW_NS`` a sample (a lower
bound no load can break), a fast one does no work at all (its latencies stay far below
``SLOW_NS`` unless the machine all but stops), and a run that must match another is compared
with itself. Every run is VALID by construction: the SUT is never faster than the expected
latency its settings give, so it cannot run out of pre-generated queries.
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
# TEST07 and TEST09 log every response of the run; the thresholds are the verification's own.
TEST07_AUDIT = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 1000\n"
    "*.*.min_duration = 0\n"
    "*.*.sample_concatenate_permutation = 0\n"
    "*.*.test07_accuracy_threshold = {threshold}\n"
)
TEST08_AUDIT = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 4096\n"
)
TEST09_AUDIT = (
    "*.*.mode = 2\n"
    "*.*.accuracy_log_rng_seed = 720381539243781796\n"
    "*.*.accuracy_log_sampling_target = 1000\n"
    "*.*.min_duration = 0\n"
    "*.*.sample_concatenate_permutation = 0\n"
    "# the bounds: 10 tokens +/- 10 %\n"
    "*.*.test09_min_output_tokens = 9.0\n"
    "*.*.test09_max_output_tokens = 11.0\n"
)
SLOW_NS = 10_000_000  # a slow SUT's least time per sample; a fast SUT's p90 stays far below
FAST_EXPECTED_NS = 2_000  # expected latency of the runs: no SUT here is faster
_SPIN_TAIL_NS = 120_000  # the end of each sample's work is spun, the rest slept
OFFICIAL_TIMEOUT_S = 300  # a bound against hanging, not a speed test


def run_official(script: Path, *args: str, cwd: Path) -> str:
    """Run an official script that exits 0 whatever the verdict; its output."""
    proc = run_official_process(script, *args, cwd=cwd)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def run_official_process(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run an official script; the finished process, its output captured as text.

    No bytecode is written: the official directory may be read-only, or a user's own clone.
    """
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=OFFICIAL_TIMEOUT_S,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return proc


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
    # 1 ms and 2 us a sample: the run ends at min_query_count, which no SUT here reaches
    # within 1 ms, so it is VALID; and TEST01 samples target / 500 of the queries.
    s.min_duration_ms = 1
    s.min_query_count = 100
    s.single_stream_expected_latency_ns = FAST_EXPECTED_NS
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
