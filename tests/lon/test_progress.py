"""lon-run's live progress: a rich table on a terminal, plain lines through a pipe, nothing with
--quiet; FindPeakPerformance probes judged from the detail log as the search moves its bounds."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import numpy as np
import pytest

from lon._progress import FindPeakTracker, LatencyHistogram
from qdl.transports import echo_handler
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen
from tests.qdl.echo_node import echo_process


@pytest.fixture(scope="module")
def node():
    with echo_process("--name", "progress-node") as (_, address):
        yield address


def server_run(node, output, *extra):
    return [
        *LON_RUN, "--nodes", node, "--scenario", "Server", "--synthetic", "8:uint8:16",
        "--set", "server_target_qps=200", "--set", "min_duration_ms=300",
        "--set", "min_query_count=50", "--output", str(output), "--audit-config", "none", *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("lg", LOADGENS)
def test_piped_output_gets_plain_progress_lines(node, tmp_path, lg):
    need_loadgen(lg)
    proc = subprocess.run(
        server_run(node, tmp_path / "out", "--loadgen", lg),
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    (line,) = [x for x in proc.stdout.splitlines() if x.startswith("progress: ")]
    assert "outstanding 0" in line and "(target 200)" in line and "progress-node:0@" in line
    issued = int(line.split("issued ")[1].split()[0])
    assert issued >= 50  # what the QDL counted, under either LoadGen
    assert "\x1b[" not in proc.stdout


def test_quiet_shows_no_progress(node, tmp_path):
    proc = subprocess.run(
        server_run(node, tmp_path / "out", "--quiet"),
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    assert "progress: " not in proc.stdout and "Scenario : Server" in proc.stdout


def test_a_terminal_gets_the_live_table(node, tmp_path):
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(
        server_run(node, tmp_path / "out"), cwd=ROOT, stdout=slave, stderr=subprocess.PIPE,
        env=env,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    assert proc.stderr is not None
    with proc.stderr:
        err = proc.stderr.read()
    assert proc.wait(timeout=90) in FINISHED, err
    text = b"".join(chunks).decode("utf-8", errors="replace")
    assert "\x1b[" in text  # drawn with terminal control codes
    assert "issued / completed" in text and "p99 round trip" in text and "progress-node" in text
    assert "progress: " not in text
    assert "Scenario : Server" in text


def test_histogram_percentiles_are_within_its_bin_width():
    h = LatencyHistogram()
    values = np.arange(1, 10_001) * 1000  # 1 us .. 10 ms
    h.add(values[:5000].tolist())
    h.add(values[5000:].tolist())
    for pct in (50, 90, 99):
        exact = np.percentile(values, pct)
        assert exact <= h.percentile_ns(pct) <= exact * 1.021


def log_line(value):
    return f':::MLLOG {{"key": "generic_message", "value": "{value}", "time_ms": 1.0}}\n'


def test_find_peak_probes_are_judged_by_how_the_bounds_move(tmp_path):
    detail = tmp_path / "mlperf_log_detail.txt"
    steps = [
        "FindPeakPerformance: Check validity of the base settings field: 25.000000",
        "FindBoundaries: Checking fields [25.000000, 100.000000)",
        "FindBoundaries: Checking fields [100.000000, 400.000000)",
        "FindPeakPerformance: Found boundaries: [100.000000, 400.000000)",
        "FindPeakPerformanceBinarySearch: Testing the mid value of bounds "
        "[100.000000, 400.000000): 250.000000",
        "FindPeakPerformanceBinarySearch: Testing the mid value of bounds "
        "[100.000000, 250.000000): 175.000000",
        "FindPeakPerformance: Found peak performance field: 175.000000",
    ]
    tracker = FindPeakTracker(str(detail), 99.0)
    histogram = LatencyHistogram()
    lines = []
    with open(detail, "w") as f:
        for i, step in enumerate(steps):
            histogram.add([(i + 1) * 1_000_000] * 10)  # probe i's round trips: (i + 1) ms
            f.write(log_line(step))
            f.flush()
            lines += tracker.poll(histogram)
    assert [line.split(", ")[0] for line in lines] == [
        "probe 1: 25.00 QPS", "probe 2: 100.00 QPS", "probe 3: 400.00 QPS",
        "probe 4: 250.00 QPS", "probe 5: 175.00 QPS",
    ]  # fmt: skip
    assert [line.rsplit(", ", 1)[1] for line in lines] == [
        "VALID",
        "VALID",
        "INVALID",
        "INVALID",
        "VALID",
    ]
    assert "p99 rtt 2.0" in lines[0]  # the round trips added while probe 1 ran
    assert tracker.peak == "175.000000"


def test_versions_are_printed():
    for command in (LON_RUN, [sys.executable, "-m", "sut_server"]):
        proc = subprocess.run(
            [*command, "--version"], cwd=ROOT, capture_output=True, text=True, timeout=30
        )
        assert proc.returncode == 0 and proc.stdout.split()[1][0].isdigit(), proc.stdout


def test_the_sampler_counts_rates_and_outstanding_on_the_clock(recording):
    from loadgen.clock import VirtualClock
    from lon._progress import Sampler, Target
    from qdl import DispatchConfig, MockTransport, NodeDescription, QueryDispatchLibrary
    from tests.qdl.conftest import loaded_qsl, queries

    def node(name, handler):
        address = f"mock:{name}"
        return MockTransport(
            handler, address=address, description=NodeDescription(address=address, name=name)
        )

    answering = node("quick", echo_handler)
    silent = node("stuck", lambda batch: None)
    clock = VirtualClock()
    qsl = loaded_qsl()
    config = DispatchConfig(balance="round-robin")
    with QueryDispatchLibrary([answering, silent], qsl, recording, config, clock=clock) as qdl:
        sampler = Sampler(qdl, Target("Server", 1.0, 100.0, 10.0, 99.0), clock)
        batch = queries([[i % 16] for i in range(40)])
        for q in batch[:20]:
            qdl.issue_query(q)
        clock.advance(1_000_000_000)
        first = sampler.poll()
        for q in batch[20:]:
            qdl.issue_query(q)
        clock.advance(500_000_000)
        second = sampler.poll()
    assert (first.issued, first.completed, first.outstanding) == (20, 10, 10)
    assert first.rate == 0.0 and first.elapsed_s == 1.0  # no interval to measure a rate over yet
    assert (second.issued, second.completed, second.outstanding) == (40, 20, 20)
    assert second.rate == 10 / 0.5 and second.elapsed_s == 1.5
    quick, stuck = second.nodes
    assert (quick.outstanding, quick.rate) == (0, 20.0)
    assert (stuck.outstanding, stuck.rate) == (20, 0.0)
    assert sampler.histogram.total == 20  # the quick node's round trips
