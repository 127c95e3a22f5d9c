"""A power run that goes wrong ends with one line saying why, and places nothing in the tree:
a power server out of reach, a workload failing in ranging, an analyzer clock 2 s off, a
PTDaemon connection that drops. Real processes on loopback, as in the rehearsal."""

from __future__ import annotations

from pathlib import Path

import pytest

from lon._nodes import NodeProcess
from tests.conftest import free_port

from .conftest import start_power_server
from .sntp import SntpResponder
from .test_rehearsal import TREE, WORKLOAD, lon_power

pytestmark = pytest.mark.timeout(400)

# These sessions fail before any power figure is judged: runs of half a second do. Each still
# spans more than one sample interval (1 s): lon-run's start and end, the server's waits.
SHORT = tuple(
    "min_duration_ms=500" if item == "min_duration_ms=3000" else item for item in WORKLOAD
)
assert SHORT != WORKLOAD


def short_workload(nodes: list[NodeProcess]) -> tuple[str, ...]:
    return ("--", "--nodes", ",".join(node.address for node in nodes), *SHORT)


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lon-power: error: "), stderr
    return lines[0]


def run_against_server(
    tmp_path: Path, env: dict[str, str], ntp: SntpResponder, model: str, lon_run: tuple[str, ...]
) -> tuple[int, str, Path]:
    # The server's debug mode waits 0.5 s for the analyzer where it waits 10 s otherwise; a
    # session in that mode is never a result, which these failing sessions are not either.
    server = start_power_server(tmp_path, {**env, "MLPP_DEBUG": "1"}, ntp.address, model)
    root = tmp_path / "submission"
    try:
        done = lon_power(
            "run", tmp_path, env, ntp.address, server.port,
            "--submission-dir", str(root), *TREE, *lon_run,
        )  # fmt: skip
    finally:
        server.stop()
    return done.returncode, done.stderr, root


def test_a_server_out_of_reach(tmp_path: Path, power_env: dict[str, str]) -> None:
    root = tmp_path / "submission"
    done = lon_power(
        "run", tmp_path, power_env, "127.0.0.1", free_port(),
        "--submission-dir", str(root), *TREE, "--", "--nodes", "127.0.0.1:1", *WORKLOAD,
    )  # fmt: skip
    assert done.returncode == 3
    assert "Could not connect to the server 127.0.0.1" in one_error_line(done.stderr)
    assert not root.exists()


def test_a_workload_failing_in_ranging(
    tmp_path: Path, power_env: dict[str, str], ntp: SntpResponder
) -> None:
    nowhere = ("--", "--nodes", f"127.0.0.1:{free_port()}", *WORKLOAD)
    code, stderr, root = run_against_server(tmp_path, power_env, ntp, "watts=350", nowhere)
    assert code == 3
    assert "the workload failed in the ranging run (lon-run exit status" in one_error_line(stderr)
    assert not root.exists()


def test_an_analyzer_clock_2_s_off(
    tmp_path: Path, power_env: dict[str, str], ntp: SntpResponder, echo_pair: list[NodeProcess]
) -> None:
    model = "watts=350,skew=2"
    code, stderr, root = run_against_server(
        tmp_path, power_env, ntp, model, short_workload(echo_pair)
    )
    assert code == 3
    line = one_error_line(stderr)
    assert "the analyzer's clock is off the power server's" in line
    assert not root.exists()


def test_a_ptdaemon_connection_dropping(
    tmp_path: Path, power_env: dict[str, str], ntp: SntpResponder, echo_pair: list[NodeProcess]
) -> None:
    model = "watts=350,drop=Stop"
    code, stderr, root = run_against_server(
        tmp_path, power_env, ntp, model, short_workload(echo_pair)
    )
    assert code == 3
    assert "The server is disconnected" in one_error_line(stderr)
    assert not root.exists()


def test_a_clock_2_s_off_the_ntp_server_is_never_set(
    tmp_path: Path, power_env: dict[str, str], ntp: SntpResponder
) -> None:
    server = start_power_server(tmp_path, power_env, ntp.address)
    ntp.skew_s = 2.0  # from now on this machine looks 2 s off; power-dev tries ntpdate (a shim)
    root = tmp_path / "submission"
    try:
        done = lon_power(
            "run", tmp_path, power_env, ntp.address, server.port,
            "--submission-dir", str(root), *TREE, "--", "--nodes", "127.0.0.1:1", *WORKLOAD,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 3
    line = one_error_line(done.stderr)
    assert f"this machine's clock is -2.0 s off the NTP server {ntp.address}" in line
    client_log = (tmp_path / "work" / "power_client.log").read_text()
    assert "test shim: not running ntpdate -b -- " + ntp.address in client_log
    assert not root.exists()
