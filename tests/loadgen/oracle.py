"""Run the official LoadGen wheel (``mlperf_loadgen``) as an oracle, in a child process.

The wheel keeps process-global state (and aborts the process when StartTest cannot open its
logs), so every batch of runs happens in a fresh ``python`` process started on this file.
Its SUT completes every sample inline with an empty response and records each IssueQuery's
sample indices; its QSL records every load and unload list. The parent parses the detail
and accuracy logs the wheel wrote.

Settings are given as a dict of TestSettings field names (the same names our
``loadgen.TestSettings`` uses); ``scenario`` and ``mode`` take the enum member names.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

ORACLE_TIMEOUT_S = 120.0


@dataclass
class OracleRun:
    """What one official StartTest did."""

    queries: list[list[int]]  # sample indices of every IssueQuery call, in issue order
    loads: list[list[int]]  # LoadSamplesToRam lists, in call order
    unloads: list[list[int]]  # UnloadSamplesFromRam lists, in call order
    flushes: int  # FlushQueries calls
    detail: list[tuple[str, Any]] = field(default_factory=list)  # (key, value) per MLLOG line
    accuracy: list[dict[str, Any]] = field(default_factory=list)  # mlperf_log_accuracy.json
    summary: str = ""  # mlperf_log_summary.txt

    def values(self, key: str) -> list[Any]:
        """Every value logged under ``key``, in log order."""
        return [v for k, v in self.detail if k == key]

    def value(self, key: str) -> Any:
        """The first value logged under ``key`` (KeyError if none)."""
        for k, v in self.detail:
            if k == key:
                return v
        raise KeyError(key)

    @property
    def issued(self) -> list[int]:
        """Every issued sample index, flattened in issue order."""
        return [i for q in self.queries for i in q]


@dataclass
class OracleSpec:
    """One StartTest to run: the settings and the QSL's counts."""

    settings: dict[str, Any]
    total_count: int
    performance_count: int


def run_official(settings: dict[str, Any], total_count: int, performance_count: int) -> OracleRun:
    """Run one official StartTest with ``settings`` in a child process."""
    return run_official_batch([OracleSpec(settings, total_count, performance_count)])[0]


def run_official_batch(specs: list[OracleSpec]) -> list[OracleRun]:
    """Run several official StartTests one after another in one child process."""
    with tempfile.TemporaryDirectory(prefix="lg-oracle-") as tmp:
        runs = []
        for i, spec in enumerate(specs):
            outdir = os.path.join(tmp, f"run{i}")
            os.mkdir(outdir)
            runs.append(
                {
                    "settings": spec.settings,
                    "total": spec.total_count,
                    "performance": spec.performance_count,
                    "outdir": outdir,
                    "record": os.path.join(outdir, "record.json"),
                }
            )
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__)],
            input=json.dumps(runs),
            cwd=tmp,  # no audit.config can be picked up from the caller's directory
            capture_output=True,
            text=True,
            timeout=ORACLE_TIMEOUT_S,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"official LoadGen child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
            )
        return [_collect(r) for r in runs]


def _collect(run: dict[str, Any]) -> OracleRun:
    with open(run["record"], encoding="utf-8") as f:
        rec = json.load(f)
    out = OracleRun(rec["queries"], rec["loads"], rec["unloads"], rec["flushes"])
    outdir = run["outdir"]
    with open(os.path.join(outdir, "mlperf_log_detail.txt"), encoding="utf-8") as f:
        for line in f:
            if line.startswith(":::MLLOG "):
                entry = json.loads(line[len(":::MLLOG ") :])
                out.detail.append((entry["key"], entry["value"]))
    with open(os.path.join(outdir, "mlperf_log_accuracy.json"), encoding="utf-8") as f:
        out.accuracy = json.load(f)
    with open(os.path.join(outdir, "mlperf_log_summary.txt"), encoding="utf-8") as f:
        out.summary = f.read()
    return out


# --- child process ---------------------------------------------------------------------------


def _child_run(lg: Any, run: dict[str, Any]) -> None:
    ts = lg.TestSettings()
    for key, value in run["settings"].items():
        if key == "scenario":
            value = getattr(lg.TestScenario, value)
        elif key == "mode":
            value = getattr(lg.TestMode, value)
        setattr(ts, key, value)

    queries: list[list[int]] = []
    loads: list[list[int]] = []
    unloads: list[list[int]] = []
    flushes = [0]

    def issue(samples: list[Any]) -> None:
        queries.append([s.index for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    def flush() -> None:
        flushes[0] += 1

    sut = lg.ConstructSUT(issue, flush)
    qsl = lg.ConstructQSL(
        run["total"],
        run["performance"],
        lambda idx: loads.append(list(idx)),
        lambda idx: unloads.append(list(idx)),
    )
    log = lg.LogSettings()
    log.log_output.outdir = run["outdir"]
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, ts, log, "no-audit.config")
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    with open(run["record"], "w", encoding="utf-8") as f:
        json.dump(
            {"queries": queries, "loads": loads, "unloads": unloads, "flushes": flushes[0]}, f
        )


def _child_main() -> None:
    import mlperf_loadgen as lg

    for run in json.load(sys.stdin):
        _child_run(lg, run)


if __name__ == "__main__":
    _child_main()
