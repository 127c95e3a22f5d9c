"""The same SUT nodes measured through our LoadGen and the official one agree within 5%.

The nodes are synthetic accelerators whose speed is set, so the SUT, not the machine's noise,
decides the numbers: a throughput cap for Offline, a service time for SingleStream.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from qdl._nodes import running_nodes, sut_server_command

from .conftest import ROOT

LON_RUN = [sys.executable, "-c", "import sys; from qdl._cli import main; sys.exit(main())"]
TOLERANCE = 0.05


@pytest.fixture(scope="module")
def nodes():
    pytest.importorskip("mlperf_loadgen")
    commands = [
        sut_server_command("synthetic", extra=("--name", "capped", "--max-qps", "1500")),
        sut_server_command("synthetic", extra=("--name", "slow", "--service-time-us", "20000")),
    ]
    with running_nodes(commands) as started:
        yield {n.name: n.address for n in started}


def measure(node, tmp_path, lg, scenario, *sets):
    argv = [*LON_RUN, "--nodes", node, "--scenario", scenario, "--synthetic", "64:uint8:256",
            "--output", str(tmp_path / lg), "--loadgen", lg]  # fmt: skip
    for item in sets:
        argv += ["--set", item]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def number(summary, label):
    match = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.]+)\s*$", summary, re.MULTILINE)
    assert match, f"{label!r} not in summary"
    return float(match.group(1))


def assert_close(ours, official, what):
    assert abs(ours - official) <= TOLERANCE * official, (
        f"{what}: ours {ours:g} vs official {official:g} "
        f"({100 * (ours - official) / official:+.1f}%)"
    )


def test_offline_throughput_agrees(nodes, tmp_path):
    sets = ("min_duration_ms=1500", "offline_expected_qps=1500")
    results = {lg: measure(nodes["capped"], tmp_path, lg, "Offline", *sets) for lg in LG_PAIR}
    ours, official = (number(results[lg], "Samples per second") for lg in LG_PAIR)
    assert 1300 <= official <= 1600  # the node's cap decides it
    assert_close(ours, official, "Offline samples/s")


def test_single_stream_latency_agrees(nodes, tmp_path):
    sets = ("min_duration_ms=1000", "min_query_count=40", "single_stream_expected_latency_ns=2e7")
    results = {lg: measure(nodes["slow"], tmp_path, lg, "SingleStream", *sets) for lg in LG_PAIR}
    for label in ("90.00 percentile latency (ns)", "50.00 percentile latency (ns)"):
        ours, official = (number(results[lg], label) for lg in LG_PAIR)
        assert 20e6 <= official <= 30e6  # 20 ms on the node plus the round trip
        assert_close(ours, official, f"SingleStream {label}")


LG_PAIR = ("ours", "official")
