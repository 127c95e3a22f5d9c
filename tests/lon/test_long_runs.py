"""Runs that outlast every fixed timeout end right: Flush is a hint, never a deadline.

The LoadGen calls flush_queries right after issuing an Offline run's one query, and the answer
to that query takes as long as the whole run. These runs are many times longer than the QDL's
Flush timeout, as a 600 s submission run is many times longer than the 10 s default.
"""

from __future__ import annotations

import dataclasses
import io

import pytest

import loadgen
from lon._nodes import running_nodes, sut_server_command
from lon._run import EXIT_OK, parse_options, run
from qdl import DispatchConfig, QueryDispatchLibrary, SyntheticQSL, SyntheticSpec, Timeouts
from qdl._binding import make_binding
from tests.qdl.echo_node import EchoNode, serve

SHORT = Timeouts(flush=0.2, response=30.0)
"""A Flush timeout far shorter than the runs below (as 10 s is against 600 s)."""


@pytest.fixture(scope="module")
def slow_node():
    """A node that completes at most 200 samples/s, so a run's length is set by the node."""
    command = sut_server_command("synthetic", extra=("--name", "slow", "--max-qps", "200"))
    with running_nodes([command]) as (node,):
        yield node.address


def test_an_offline_run_many_times_the_flush_timeout_is_valid(slow_node, tmp_path):
    # 220 samples at 200/s: the one Offline query is answered over >= 1.1 s, five times the
    # Flush timeout; the node owes answers all that time and keeps making progress.
    options = parse_options(
        [
            "--nodes",
            slow_node,
            "--scenario",
            "Offline",
            "--synthetic",
            "16:uint8:64",
            "--output",
            str(tmp_path),
            "--set",
            "offline_expected_qps=200",
            "--set",
            "min_duration_ms=1000",
        ]  # fmt: skip
    )
    out, err = io.StringIO(), io.StringIO()
    code = run(dataclasses.replace(options, timeouts=SHORT), out, err)
    assert err.getvalue() == ""
    assert code == EXIT_OK
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Result is : VALID" in summary
    assert "No errors encountered during test." in summary


def test_a_node_that_holds_flush_past_its_timeout_does_not_fail_the_run(tmp_path):
    # A node of the older contract holds Flush until its work is done; the Flush call then
    # times out, which must cost nothing: the node is answering, the run is making progress.
    node = EchoNode("holds-flush", delay_s=0.6, flush_delay_s=1.0)
    qsl = SyntheticQSL(SyntheticSpec((16,), "uint8", 64))
    binding = make_binding("ours")
    settings = loadgen.TestSettings()
    settings.scenario = loadgen.TestScenario.Offline
    settings.mode = loadgen.TestMode.PerformanceOnly
    settings.offline_expected_qps = 100
    settings.min_duration_ms = 500
    log = loadgen.LogSettings()
    log.log_output.outdir = str(tmp_path)
    with serve(node) as address:
        qdl = QueryDispatchLibrary.over_grpc(
            [address], qsl, binding, DispatchConfig(timeouts=SHORT)
        )
        with qdl:
            report = binding.run(qdl, qsl, settings, log)
            flush_errors = qdl.flush_errors
    assert node.flushes == 1
    assert report.aborted is None
    assert report.validity == "VALID"
    assert len(flush_errors) == 1 and "Flush not answered within 0.2 s" in flush_errors[0]
