"""The same SUT nodes measured through our LoadGen and the official one: the runs agree.

Both LoadGens must plan the same run from the same settings (query counts, samples per query,
the effective settings they log) and judge it the same way (VALID), and both measure what the
node does (no latency below its service time, no throughput above its cap). How close the two
measured numbers come is a timing comparison of two separate runs, which a busy machine
disturbs: ``benchmarks/loadgens_compared.py`` measures it (goal: within 5%).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lon._nodes import running_nodes, sut_server_command
from tests.conftest import LOADGENS, LON_RUN, ROOT

RUN_TIMEOUT_S = 300  # a bound against hanging, not a speed test
SERVICE_TIME_NS = 20_000_000
MAX_QPS = 1500


@pytest.fixture(scope="module")
def nodes():
    pytest.importorskip("mlperf_loadgen")
    commands = [
        sut_server_command("synthetic", extra=("--name", "capped", "--max-qps", str(MAX_QPS))),
        sut_server_command(
            "synthetic",
            extra=("--name", "slow", "--service-time-us", str(SERVICE_TIME_NS // 1000)),
        ),
    ]
    with running_nodes(commands) as started:
        yield {n.name: n.address for n in started}


def measure(node, tmp_path, lg, scenario, *sets) -> tuple[str, dict[str, object]]:
    """One lon-run: its stdout (the summary) and the detail log's first value of every key."""
    out = tmp_path / lg
    argv = [*LON_RUN, "--nodes", node, "--scenario", scenario, "--synthetic", "64:uint8:256",
            "--output", str(out), "--loadgen", lg]  # fmt: skip
    for item in sets:
        argv += ["--set", item]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, detail_values(out / "mlperf_log_detail.txt")


def detail_values(path: Path) -> dict[str, object]:
    values: dict[str, object] = {}
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG"):
            entry = json.loads(line[len(":::MLLOG") :])
            values.setdefault(entry["key"], entry["value"])
    return values


def number(summary, label):
    match = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.]+)\s*$", summary, re.MULTILINE)
    assert match, f"{label!r} not in summary"
    return float(match.group(1))


PLANNED = ("generated_query_count", "generated_samples_per_query", "qsl_reported_total_count",
           "qsl_reported_performance_count")  # fmt: skip


def assert_same_plan(details: dict[str, dict[str, object]]) -> None:
    """Both LoadGens planned the same run and found it VALID."""
    ours, official = (details[lg] for lg in LOADGENS)
    for key in PLANNED:
        assert ours[key] == official[key], (key, ours[key], official[key])
    effective = sorted(k for k in official if k.startswith("effective_"))
    assert effective and [k for k in sorted(ours) if k.startswith("effective_")] == effective
    for key in effective:
        assert ours[key] == official[key], (key, ours[key], official[key])
    for lg in LOADGENS:
        assert details[lg]["result_validity"] == "VALID", lg


def test_offline_runs_agree_and_are_capped_by_the_node(nodes, tmp_path):
    sets = ("min_duration_ms=1500", "offline_expected_qps=1500")
    runs = {lg: measure(nodes["capped"], tmp_path, lg, "Offline", *sets) for lg in LOADGENS}
    assert_same_plan({lg: runs[lg][1] for lg in LOADGENS})
    for lg in LOADGENS:
        summary, details = runs[lg]
        assert details["result_query_count"] == 1, lg  # Offline: one query of every sample
        assert 0 < number(summary, "Samples per second") <= MAX_QPS * 16 / 15, lg  # the cap


def test_single_stream_runs_agree_and_include_the_service_time(nodes, tmp_path):
    # 64 queries at least: early stopping needs them for a VALID result, however slow the node.
    sets = ("min_duration_ms=500", "min_query_count=64", "single_stream_expected_latency_ns=2e7")
    runs = {lg: measure(nodes["slow"], tmp_path, lg, "SingleStream", *sets) for lg in LOADGENS}
    assert_same_plan({lg: runs[lg][1] for lg in LOADGENS})
    for lg in LOADGENS:
        summary, details = runs[lg]
        assert details["result_query_count"] >= 64, lg
        for label in ("90.00 percentile latency (ns)", "50.00 percentile latency (ns)"):
            assert number(summary, label) >= SERVICE_TIME_NS, (lg, label)  # 20 ms on the node
