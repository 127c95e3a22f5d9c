"""The power rehearsal's pieces on loopback: power-dev's server with the stand-in, the NTP
responder, shims that keep every clock as it is, two echo nodes.

power-dev runs unmodified from ``MLPERF_POWER_DEV_DIR`` (else beside ``MLPERF_INFERENCE_DIR``,
as the project's shared copies are); without it the tests skip. Python writes no bytecode
there. ``ntpdate`` and ``sudo`` on the PATH the power processes see are shims that only say
they were asked: power-dev sets the clock with them when a check fails, and tests never may.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lon._nodes import NodeProcess, running_nodes, sut_server_command
from tests.conftest import ROOT, free_port

from .sntp import SntpResponder

POWER_DEV_ENV = "MLPERF_POWER_DEV_DIR"
READY = "Ready to accept connections"
READY_TIMEOUT_S = 60  # bounds against hanging: the server syncs and tries the stand-in first
SHIM = '#!/bin/sh\necho "test shim: not running {name} $*" >&2\nexit 1\n'


def power_dev_dir() -> Path:
    """power-dev's checkout; skips the test when there is none."""
    value = os.environ.get(POWER_DEV_ENV)
    if not value and os.environ.get("MLPERF_INFERENCE_DIR"):
        value = str(Path(os.environ["MLPERF_INFERENCE_DIR"]).parent / "mlcommons-power-dev")
    if not value or not (Path(value) / "ptd_client_server" / "server.py").is_file():
        pytest.skip(f"no power-dev checkout ({POWER_DEV_ENV}={value or 'unset'})")
    return Path(value).resolve()


@pytest.fixture
def power_env(tmp_path: Path) -> dict[str, str]:
    """The environment of every power process: shims first, this venv's commands next."""
    shims = tmp_path / "shims"
    shims.mkdir()
    for name in ("ntpdate", "sudo"):
        (shims / name).write_text(SHIM.format(name=name))
        (shims / name).chmod(0o755)
    path = os.pathsep.join([str(shims), str(Path(sys.executable).parent), os.environ["PATH"]])
    return {**os.environ, "PATH": path, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def ntp() -> Iterator[SntpResponder]:
    """The NTP responder on a loopback address of its own, port 123; skips if it cannot bind."""
    host = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.1"
    try:
        responder = SntpResponder(host)
    except OSError as exc:
        pytest.skip(f"cannot bind the NTP responder to {host}:123 ({exc.strerror})")
    with responder:
        yield responder


@pytest.fixture(scope="module")
def echo_pair() -> Iterator[list[NodeProcess]]:
    """Two real sut-server nodes (echo backend) on loopback."""
    with running_nodes([sut_server_command("echo")] * 2) as nodes:
        yield nodes


@dataclass
class MeteredNodes:
    """Nodes that serve sut-server's metrics, and the pages' URLs."""

    nodes: list[NodeProcess]
    metrics: list[str]


@pytest.fixture(scope="module")
def metered_pair() -> Iterator[MeteredNodes]:
    """Two echo nodes with ``--metrics-port``, for a stand-in model that follows the load."""
    ports = [free_port(), free_port()]
    commands = [sut_server_command("echo", extra=("--metrics-port", str(p))) for p in ports]
    with running_nodes(commands) as nodes:
        yield MeteredNodes(nodes, [f"http://127.0.0.1:{p}/metrics" for p in ports])


def standin_exe(tmp_path: Path) -> str:
    """An executable that starts the stand-in (the server's ``ptd`` is one path, no args)."""
    exe = tmp_path / "lon-ptd-standin"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m lon.ptd_standin "$@"\n')
    exe.chmod(0o755)
    return str(exe)


@dataclass
class PowerServer:
    """A running power-dev server: its address, port and log."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_power_server(
    tmp_path: Path, env: dict[str, str], ntp_host: str, *models: str
) -> PowerServer:
    """server.py with one stand-in per model as its PTDaemons (device type 0, the model as
    the device port); one analyzer drawing 350 W without ``models``."""
    port = free_port()
    analyzers = "".join(
        f"[analyzer{i}]\nnetworkPort: {free_port()}\ndeviceType: 0\ninterfaceFlag:\n"
        f"devicePort: {model}\n\n"
        for i, model in enumerate(models or ("watts=350",), start=1)
    )
    conf = tmp_path / "server.conf"
    conf.write_text(
        f"[server]\nntpServer: {ntp_host}\nlisten: 127.0.0.1 {port}\n\n"
        f"[ptd]\nptd: {standin_exe(tmp_path)}\nanalyzerCount: {len(models or ('',))}\n\n"
        + analyzers
    )
    log = tmp_path / "server.log"
    script = power_dev_dir() / "ptd_client_server" / "server.py"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script), "-c", str(conf)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp_path,
        )
    server = PowerServer(port, log, process)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while READY not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise AssertionError(f"power server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    return server
