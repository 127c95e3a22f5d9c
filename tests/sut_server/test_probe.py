"""python -m sut_server.probe: one line and exit 0 only for a node that serves."""

from __future__ import annotations

import subprocess
import sys

from sut_server import probe
from tests.conftest import ROOT, free_port


def test_a_serving_node_is_0_and_one_line(start_node, capsys):
    client = start_node(backend="echo")
    address = f"127.0.0.1:{client.node.port}"
    assert probe.main([address]) == 0
    assert capsys.readouterr().out == f"{address}: SERVING\n"
    assert probe.main([address, "--service", "no.such.Service"]) == 1
    assert capsys.readouterr().out.startswith(f"{address}: NOT_FOUND")


def test_a_draining_node_is_not_serving(start_node, capsys):
    client = start_node(backend="echo")
    address = f"127.0.0.1:{client.node.port}"
    client.node._health.enter_graceful_shutdown()  # what stop() does first
    assert probe.main([address]) == 1
    assert capsys.readouterr().out == f"{address}: NOT_SERVING\n"


def test_nobody_there_is_1_after_waiting_and_bad_flags_are_2():
    address = f"127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [sys.executable, "-m", "sut_server.probe", address, "--timeout", "0.2", "--wait", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stdout.startswith(f"{address}: UNAVAILABLE")
    bad = subprocess.run(
        [sys.executable, "-m", "sut_server.probe", address, "--timeout", "0"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
