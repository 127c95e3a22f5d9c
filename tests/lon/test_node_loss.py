"""lon-run --on-node-loss redispatch with real node processes: a node killed mid-run costs no
sample, and the loss is in the printout, the detail log and the node stats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading

import pytest

from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen
from tests.qdl.echo_node import echo_process


@pytest.mark.parametrize("lg", LOADGENS)
def test_a_node_killed_mid_run_is_redispatched_and_recorded(tmp_path, lg):
    need_loadgen(lg)
    out_dir = tmp_path / "out"
    with (
        echo_process("--name", "victim", "--delay", "0.05") as (victim, a),
        echo_process("--name", "survivor") as (_, b),
    ):
        argv = [
            *LON_RUN, "--nodes", f"{a},{b}", "--scenario", "Offline", "--output", str(out_dir),
            "--synthetic", "16:uint8:64", "--set", "min_duration_ms=5000",
            "--set", "offline_expected_qps=2000", "--loadgen", lg,
            "--on-node-loss", "redispatch", "--balance", "round-robin",
        ]  # fmt: skip
        run = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            announced = threading.Thread(target=victim.stdout.readline, daemon=True)
            announced.start()
            announced.join(60)
            assert not announced.is_alive(), "no samples reached the victim"
            os.kill(victim.pid, signal.SIGKILL)
            out, err = run.communicate(timeout=120)
        finally:
            if run.poll() is None:
                run.kill()
                run.communicate()
    assert run.returncode in FINISHED, err
    stats = json.loads((out_dir / "lon_node_stats.json").read_text())
    assert stats["failure"] is None
    assert stats["samples_completed"] == stats["samples_issued"]
    (loss,) = stats["node_losses"]
    assert loss["node"].startswith("victim at ") and loss["samples_resent"] > 0
    assert stats["samples_resent"] == loss["samples_resent"]
    assert f"node loss: node victim at {a} lost (" in out
    assert f"{loss['samples_resent']} samples it owed were re-sent" in out
    detail = (out_dir / "mlperf_log_detail.txt").read_text()
    assert '"warning_generic_message", "value": "node loss: node victim at' in detail


def test_the_default_sample_deadline_is_twenty_latency_bounds_and_at_least_ten_seconds():
    import loadgen
    from lon._node_loss import default_sample_timeout

    settings = loadgen.TestSettings()
    settings.server_target_latency_ns = 100_000_000
    assert default_sample_timeout("Server", settings) == 10.0
    settings.server_target_latency_ns = 2_000_000_000
    assert default_sample_timeout("Server", settings) == 40.0
    assert default_sample_timeout("Offline", settings) == 10.0
