"""The official LoadGen's log files for a few tiny runs, and the measurements behind them.

The wheel (``mlperf_loadgen``) keeps process-global state, so all runs happen in one child
process started on this file. Its SUT completes every sample inline with 8 bytes and 3
tokens (a first token of 4 bytes before that in token runs). The parent keeps the summary,
the detail entries, the accuracy JSON and the trace events; from the trace's per-sample
events (exact ns latencies) ``record_from_trace`` rebuilds the PerformanceRecord the run
measured, so our results code can be checked value for value against the official logs.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

TIMEOUT_S = 120.0
N_TOKENS = 3

# Settings every run shares (small and fast); the scenario and token flag vary.
BASE_SETTINGS: dict[str, Any] = {
    "mode": "PerformanceOnly",
    "min_duration_ms": 50,
    "min_query_count": 10,
    "server_target_qps": 2000.0,
    "server_target_latency_ns": 100_000,
    "offline_expected_qps": 1000.0,
    "single_stream_expected_latency_ns": 100_000,
    "multi_stream_expected_latency_ns": 100_000,
}
TOTAL_COUNT = 100
PERFORMANCE_COUNT = 10


@dataclass
class OfficialRun:
    """The files one official StartTest wrote."""

    settings: dict[str, Any]
    summary: str
    detail: list[dict[str, Any]]  # one parsed MLLOG entry per line
    detail_text: str
    accuracy_text: str
    trace_events: list[dict[str, Any]]  # the trace lines that are valid JSON on their own
    trace_text: str = ""  # the whole mlperf_log_trace.json

    def keys(self) -> list[str]:
        return [e["key"] for e in self.detail]

    def value(self, key: str) -> Any:
        for e in self.detail:
            if e["key"] == key:
                return e["value"]
        raise KeyError(key)


def run_settings(scenario: str, tokens: bool = False, **extra: Any) -> dict[str, Any]:
    settings = dict(BASE_SETTINGS, scenario=scenario, use_token_latencies=tokens)
    settings.update(extra)
    return settings


def _freeze(settings: dict[str, Any]) -> str:
    return json.dumps(settings, sort_keys=True)


@functools.cache
def _run_batch(frozen: tuple[str, ...]) -> tuple[OfficialRun, ...]:
    specs = [json.loads(f) for f in frozen]
    with tempfile.TemporaryDirectory(prefix="lg-official-logs-") as tmp:
        jobs = []
        for i, settings in enumerate(specs):
            outdir = os.path.join(tmp, f"run{i}")
            os.mkdir(outdir)
            jobs.append({"settings": settings, "outdir": outdir})
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__)],
            input=json.dumps(jobs),
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"official LoadGen child failed:\n{proc.stderr[-4000:]}")
        return tuple(_collect(job) for job in jobs)


def official_runs(*settings: dict[str, Any]) -> list[OfficialRun]:
    """Run each settings dict once (cached for the session), in one child process."""
    return list(_run_batch(tuple(_freeze(s) for s in settings)))


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _collect(job: dict[str, Any]) -> OfficialRun:
    outdir = job["outdir"]
    detail_text = _read(os.path.join(outdir, "mlperf_log_detail.txt"))
    detail = [json.loads(line[len(":::MLLOG ") :]) for line in detail_text.splitlines()]
    trace_text = _read(os.path.join(outdir, "mlperf_log_trace.json"))
    events = []
    for line in trace_text.splitlines():
        if line.startswith('{"name":"Sample"') or line.startswith('{"name":"Token'):
            events.append(json.loads(line.rstrip(",")))
    return OfficialRun(
        settings=job["settings"],
        summary=_read(os.path.join(outdir, "mlperf_log_summary.txt")),
        detail=detail,
        detail_text=detail_text,
        accuracy_text=_read(os.path.join(outdir, "mlperf_log_accuracy.json")),
        trace_events=events,
        trace_text=trace_text,
    )


def _ns(us: float) -> int:
    return round(us * 1000)


def record_from_trace(run: OfficialRun, effective: Any) -> Any:
    """The PerformanceRecord of an official run, rebuilt from its trace.

    Latencies (and TTFT, TPOT) are exact; the run's start is taken as the first query's
    scheduled time, so the time offsets are close to, not exactly, the official ones.
    """
    from loadgen._enums import TestScenario
    from loadgen._records import PerformanceRecord

    begins = [e for e in run.trace_events if e["name"] == "Sample" and e["ph"] == "b"]
    begins.sort(key=lambda e: e["args"]["sample_seq"])
    sched = np.array([_ns(e["ts"]) for e in begins], dtype=np.int64)
    latency = np.array([e["args"]["complete_ns"] for e in begins], dtype=np.int64)
    issue = sched + np.array([e["args"]["issue_start_ns"] for e in begins], dtype=np.int64)
    query = np.array([e["args"]["query_seq"] for e in begins], dtype=np.int64)
    query -= query.min()
    start = int(sched.min())
    done = sched + latency
    nq = int(query.max()) + 1
    query_done = np.full(nq, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(query_done, query, done)
    query_sched = np.zeros(nq, dtype=np.int64)
    query_sched[query] = sched
    query_issue = np.zeros(nq, dtype=np.int64)
    query_issue[query] = issue
    record = PerformanceRecord(
        settings=effective,
        queries_issued=nq,
        sample_latency_ns=latency,
        query_latency_ns=(
            query_done - query_sched
            if effective.scenario == TestScenario.MultiStream
            else np.zeros(0, np.int64)
        ),
        final_query_scheduled_offset_ns=int(query_sched[-1] - start),
        final_query_issue_offset_ns=int(query_issue[-1] - start),
        final_query_all_done_offset_ns=int(query_done[-1] - start),
        max_completion_offset_ns=int(done.max() - start),
    )
    if effective.use_token_latencies and effective.needs_first_token:
        ttft = _first_token_latencies(run, effective.scenario, begins)
        record.first_token_latency_ns = ttft
        record.time_per_output_token_ns = (latency - ttft) // (N_TOKENS - 1)
    if effective.use_token_latencies:
        record.token_count = N_TOKENS * len(latency)
        if not effective.needs_first_token:
            record.first_token_latency_ns = np.zeros(0, np.int64)
    return record


def _first_token_latencies(run: OfficialRun, scenario: Any, begins: list[dict]) -> np.ndarray:
    from loadgen._enums import TestScenario

    if scenario == TestScenario.Server:
        # Server traces first tokens as counters keyed by the scheduled time only.
        by_ts = {}
        for e in run.trace_events:
            if e["name"] == "Token_Latency":
                by_ts[_ns(e["ts"])] = e["args"]["issue_delay"] + e["args"]["issue_to_done"]
        return np.array([by_ts[_ns(e["ts"])] for e in begins], dtype=np.int64)
    tokens = {
        e["args"]["sample_seq"]: e["args"]["complete_ns"]
        for e in run.trace_events
        if e["name"] == "Token" and e["ph"] == "b"
    }
    return np.array([tokens[e["args"]["sample_seq"]] for e in begins], dtype=np.int64)


# --- child process ---------------------------------------------------------------------------


def _child_run(lg: Any, job: dict[str, Any]) -> None:
    import array

    settings = job["settings"]
    ts = lg.TestSettings()
    for key, value in settings.items():
        if key == "scenario":
            value = getattr(lg.TestScenario, value)
        elif key == "mode":
            value = getattr(lg.TestMode, value)
        setattr(ts, key, value)
    data = array.array("B", bytes(range(1, 9)))
    address = data.buffer_info()[0]
    first_token = settings.get("use_token_latencies") and settings["scenario"] != "Offline"

    def issue(samples: list[Any]) -> None:
        if first_token:
            lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, address, 4, 1) for s in samples])
        lg.QuerySamplesComplete(
            [lg.QuerySampleResponse(s.id, address, 8, N_TOKENS) for s in samples]
        )

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(TOTAL_COUNT, PERFORMANCE_COUNT, lambda i: None, lambda i: None)
    log = lg.LogSettings()
    log.log_output.outdir = job["outdir"]
    log.enable_trace = True
    lg.StartTestWithLogSettings(sut, qsl, ts, log, "no-audit.config")
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)


def _child_main() -> None:
    import mlperf_loadgen as lg

    for job in json.load(sys.stdin):
        _child_run(lg, job)


if __name__ == "__main__":
    _child_main()
