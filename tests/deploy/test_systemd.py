"""deploy/systemd: systemd itself checks the unit (where systemd-analyze is installed), and the
unit's own commands, expanded from its environment file as systemd would, start a node that
reports SERVING and stops gracefully on SIGTERM within the unit's stop timeout."""

from __future__ import annotations

import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests import onnx_model
from tests.conftest import ROOT, free_port

from . import unit_file

SYSTEMD = ROOT / "deploy" / "systemd"
UNIT = SYSTEMD / "sut-server@.service"
ENV_EXAMPLE = SYSTEMD / "sut-server.env.example"
INSTALLED_BIN = "/opt/lon/venv/bin/"  # where the unit expects the project's virtual env
MAX_EXPOSURE = 3.0  # systemd-analyze security: 0 (locked down) .. 10 (unprotected)


def unit_here(tmp_path: Path) -> Path:
    """The unit, with this checkout's virtual env where the installed one would be."""
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_BIN, str(Path(sys.executable).parent) + "/"))
    return copy


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return found


def test_systemd_verifies_the_unit(tmp_path):
    proc = subprocess.run(
        [systemd_analyze(), "verify", "--man=no", str(unit_here(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


def test_systemd_rates_the_unit_hardened(tmp_path):
    proc = subprocess.run(
        [systemd_analyze(), "security", "--offline=yes", "--no-pager", str(unit_here(tmp_path))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    assert float(match.group(1)) <= MAX_EXPOSURE


def test_the_unit_stops_after_the_grace_period_not_before():
    service = unit_file.read_unit(UNIT)["Service"]
    env = unit_file.environment(service, {})
    (stop_timeout,) = unit_file.values(service, "TimeoutStopSec")
    for grace in (env["SUT_GRACE"], unit_file.read_env_file(ENV_EXAMPLE)["SUT_GRACE"]):
        assert float(grace) + 5 <= float(stop_timeout)
    assert unit_file.values(service, "KillSignal") == ["SIGTERM"]
    assert unit_file.values(service, "ExecReload") == []
    assert unit_file.values(service, "User") == ["lon"]
    sysusers = (SYSTEMD / "lon.sysusers").read_text().split("\n")
    assert any(line.split()[:2] == ["u", "lon"] for line in sysusers if line.strip())


def test_the_units_commands_with_the_example_env_file_serve_and_stop_gracefully(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = onnx_model.build(tmp_path / "model.onnx")
    env_file = tmp_path / "sut-server.env"
    env_file.write_text(ENV_EXAMPLE.read_text().replace("/var/lib/lon/model.onnx", str(model)))
    port = str(free_port())
    unit = unit_file.read_unit(unit_here(tmp_path))
    service = unit["Service"]
    env = unit_file.environment(service, {"/etc/lon/sut-server.env": env_file})
    env["SUT_LISTEN_HOST"] = "127.0.0.1"  # tests listen on loopback only
    host = socket.gethostname()

    def argv(key: str) -> list[str]:
        (line,) = unit_file.values(service, key)
        return unit_file.command(unit_file.specifiers(line, port, host), env)

    start, post = argv("ExecStart"), argv("ExecStartPost")
    assert "--max-batch" in start and "model=" + str(model) in start  # SUT_ARGS was split
    node = subprocess.Popen(start, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        probe = subprocess.run(post, capture_output=True, text=True, timeout=60)
        assert (probe.returncode, probe.stdout) == (0, f"127.0.0.1:{port}: SERVING\n"), probe
        (stop_timeout,) = unit_file.values(service, "TimeoutStopSec")
        node.send_signal(signal.SIGTERM)
        out, err = node.communicate(timeout=float(stop_timeout))
    finally:
        if node.poll() is None:
            node.kill()
            node.communicate()
    assert node.returncode == 0, err
    assert f"ready: name={host}-{port} listen=127.0.0.1:{port} backend=onnx" in out
    assert f"stopping {host}-{port} (grace 10 s)" in err
    after = subprocess.run(
        [*post[:4], "--timeout", "0.5"], capture_output=True, text=True, timeout=30
    )
    assert after.returncode == 1  # nobody serves there any more
