"""sut-server --metrics-port: Prometheus metrics scraped over HTTP while a run goes, and after
it, agreeing with what the QDL counted on its side of the wire."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
import urllib.request

import pytest

from lon._nodes import running_nodes, sut_server_command
from lon._run import parse_options, run
from tests.conftest import FINISHED, free_port

parser = pytest.importorskip("prometheus_client.parser")


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    values = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return values


def value(values, name, **labels):
    return values[(name, tuple(sorted(labels.items())))]


def test_metrics_are_scraped_during_and_after_a_run(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    command = sut_server_command(
        "synthetic",
        extra=("--name", "metered", "--service-time-us", "500", "--metrics-port", str(port)),
    )
    during = []
    with running_nodes([command]) as (node,):
        done = threading.Event()

        def watch():
            while not done.is_set():
                values = scrape(url)
                if value(values, "lon_node_streams_open") == 1:
                    during.append(values)
                done.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            code = run(
                parse_options(
                    [
                        "--nodes",
                        node.address,
                        "--scenario",
                        "Server",
                        "--synthetic",
                        "8:uint8:16",
                        "--set",
                        "server_target_qps=200",
                        "--set",
                        "min_duration_ms=500",
                        "--set",
                        "min_query_count=50",
                        "--output",
                        str(tmp_path / "out"),
                        "--audit-config",
                        "none",
                        "--quiet",
                    ]
                ),  # fmt: skip
                io.StringIO(),
                io.StringIO(),
            )
        finally:
            done.set()
            watcher.join()
        after = scrape(url)
    assert code in FINISHED
    assert during, "no scrape saw the run's stream open"
    assert value(during[-1], "lon_node_samples_received_total") > 0
    (stats,) = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())["nodes"]
    samples = stats["samples"]
    (info,) = [dict(k[1]) for k in after if k[0] == "lon_node_info"]
    assert info["name"] == "metered" and info["backend"] == "synthetic" and info["version"]
    assert value(after, "lon_node_samples_answered_total") == samples
    assert value(after, "lon_node_samples_received_total") == samples
    assert value(after, "lon_node_samples_failed_total") == 0
    assert value(after, "lon_node_streams_open") == 0 and value(after, "lon_node_queue_depth") == 0
    assert value(after, "lon_node_in_flight_samples") == 0
    # Both ends count the same gRPC messages.
    assert value(after, "lon_node_bytes_received_total") == stats["bytes_sent"]
    assert value(after, "lon_node_bytes_sent_total") == stats["bytes_received"]
    for stage in ("queueing", "decompression", "compute", "sending", "node"):
        assert value(after, "lon_node_stage_seconds_count", stage=stage) == samples
        assert value(after, "lon_node_stage_seconds_bucket", stage=stage, le="+Inf") == samples
    # 500 us of service time per sample: no sample's compute is in the buckets below 250 us.
    assert value(after, "lon_node_stage_seconds_bucket", stage="compute", le="0.00025") == 0


def test_a_bad_metrics_port_is_one_line_and_exit_2():
    proc = subprocess.run(
        [sys.executable, "-m", "sut_server", "--listen", "127.0.0.1:0", "--metrics-port", "70000"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip() == "sut-server: error: --metrics-port must be 0..65535, not 70000"
