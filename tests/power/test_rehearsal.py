"""The rehearsal end to end: power-dev's server and client, unmodified, with the stand-in as
PTDaemon and lon-run over two real nodes as the workload, through ranging and testing; then
the official power checker on the result, which passes everything but the analyzer's identity.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from lon._nodes import NodeProcess
from lon._power import SESSION_FILES, ClientPlan, run_client
from tests.conftest import oracle_dir

from .conftest import power_dev_dir, start_power_server
from .sntp import SntpResponder

pytestmark = pytest.mark.timeout(400)  # the server waits 10 s around each of its 4 phases

WORKLOAD = (
    "--scenario", "SingleStream", "--model", "resnet50", "--synthetic", "8x8x3:uint8:64",
    "--set", "min_duration_ms=3000", "--set", "min_query_count=16",
    "--set", "single_stream_expected_latency_ns=200000",
)  # fmt: skip
IDENTITY_CHECKS = {"Check PTD commands and replies", "Check PTD configuration"}


def plan(tmp_path: Path, nodes: list[NodeProcess], ntp: str, port: int) -> ClientPlan:
    addresses = ",".join(node.address for node in nodes)
    return ClientPlan(
        power_dev=str(power_dev_dir()),
        server="127.0.0.1",
        port=port,
        ntp=ntp,
        logs_dir=str(tmp_path / "logs"),
        out_dir=str(tmp_path / "out"),
        lon_run_args=("--nodes", addresses, *WORKLOAD),
    )


def power_checker(session: str) -> tuple[set[str], set[str], str]:
    """The official power checker's passed and failed check names, and its output."""
    script = oracle_dir() / "tools" / "submission" / "power" / "power_checker.py"
    done = subprocess.run(
        [sys.executable, "-B", str(script), session], capture_output=True, text=True
    )
    passed = set(re.findall(r"\[x\] (.+)", done.stderr))
    failed = set(re.findall(r"\[ \] (.+)", done.stderr))
    return passed, failed, done.stderr


def test_rehearsal_passes_the_power_checker_but_for_the_analyzer(
    tmp_path: Path,
    power_env: dict[str, str],
    ntp: SntpResponder,
    echo_pair: list[NodeProcess],
) -> None:
    server = start_power_server(tmp_path, power_env, ntp.address)
    try:
        session = run_client(
            plan(tmp_path, echo_pair, ntp.address, server.port),
            str(tmp_path / "client.log"),
            env=power_env,
        )
    finally:
        server.stop()
    for path in SESSION_FILES:
        assert (Path(session) / path).is_file(), path
    ptd_log = (Path(session) / "power" / "ptd_logs.txt").read_text()
    assert "SIMULATOR" in ptd_log
    passed, failed, output = power_checker(session)
    assert failed == IDENTITY_CHECKS, output
    assert "Check time difference" in passed and "Check results checksum" in passed, output
    assert "PTD version 'simulator' is not supported" in output
    assert "Device number 0 is not supported" in output
