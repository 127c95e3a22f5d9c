"""The Chrome trace: strict JSON, the official header/footer and per-sample event layout."""

from __future__ import annotations

import io
import json
import os
import threading
import time

import numpy as np
import pytest

from loadgen._trace import TraceLog, format_us
from tests.line_count import count_python_lines


def strict_json(text: str) -> dict:
    """Parse as a browser would: NaN/Infinity are not JSON."""

    def reject(name: str) -> None:
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=reject)


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


def test_sample_pairs_and_server_counters():
    out = io.StringIO()
    origin = 10_000
    trace = TraceLog(out, origin)
    sched = np.array([origin + 87_900, origin + 537_180], dtype=np.int64)
    issue = sched + np.array([87, 107_424])
    done = sched + np.array([11_638, 115_351])
    trace.add_samples(
        np.array([0, 1]), np.array([0, 1]), np.array([4, 5]), sched, issue, done, counters=True
    )
    trace.close()
    lines = out.getvalue().split("\n")
    pid = os.getpid()
    assert lines[1:4] == [
        f'{{"name":"Latency","ph": "C","pid":{pid},"ts":87.900,"args":{{ '
        '"issue_delay":87,"issue_to_done":11551}},',
        f'{{"name":"Sample","cat":"default","ph":"b","pid":{pid},"id":0,"ts":87.900,'
        '"args":{"sample_seq":0,"query_seq":0,"sample_idx":4,"issue_start_ns":87,'
        '"complete_ns":11638}},',
        f'{{"name":"Sample","cat":"default","ph":"e", "pid":{pid},"id":0,"ts":99.538}},',
    ]
    events = strict_json(out.getvalue())["traceEvents"]
    assert [e["ph"] for e in events[:-1]] == ["C", "b", "e", "C", "b", "e"]
    assert events[4]["args"]["complete_ns"] == 115_351


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
    # A fixed, small amount of Python per sample (counted, not timed): nothing that grows with
    # the samples already written, such as a search or re-formatting of the output.
    assert lines < 50 * n, f"{lines} Python lines for {n} samples"


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
