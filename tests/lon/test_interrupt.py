"""Ctrl-C during a run: lon-run exits 130 and the logs say the run did not finish."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from tests.conftest import LOADGENS, LON_RUN, ROOT, need_loadgen
from tests.qdl.echo_node import FIRST_BATCH, echo_process


def _default_sigint() -> None:
    """As in a terminal: a test runner started in the background may ignore SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("lg", LOADGENS)
def test_an_interrupted_server_run_exits_130_and_its_summary_says_invalid(tmp_path, lg):
    need_loadgen(lg)
    out = tmp_path / "out"
    with echo_process("--name", "steady") as (node, address):
        argv = [
            *LON_RUN, "--nodes", address, "--scenario", "Server", "--synthetic", "16:uint8:64",
            "--output", str(out), "--set", "server_target_qps=50",
            "--set", "min_duration_ms=600000", "--loadgen", lg,
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        try:
            assert node.stdout.readline().strip() == FIRST_BATCH  # the run is under way
            time.sleep(0.5)  # some more queries issued and answered
            proc.send_signal(signal.SIGINT)
            stdout, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, stderr
    assert "lon-run: interrupted" in stderr
    assert "Traceback" not in stderr
    summary = (out / "mlperf_log_summary.txt").read_text()
    assert "Result is : INVALID" in summary
    assert "Run failed : Test interrupted (SIGINT)" in summary
    assert "Result is : VALID" not in summary
    assert "No errors encountered during test." not in summary
