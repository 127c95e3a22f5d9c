"""The node launcher and ``python -m lon.demo`` (with echo nodes standing in for sut-server)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import pytest

from lon._nodes import running_nodes, start_node, sut_server_command
from qdl._exceptions import NodeProcessError
from tests.conftest import LOADGENS, ROOT, need_loadgen

ECHO = "tests.qdl.echo_node"


def refuses(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def test_nodes_start_on_port_0_report_their_address_and_stop(monkeypatch):
    monkeypatch.chdir(ROOT)
    commands = [sut_server_command("echo", module=ECHO) for _ in range(2)]
    with running_nodes(commands, ready_timeout=60) as nodes:
        assert len(nodes) == 2
        addresses = [n.address for n in nodes]
        assert len(set(addresses)) == 2
        assert all(re.fullmatch(r"127\.0\.0\.1:[0-9]+", a) for a in addresses)
        assert all(not refuses(a) for a in addresses)
        assert [n.backend for n in nodes] == ["echo", "echo"]
    assert all(n.process.returncode is not None for n in nodes)
    assert all(refuses(a) for a in addresses)


def test_a_node_that_dies_before_ready_is_reported_with_its_output():
    argv = [
        sys.executable,
        "-c",
        "import sys; print('boom: bad backend', file=sys.stderr); sys.exit(3)",
    ]
    with pytest.raises(
        NodeProcessError, match="exited with code 3 before it was ready.*boom: bad backend"
    ):
        start_node(argv, ready_timeout=60)


def test_a_node_that_never_says_ready_times_out():
    argv = [sys.executable, "-c", "import time; print('starting', flush=True); time.sleep(30)"]
    with pytest.raises(NodeProcessError, match="did not report ready within 0.5 s.*starting"):
        start_node(argv, ready_timeout=0.5)


@pytest.mark.parametrize("lg", LOADGENS)
def test_the_demo_runs_offline_server_and_llm_and_stops_its_nodes(tmp_path, lg):
    need_loadgen(lg)
    proc = subprocess.run(
        [sys.executable, "-m", "lon.demo", "--node-module", ECHO, "--quick",
         "--loadgen", lg, "--output", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.index("Scenario : Offline") < out.index("Scenario : Server")
    assert out.count("SUT name : Network SUT: 2 node(s)") == 3
    assert f"logs are in {tmp_path}/offline, {tmp_path}/server and {tmp_path}/llm" in out
    # the LLM run: real sut-server nodes in front of reference engines, token latencies on
    assert out.count("Scenario : Server") == 2
    assert "tokens: TTFT p99" in out
    for scenario in ("offline", "server", "llm"):
        assert (tmp_path / scenario / "mlperf_log_summary.txt").is_file()
        assert (tmp_path / scenario / "lon_node_stats.json").is_file()
    addresses = re.findall(r"node \S+ at (127\.0\.0\.1:[0-9]+)", out)
    assert len(addresses) == 2 and all(refuses(a) for a in addresses)
