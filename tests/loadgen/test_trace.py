"""The Chrome trace: strict JSON, the official events, line layouts and sequence ids.

The end-to-end tests run the same settings and SUT through the official wheel and ours and
compare the traces event for event: names, phases, keys, args keys, counts per name, the
layout of every line and the sample and query sequence ids (which count across series).
"""

from __future__ import annotations

import array
import collections
import io
import json
import os
import re
import threading
import time

import numpy as np
import pytest

import loadgen as lg
from loadgen import _completion
from loadgen._trace import PACK, CallStamps, TraceLog, format_us
from loadgen.clock import VirtualClock
from tests.line_count import count_python_lines

from . import official_logs
from .test_scenarios import CountingQSL

MS = 1_000_000

# Events of the official logger's own machinery, which ours does not have: its IO thread's
# loop, its first-allocation marker, and one LogDetail / LogSummary event per line it logs.
OFFICIAL_ONLY = frozenset(
    {"IOThreadLoop", "Wait", "Gather", "Process", "Thread", "FlushAll", "FirstAllocation"}
    | {"Abandoning Orphans", "TlsLogger:ContentionCounters", "LogDetail", "LogSummary"}
)


def strict_json(text: str) -> dict:
    """Parse as a browser would: NaN/Infinity are not JSON."""

    def reject(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


def event_lines(text: str) -> list[tuple[str, dict | None]]:
    """(line, parsed event or None where it is not JSON) for each event line but the last."""
    out = []
    for line in text.splitlines():
        if line.startswith('{"name"') and line != '{"name":"LastTrace"}':
            try:
                out.append((line, json.loads(line.rstrip(","))))
            except ValueError:
                out.append((line, None))
    return out


def line_name(line: str) -> str:
    return line.split('"', 4)[3]


def shape(line: str) -> str:
    """A line with every number replaced: what is left is its layout, byte for byte."""
    return re.sub(r"-?\d+(?:\.\d+)?", "#", line)


def kinds(events: list[dict]) -> collections.Counter:
    return collections.Counter(
        (e["name"], e.get("ph"), tuple(sorted(e)), tuple(sorted(e.get("args", {})))) for e in events
    )


def sequence_ids(events: list[dict], name: str) -> list[tuple[int, int, int]]:
    begins = [e["args"] for e in events if e["name"] == name and e["ph"] == "b"]
    ids = [(a["sample_seq"], a["query_seq"], a["sample_idx"]) for a in begins]
    return sorted(ids)


# --- the writer ------------------------------------------------------------------------------


def test_empty_trace_is_valid_json_with_the_official_footer():
    out = io.StringIO()
    origin = time.perf_counter_ns()
    trace = TraceLog(out, origin)
    trace.close()
    trace.close()
    text = out.getvalue()
    assert text.startswith('{"traceEvents":[\n')
    assert text.endswith(
        '{"name":"LastTrace"}\n],\n"displayTimeUnit":"ns",\n"otherData":{\n'
        + text.split('"otherData":{\n')[1].split("\n")[0]
        + '\n"version":"MLPerf LoadGen v1.0"\n}\n}\n'
    )
    doc = strict_json(text)
    assert doc["traceEvents"] == [{"name": "LastTrace"}]
    # The origin as wall-clock µs (the official PerfClock is the system clock).
    assert abs(doc["otherData"]["ts"] / 1e6 - time.time()) < 60
    assert doc["displayTimeUnit"] == "ns"


@pytest.mark.parametrize(
    "ns, text",
    [
        (0, "0.000"),
        (1, "0.001"),
        (22_064, "22.064"),
        (1_234_567_890, "1234567.890"),
        (-1_500, "-1.500"),
    ],
)
def test_microseconds_with_three_exact_decimals(ns, text):
    assert format_us(ns) == text


def test_complete_event():
    out = io.StringIO()
    trace = TraceLog(out, 1_000_000)
    trace.add_complete("GenerateQueries", 1_022_064, 49_270, {"n": np.int64(5), "x": float("inf")})
    line = out.getvalue().split("\n")[1]
    assert line == (
        f'{{"name":"GenerateQueries","ph":"X","pid":{os.getpid()},'
        f'"tid":{threading.get_native_id()},"ts":22.064,"dur":49.270,'
        '"args":{"n":5,"x":"inf"}},'
    )
    trace.close()
    strict_json(out.getvalue())


def test_spans_on_a_given_thread_in_bulk():
    out = io.StringIO()
    trace = TraceLog(out, 1_000)
    starts = np.array([1_000, 23_064, 1_000 + 86_400 * 10**9])  # the last a day in
    trace.add_spans("IssueQuery", 77, starts, starts + np.array([0, 49_270, 1]))
    trace.close()
    pid = os.getpid()
    assert out.getvalue().split("\n")[1:4] == [
        f'{{"name":"IssueQuery","ph":"X","pid":{pid},"tid":77,"ts":0.000,"dur":0.000,"args":{{}}}},',
        f'{{"name":"IssueQuery","ph":"X","pid":{pid},"tid":77,"ts":22.064,"dur":49.270,'
        '"args":{}},',
        f'{{"name":"IssueQuery","ph":"X","pid":{pid},"tid":77,"ts":86400000000.000,'
        '"dur":0.001,"args":{}},',
    ]


def test_sample_pairs_and_server_counters():
    out = io.StringIO()
    origin = 10_000
    trace = TraceLog(out, origin)
    sched = np.array([origin + 87_900, origin + 537_180], dtype=np.int64)
    issue = sched + np.array([87, 107_424])
    done = sched + np.array([11_638, 115_351])
    trace.add_samples(
        np.array([0, 1]), np.array([7, 8]), np.array([4, 5]), sched, issue, done, counter="Latency"
    )
    trace.close()
    lines = out.getvalue().split("\n")
    pid = os.getpid()
    assert lines[1:4] == [
        f'{{"name":"Latency","ph": "C","pid":{pid},"ts":87.900,"args":{{ '
        '"issue_delay":87,"issue_to_done":11551}},',
        f'{{"name":"Sample","cat":"default","ph":"b","pid":{pid},"id":0,"ts":87.900,'
        '"args":{"sample_seq":0,"query_seq":7,"sample_idx":4,"issue_start_ns":87,'
        '"complete_ns":11638}},',
        f'{{"name":"Sample","cat":"default","ph":"e", "pid":{pid},"id":0,"ts":99.538}},',
    ]
    events = strict_json(out.getvalue())["traceEvents"]
    assert [e["ph"] for e in events[:-1]] == ["C", "b", "e", "C", "b", "e"]
    assert events[4]["args"]["complete_ns"] == 115_351


def test_first_tokens_as_pairs_or_as_server_counters_only():
    out = io.StringIO()
    trace = TraceLog(out, 0)
    one = np.array([1])
    trace.add_samples(one, one, one, one * 1000, one * 1000, one * 5000, name="Token")
    trace.add_samples(
        one, one, one, one * 1000, one * 2000, one * 5000, name=None, counter="Token_Latency"
    )
    trace.close()
    events = strict_json(out.getvalue())["traceEvents"]
    assert [(e["name"], e["ph"]) for e in events[:-1]] == [
        ("Token", "b"),
        ("Token", "e"),
        ("Token_Latency", "C"),
    ]
    assert events[0]["args"]["complete_ns"] == 4000
    assert events[2]["args"] == {"issue_delay": 1000, "issue_to_done": 3000}


def test_bulk_samples_across_chunks_without_counters():
    n = 70_000
    out = io.StringIO()
    origin = time.perf_counter_ns()
    trace = TraceLog(out, origin)
    seq = np.arange(100, 100 + n, dtype=np.int64)
    sched = origin + np.arange(n, dtype=np.int64) * 1000
    _, lines = count_python_lines(
        lambda: trace.add_samples(seq, seq // 2, seq % 7, sched, sched, sched + 500)
    )
    trace.close()
    events = strict_json(out.getvalue())["traceEvents"]
    assert len(events) == 2 * n + 1
    begins = [e for e in events if e.get("ph") == "b"]
    assert [e["id"] for e in begins] == seq.tolist()
    assert begins[-1]["ts"] == pytest.approx((n - 1) * 1.0)
    assert all(e["args"]["complete_ns"] == 500 for e in begins)
    # Formatting is not a Python loop over the samples (counted, not timed): a few lines a
    # chunk, nothing that grows with the samples.
    assert lines < 200, f"{lines} Python lines for {n} samples"


def test_concurrent_writers_and_close():
    out = io.StringIO()
    trace = TraceLog(out, 0)

    def work() -> None:
        for i in range(300):
            trace.add_complete("IssueQuery", i, 1)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    trace.close()
    assert len(strict_json(out.getvalue())["traceEvents"]) == 1201
    with pytest.raises(RuntimeError, match="closed"):
        trace.add_complete("late", 0, 0)


# --- the call stamps -------------------------------------------------------------------------


def test_call_stamps_keep_every_call_of_every_thread_with_its_tid():
    stamps = CallStamps()
    calls = 3 * PACK + 5  # past a few packings
    tids: dict[int, int] = {}
    go = threading.Barrier(4)

    def work(k: int) -> None:
        tids[k] = threading.get_native_id()
        go.wait()
        for i in range(calls):
            stamps.record(k * 10**9 + 2 * i, k * 10**9 + 2 * i + 1)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    taken = [stamps.take()]  # while they record
    for t in threads:
        t.join()
    taken.append(stamps.take())
    assert stamps.take() == []
    per_tid: dict[int, list[np.ndarray]] = collections.defaultdict(list)
    for part in taken:
        for tid, pairs in part:
            per_tid[tid].append(pairs)
    assert sorted(per_tid) == sorted(tids.values())
    for k, tid in tids.items():
        pairs = np.concatenate(per_tid[tid])
        assert pairs.dtype == np.int64
        expected = k * 10**9 + 2 * np.arange(calls)
        assert pairs[:, 0].tolist() == expected.tolist()
        assert pairs[:, 1].tolist() == (expected + 1).tolist()


def test_call_stamps_pack_into_int64_as_they_go():
    stamps = CallStamps()
    for i in range(10 * PACK):
        stamps.record(i, i + 1)
    # At most one packing's worth is held as Python ints; the rest is 16 bytes a call.
    held = stamps.local.stamps
    assert len(held.recent) < PACK
    assert sum(a.nbytes for a in held.packed) >= 16 * (10 * PACK - PACK // 2)


def test_a_completion_records_two_stamps_and_formats_nothing():
    """The completion entry point's extra work for the trace is a fixed few lines."""
    series = _completion.Series(np.arange(4, dtype=np.int64), 0, error_sink=print)
    series.issued = 4  # only issued samples may complete
    _completion.set_active(series)
    try:
        response = [lg.QuerySampleResponse(series.base, b"")]
        _, off = count_python_lines(lambda: _completion.QuerySamplesComplete(response))
        series.completion_stamps = CallStamps()
        response = [lg.QuerySampleResponse(series.base + 1, b"")]
        _completion.QuerySamplesComplete(response)  # the thread's first call joins
        response = [lg.QuerySampleResponse(series.base + 2, b"")]
        _, on = count_python_lines(lambda: _completion.QuerySamplesComplete(response))
    finally:
        _completion.set_active(None)
    assert on - off <= 10, (off, on)
    [(tid, pairs)] = series.completion_stamps.take()
    assert tid == threading.get_native_id()
    assert pairs.shape == (2, 2) and (pairs[:, 0] <= pairs[:, 1]).all()
    assert pairs[1, 0] == series.done[2]  # the call starts at the completion's stamp


# --- end to end, against the official LoadGen ------------------------------------------------

TRACE_RUNS = [
    official_logs.run_settings(scenario, tokens, min_duration_ms=0)
    for scenario in ("SingleStream", "MultiStream", "Server", "Offline")
    for tokens in (False, True)
] + [
    official_logs.run_settings("SingleStream", mode="SubmissionRun", min_duration_ms=0),
    official_logs.run_settings("Server", True, mode="SubmissionRun", min_duration_ms=0),
]


def our_trace(tmp_path, settings: dict) -> str:
    """Our trace for ``settings``, with the SUT the official runs in official_logs use."""
    ts = lg.TestSettings()
    for key, value in settings.items():
        if key == "scenario":
            value = lg.TestScenario[value]
        elif key == "mode":
            value = lg.TestMode[value]
        setattr(ts, key, value)
    data = array.array("B", bytes(range(1, 9)))
    address = data.buffer_info()[0]
    first_token = settings.get("use_token_latencies") and settings["scenario"] != "Offline"
    n_tokens = official_logs.N_TOKENS

    def issue(samples: list) -> None:
        if first_token:
            lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, address, 4, 1) for s in samples])
        lg.QuerySamplesComplete(
            [lg.QuerySampleResponse(s.id, address, 8, n_tokens) for s in samples]
        )

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(
        official_logs.TOTAL_COUNT, official_logs.PERFORMANCE_COUNT, lambda i: None, lambda i: None
    )
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    report = lg.run_test(sut, qsl, ts, log, audit_config="")
    with open(report.trace_path, encoding="utf-8") as f:
        return f.read()


@pytest.fixture(scope="module")
def trace_runs():
    pytest.importorskip("mlperf_loadgen")
    return official_logs.official_runs(*TRACE_RUNS)


@pytest.mark.parametrize("index", range(len(TRACE_RUNS)))
def test_the_same_events_as_the_official_trace(trace_runs, tmp_path, index):
    official = trace_runs[index]
    text = our_trace(tmp_path, official.settings)
    ours = strict_json(text)["traceEvents"][:-1]
    theirs_lines = [
        (line, e)
        for line, e in event_lines(official.trace_text)
        if line_name(line) not in OFFICIAL_ONLY
    ]
    assert all(e is not None for _, e in theirs_lines)  # only the logger's lines are not JSON
    theirs = [e for _, e in theirs_lines if e is not None]
    # Names, phases, keys and args keys, with the count of each.
    assert kinds(ours) == kinds(theirs)
    # Every line laid out as the official's, byte for byte, numbers aside.
    our_shapes = {shape(line) for line, _ in event_lines(text)}
    assert our_shapes == {shape(line) for line, _ in theirs_lines}
    # The same samples with the same sample and query sequence ids.
    for name in ("Sample", "Token"):
        assert sequence_ids(ours, name) == sequence_ids(theirs, name)
    assert sequence_ids(ours, "Sample"), "no samples traced"


def test_query_seq_counts_across_series(trace_runs, tmp_path):
    """An accuracy run's ten series and then the performance run: ids never restart."""
    official = trace_runs[TRACE_RUNS.index(TRACE_RUNS[-2])]
    ours = strict_json(our_trace(tmp_path, official.settings))["traceEvents"]
    assert sum(e["name"] == "GenerateQueries" for e in ours) == 11
    ids = sequence_ids(ours, "Sample")
    query_seq = [q for _, q, _ in ids]
    assert query_seq == sorted(query_seq) and len(set(query_seq)) == len(query_seq)
    assert query_seq[-1] == len(query_seq) - 1 > 100  # one query per sample, none restarted
    assert ids == sequence_ids(official.trace_events, "Sample")


# --- what the official cannot show exactly ---------------------------------------------------


class SlowIssueSUT(lg.SystemUnderTest):
    """Each IssueQuery blocks 3 ms of clock time, then answers its samples at once."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self.calls = 0

    def name(self) -> str:
        return "SlowIssueSUT"

    def issue_query(self, samples: list) -> None:
        self.calls += 1
        self.clock.sleep_until(self.clock.now_ns() + 3 * MS)
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"") for s in samples])

    def flush_queries(self) -> None:
        pass


def _run_virtual(tmp_path, sut, clock, **fields) -> dict:
    s = lg.TestSettings()
    s.mode = lg.TestMode.PerformanceOnly
    for k, v in fields.items():
        setattr(s, k, v)
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    report = lg.run_test(sut, CountingQSL(), s, log, audit_config="", clock=clock)
    with open(report.trace_path, encoding="utf-8") as f:
        return strict_json(f.read())


def test_a_coalesced_server_query_is_one_loop_iteration(tmp_path):
    clock = VirtualClock()
    sut = SlowIssueSUT(clock)
    trace = _run_virtual(
        tmp_path, sut, clock,
        scenario=lg.TestScenario.Server, server_target_qps=1000, min_duration_ms=50,
        min_query_count=50, server_coalesce_queries=True,
    )  # fmt: skip
    events = trace["traceEvents"]
    count = collections.Counter(e["name"] for e in events)
    samples = count["Sample"] // 2
    assert sut.calls < samples  # queries were coalesced
    for name in ("Scheduling", "IssueQuery", "SampleLoop", "QuerySamplesComplete"):
        assert count[name] == sut.calls, name
    assert count["Latency"] == samples
    issue = [e for e in events if e["name"] == "IssueQuery"]
    assert all(e["dur"] == 3000.0 for e in issue)  # 3 ms each, in µs
    loops = [e for e in events if e["name"] == "SampleLoop"]
    # Each iteration starts where the previous IssueQuery returned.
    assert [e["ts"] for e in loops[1:]] == [e["ts"] + e["dur"] for e in issue[:-1]]


class AbortOnThirdSUT(lg.SystemUnderTest):
    """Answers the first two queries at once; aborts on the third and never answers it."""

    def __init__(self) -> None:
        self.calls = 0

    def name(self) -> str:
        return "AbortOnThirdSUT"

    def issue_query(self, samples: list) -> None:
        self.calls += 1
        if self.calls == 3:
            lg.AbortTest("gave up")
            return
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"") for s in samples])

    def flush_queries(self) -> None:
        pass


def test_an_aborted_series_still_traces_what_it_did(tmp_path):
    clock = VirtualClock(start_ns=MS)  # a completion stamped 0 would read as none
    with pytest.raises(lg.TestAborted):
        _run_virtual(
            tmp_path, AbortOnThirdSUT(), clock,
            scenario=lg.TestScenario.SingleStream, single_stream_expected_latency_ns=MS,
            min_duration_ms=0, min_query_count=10,
        )  # fmt: skip
    with open(tmp_path / "mlperf_log_trace.json", encoding="utf-8") as f:
        events = strict_json(f.read())["traceEvents"]
    count = collections.Counter((e["name"], e.get("ph")) for e in events)
    assert count[("IssueQuery", "X")] == 3
    assert count[("QuerySamplesComplete", "X")] == 2
    assert count[("Sample", "b")] == count[("Sample", "e")] == 2
