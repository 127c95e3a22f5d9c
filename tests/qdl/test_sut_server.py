"""The QDL against real ``sut-server`` processes (started as programs, never imported)."""

from __future__ import annotations

import collections
import json
import signal
import struct
import subprocess
import time

import numpy as np
import pytest

from lon._nodes import running_nodes, sut_server_command
from qdl import QueryDispatchLibrary, StreamBroken
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen

from .conftest import loaded_qsl, queries


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_two_numpy_mlp_nodes_answer_every_sample_once(recording, in_root):
    commands = [
        sut_server_command("numpy-mlp", extra=("--name", name, "--classes", "7"))
        for name in ("mlp-a", "mlp-b")
    ]
    qsl = loaded_qsl(count=64, shape=(3, 8, 8), dtype="float32")
    qs = queries([[i] for i in range(30)] + [list(range(64))])
    with running_nodes(commands) as nodes:
        addresses = [n.address for n in nodes]
        with QueryDispatchLibrary.over_grpc(addresses, qsl, recording) as qdl:
            assert qdl.name() == "Network SUT: 2 node(s): mlp-a, mlp-b"
            assert [d.backend for d in qdl.descriptions] == ["numpy-mlp", "numpy-mlp"]
            for q in qs:
                qdl.issue_query(q)
            qdl.flush_queries()
            recording.wait_for(94, timeout=30)
        reports = qdl.node_reports()  # once closed: the books of the last answer are written
    assert recording.completed_ids() == collections.Counter(range(1, 95))
    index_of = {s.id: s.index for q in qs for s in q}
    by_index = collections.defaultdict(set)
    for rid, payload, _ in recording.completions:
        (class_id,) = struct.unpack("<i", payload)
        assert 0 <= class_id < 7
        by_index[index_of[rid]].add(class_id)
    assert all(len(classes) == 1 for classes in by_index.values())  # same input, same class
    assert sum(r["samples"] for r in reports) == 94
    assert all(r["timing_ms"]["compute"] is not None for r in reports)


def test_a_sut_server_killed_mid_run_is_named_with_its_outstanding_count(recording, in_root):
    commands = [
        sut_server_command("synthetic", extra=("--name", "fragile", "--service-time-us", "20000"))
    ]
    qsl = loaded_qsl(count=16)
    with (
        running_nodes(commands) as (node,),
        QueryDispatchLibrary.over_grpc([node.address], qsl, recording) as qdl,
    ):
        for q in queries([[i % 16] for i in range(200)]):
            qdl.issue_query(q)
        recording.wait_for(1, timeout=60)  # the run is under way: 200 x 20 ms of work
        node.process.send_signal(signal.SIGKILL)
        t0 = time.monotonic()
        recording.wait_for(200, timeout=60)
        elapsed = time.monotonic() - t0
        failure = qdl.failure
    assert elapsed < 30  # at once (the connection resets), not after the 60 s response timeout
    assert isinstance(failure, StreamBroken)
    assert f"node fragile at {node.address}" in str(failure)
    assert "samples were outstanding on it" in str(failure)
    assert recording.completed_ids() == collections.Counter(range(1, 201))


@pytest.mark.parametrize("lg", LOADGENS)
def test_lon_run_server_run_on_sut_server(tmp_path, in_root, lg):
    need_loadgen(lg)
    commands = [sut_server_command("numpy-mlp", extra=("--name", "srv"))]
    with running_nodes(commands) as (node,):
        proc = subprocess.run(
            [*LON_RUN, "--nodes", node.address, "--scenario", "Server", "--output",
             str(tmp_path), "--synthetic", "3x16x16:uint8:256", "--loadgen", lg,
             "--set", "min_duration_ms=500", "--set", "server_target_qps=200",
             "--set", "min_query_count=50", "--compression", "zstd", "--zstd-level", "5"],
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    assert (
        "Scenario : Server" in proc.stdout
        and "SUT name : Network SUT: 1 node(s): srv" in proc.stdout
    )
    stats = json.loads((tmp_path / "lon_node_stats.json").read_text())
    (n,) = stats["nodes"]
    assert n["backend"] == "numpy-mlp" and n["samples"] == stats["samples_issued"] >= 50
    assert n["timing_ms"]["decompression"]["count"] == n["samples"]
    assert n["timing_ms"]["queueing"]["count"] == n["samples"]  # the wait for a worker, apart


def test_the_node_launcher_stops_sut_server_with_sigterm(in_root):
    with running_nodes([sut_server_command("echo")]) as (node,):
        proc = node.process
    assert proc.returncode == 0  # a graceful exit, not a kill


def test_npy_dataset_through_sut_server(tmp_path, recording, in_root):
    from qdl import NpyDirectoryQSL

    (tmp_path / "d").mkdir()
    for i in range(5):
        np.save(tmp_path / "d" / f"{i}.npy", np.arange(12, dtype=np.uint8).reshape(3, 4) + i)
    qsl = NpyDirectoryQSL(tmp_path / "d")
    qsl.load_samples_to_ram(list(range(5)))
    with (
        running_nodes([sut_server_command("echo")]) as (node,),
        QueryDispatchLibrary.over_grpc([node.address], qsl, recording) as qdl,
    ):
        qdl.issue_query(queries([[0, 1, 2, 3, 4]])[0])
        recording.wait_for(5)
    assert sorted(p for _, p, _ in recording.completions) == sorted(
        (np.arange(12, dtype=np.uint8) + i).tobytes() for i in range(5)
    )
