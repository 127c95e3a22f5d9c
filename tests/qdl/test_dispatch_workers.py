"""Dispatch workers: the QDL's gRPC work in processes of its own, against real nodes.

Every sample issued is completed exactly once whatever the mix of nodes; a worker that dies
ends the run naming it (or, under "redispatch", its nodes' samples go to the others); and a
lon-run killed with SIGKILL leaves no worker process and no shared memory behind.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import loadgen
from lon._run import parse_options, run
from qdl import (
    DispatchConfig,
    QueryDispatchLibrary,
    StreamBroken,
    SyntheticQSL,
    SyntheticSpec,
    TlsConfig,
    make_binding,
)
from sut_server import NodeConfig, run_server
from tests.certificates import make_certificates
from tests.conftest import LON_RUN, ROOT, need_loadgen

from .conftest import loaded_qsl, queries


def _processes_named(marker: str) -> dict[int, int]:
    """{pid: parent pid} of the live processes whose command line holds ``marker``."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[1].split()
        if marker.encode() in cmdline and state[0] != "Z":
            found[int(entry)] = int(state[1])
    return found


def _ring_inodes(pids: list[int] | None = None) -> set[int]:
    """The inodes of the dispatch rings mapped by ``pids`` (by every process when None)."""
    inodes = set()
    for entry in [str(p) for p in pids] if pids is not None else os.listdir("/proc"):
        if entry.isdigit():
            try:
                maps = Path(f"/proc/{entry}/maps").read_text().splitlines()
            except OSError:
                continue
            inodes |= {int(line.split()[4]) for line in maps if "qdl-ring" in line}
    return inodes


def _wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_every_sample_completes_once_through_two_workers(echo_nodes, recording):
    nodes = echo_nodes(3)
    qsl = loaded_qsl(count=16)
    config = DispatchConfig(dispatch_workers=2)
    batches = queries([[i % 16] for i in range(200)] + [list(range(16))] * 5)
    qdl = QueryDispatchLibrary.over_grpc([a for _, a in nodes], qsl, recording, config)
    with qdl:
        assert qdl.workers is not None and qdl.workers.workers == 2
        pids = qdl.workers.pids()
        assert all(_processes_named("qdl.workers._worker").get(p) == os.getpid() for p in pids)
        for q in batches:
            qdl.issue_query(q)
        recording.wait_for(280)
        stats = qdl.statistics()
        reports = qdl.node_reports()
        assert qdl.failure is None
    assert recording.completed_ids() == {s.id: 1 for q in batches for s in q}
    index_of = {s.id: s.index for q in batches for s in q}
    for rid, payload, _ in recording.completions:
        assert payload == qsl.encoded(index_of[rid]).payload
    assert sum(n.transport.messages_sent for n in stats.nodes) > 0
    assert all(n.counters.samples_answered > 0 for n in stats.nodes)  # both workers used
    assert all(n.transport.results_per_message for n in stats.nodes)  # counted as parsed
    assert all(r["timing_ms"]["round_trip"] is not None for r in reports)
    assert not any(t._unsent for t in qdl.workers.transports)  # every send stamp came back
    delays = qdl.workers.ring_delays()
    assert delays.count > 0 and 0 < delays.p50 <= delays.p99
    assert _wait_until(lambda: not set(pids) & set(_processes_named("qdl.workers._worker")))


def test_our_loadgen_runs_offline_over_columnar_and_classic_nodes(echo_nodes, tmp_path):
    """A sut-server node reads columns, the echo node does not: both through one worker."""
    columnar = run_server(NodeConfig(name="columnar", grace_s=1.0))
    try:
        ((classic, classic_address),) = echo_nodes(1, name="classic")
        addresses = [f"127.0.0.1:{columnar.port}", classic_address]
        qsl = SyntheticQSL(SyntheticSpec((64,), "uint8", 512))
        binding = make_binding("ours")
        config = DispatchConfig(dispatch_workers=1, balance="round-robin")
        settings = loadgen.TestSettings()
        settings.scenario = loadgen.TestScenario.Offline
        settings.mode = loadgen.TestMode.PerformanceOnly
        settings.offline_expected_qps = 2000
        settings.min_duration_ms = 200
        settings.min_query_count = 1
        log = loadgen.LogSettings()
        log.log_output.outdir = str(tmp_path)
        with QueryDispatchLibrary.over_grpc(addresses, qsl, binding, config) as qdl:
            report = binding.run(qdl, qsl, settings, log)
            reports = qdl.node_reports()
            stats = qdl.statistics()
    finally:
        columnar.stop(1.0)
    assert report.aborted is None and report.finished
    assert stats.samples_completed == stats.samples_issued > 0
    assert [r["wire"] for r in reports] == ["columnar", "classic"]
    assert classic.batches and all(not b.columns for b in classic.batches)


def test_a_killed_worker_ends_the_run_naming_it(echo_nodes, recording):
    ((node, address),) = echo_nodes(1)
    node.hold.set()  # samples stay outstanding on the node
    qsl = loaded_qsl(count=8)
    with QueryDispatchLibrary.over_grpc(
        [address], qsl, recording, DispatchConfig(dispatch_workers=1)
    ) as qdl:
        assert qdl.workers is not None
        (pid,) = qdl.workers.pids()
        batch = queries([[1, 2, 3]])[0]
        qdl.issue_query(batch)
        assert _wait_until(lambda: bool(node.batches))
        os.kill(pid, signal.SIGKILL)
        recording.wait_for(3)
        failure = qdl.failure
    assert isinstance(failure, StreamBroken), failure
    assert f"dispatch worker 0 (pid {pid}) was killed (SIGKILL)" in str(failure)
    assert address in str(failure) and failure.node == address
    assert recording.completed_ids() == {s.id: 1 for s in batch}
    assert len(recording.aborts) == 1


def test_a_killed_workers_samples_go_to_the_other_workers_nodes(echo_nodes, recording):
    (lost, lost_address), (kept, kept_address) = echo_nodes(2)
    lost.hold.set()
    qsl = loaded_qsl(count=8)
    config = DispatchConfig(dispatch_workers=2, on_node_loss="redispatch", balance="round-robin")
    with QueryDispatchLibrary.over_grpc(
        [lost_address, kept_address], qsl, recording, config
    ) as qdl:
        assert qdl.workers is not None
        pid = qdl.workers.pids()[qdl.workers.worker_of(0)]
        batch = queries([[i] for i in range(8)])
        for q in batch:
            qdl.issue_query(q)
        assert _wait_until(lambda: bool(lost.batches))
        os.kill(pid, signal.SIGKILL)
        recording.wait_for(8)
        assert qdl.failure is None
        losses = list(qdl.losses)
    assert recording.completed_ids() == {q[0].id: 1 for q in batch}
    index_of = {q[0].id: q[0].index for q in batch}
    for rid, payload, _ in recording.completions:
        assert payload == qsl.encoded(index_of[rid]).payload  # answered, not aborted
    assert len(losses) == 1 and "dispatch worker" in losses[0].reason


def test_mutual_tls_through_a_worker(tmp_path):
    certs = make_certificates(tmp_path)
    node = run_server(
        NodeConfig(
            name="secure",
            tls_cert=certs.node_cert,
            tls_key=certs.node_key,
            tls_client_ca=certs.ca,
            grace_s=1.0,
        )
    )
    try:
        argv = [
            "--nodes", f"127.0.0.1:{node.port}", "--scenario", "SingleStream",
            "--synthetic", "8:uint8:16", "--output", str(tmp_path / "out"),
            "--set", "min_duration_ms=200", "--set", "min_query_count=20",
            "--tls-ca", certs.ca, "--tls-cert", certs.client_cert,
            "--tls-key", certs.client_key, "--dispatch-workers", "1",
        ]  # fmt: skip
        out, err = io.StringIO(), io.StringIO()
        code = run(parse_options(argv), out, err)
        without = TlsConfig(certs.ca)  # no client certificate: refused, from the worker
        refused = QueryDispatchLibrary.over_grpc(
            [f"127.0.0.1:{node.port}"],
            loaded_qsl(count=2),
            make_binding("ours"),
            DispatchConfig(dispatch_workers=1, tls=without),
        )
        with pytest.raises(Exception, match="certificate") as caught:
            refused.connect()
    finally:
        node.stop(1.0)
    assert code in (0, 1), err
    assert "Result is" in out.getvalue()
    assert "dispatch workers: 1; responses waited in their rings p50" in out.getvalue()
    assert f"127.0.0.1:{node.port}" in str(caught.value)


@pytest.mark.parametrize("value", ["-1", "two"])
def test_lon_run_refuses_a_bad_worker_count_in_one_line(value, tmp_path):
    result = subprocess.run(
        [*LON_RUN, "--nodes", "127.0.0.1:1", "--scenario", "Offline", "--synthetic",
         "8:uint8:4", "--output", str(tmp_path), "--dispatch-workers", value],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--dispatch-workers" in result.stderr and value in result.stderr


def test_an_unreachable_node_behind_a_worker_is_one_line_naming_it(tmp_path):
    argv = [
        "--nodes", "127.0.0.1:1", "--scenario", "Offline", "--synthetic", "8:uint8:4",
        "--output", str(tmp_path / "out"), "--dispatch-workers", "1",
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), out, err)
    assert code == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:1" in lines[0], err.getvalue()
    assert _wait_until(lambda: not _processes_named("qdl.workers._worker"), 10.0)


def test_sigkill_of_lon_run_leaves_no_worker_and_no_shared_memory(tmp_path):
    node = run_server(NodeConfig(name="victim", grace_s=1.0))
    other = run_server(NodeConfig(name="bystander", grace_s=1.0))
    shm_before = set(os.listdir("/dev/shm"))
    try:
        lon_run = subprocess.Popen(
            [*LON_RUN, "--nodes", f"127.0.0.1:{node.port},127.0.0.1:{other.port}",
             "--scenario", "Server",
             "--synthetic", "8:uint8:64", "--output", str(tmp_path / "out"),
             "--set", "server_target_qps=200", "--set", "min_duration_ms=600000",
             "--dispatch-workers", "2", "--quiet"],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            assert _wait_until(
                lambda: list(_processes_named("qdl.workers._worker").values()) == [lon_run.pid] * 2,
                60.0,
            ), "the worker did not start"
            workers = list(_processes_named("qdl.workers._worker"))
            assert _wait_until(lambda: node.statistics().samples_answered > 20, 60.0)
            rings = _ring_inodes([lon_run.pid, *workers])
            assert len(rings) == 4  # two rings per worker
            lon_run.send_signal(signal.SIGKILL)
            lon_run.wait(30)
        finally:
            if lon_run.poll() is None:
                lon_run.kill()
        assert _wait_until(
            lambda: not set(workers) & set(_processes_named("qdl.workers._worker")), 30.0
        ), "a dispatch worker outlived lon-run"
        assert _wait_until(lambda: not rings & _ring_inodes(), 10.0)  # mapped by nobody
        assert set(os.listdir("/dev/shm")) <= shm_before
    finally:
        node.stop(1.0)
        other.stop(1.0)


@pytest.mark.parametrize("lg", ["ours", "official"])
def test_lon_run_through_workers_under_either_loadgen_per_query(lg, tmp_path):
    need_loadgen(lg)
    nodes = [run_server(NodeConfig(name=f"n{i}", grace_s=1.0)) for i in range(2)]
    try:
        argv = [
            "--nodes", ",".join(f"127.0.0.1:{n.port}" for n in nodes), "--scenario", "Server",
            "--synthetic", "8:uint8:64", "--output", str(tmp_path / "out"), "--loadgen", lg,
            "--set", "server_target_qps=400", "--set", "min_duration_ms=500",
            "--set", "min_query_count=600", "--framing", "per-query",
            "--dispatch-workers", "2", "--quiet",
        ]  # fmt: skip
        out, err = io.StringIO(), io.StringIO()
        code = run(parse_options(argv), out, err)
    finally:
        for n in nodes:
            n.stop(1.0)
    assert code in (0, 1), err.getvalue()  # finished; VALID or not is the machine's business
    stats = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())
    assert stats["dispatch_workers"]["workers"] == 2
    assert 0 < stats["dispatch_workers"]["ring_delay_us"]["responses"] <= stats["samples_issued"]
    assert stats["samples_completed"] == stats["samples_issued"] >= 600
    assert all(n["samples_per_message"]["max"] == 1 for n in stats["nodes"])  # per query
    assert (tmp_path / "out" / "result.json").is_file()
