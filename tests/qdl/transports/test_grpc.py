"""The QDL over real gRPC on loopback: round trips, streams, unreachable and dying nodes."""

from __future__ import annotations

import collections
import signal
import threading
import time

import pytest

from protos.v1 import sut_node_pb2 as pb
from qdl import (
    CompressionConfig,
    ConfigError,
    ConnectError,
    DispatchConfig,
    GrpcTransport,
    QueryDispatchLibrary,
    StreamBroken,
    Timeouts,
)
from tests.conftest import free_port

from ..conftest import loaded_qsl, queries
from ..echo_node import echo_process


def test_round_trip_through_two_real_nodes(recording, echo_nodes):
    (a, addr_a), (b, addr_b) = echo_nodes(2)
    qsl = loaded_qsl(count=32, shape=(16, 16), compression=CompressionConfig("zstd", 3))
    raw = loaded_qsl(count=32, shape=(16, 16))
    qs = queries([[i] for i in range(20)] + [list(range(32))])
    with QueryDispatchLibrary.over_grpc([addr_a, addr_b], qsl, recording) as qdl:
        assert "Network SUT" in qdl.name() and "echo-0" in qdl.name()
        for q in qs:
            qdl.issue_query(q)
        recording.wait_for(52)
        qdl.flush_queries()
        reports = qdl.node_reports()
        stats = qdl.statistics()
    by_id = {s.id: s.index for q in qs for s in q}
    assert recording.completed_ids() == collections.Counter(by_id.keys())
    for rid, payload, n_tokens in recording.completions:
        assert payload == raw.encoded(by_id[rid]).payload  # decompressed by the node
        assert n_tokens == 1
    # each unit on the wire is one query or part of one; the big one was split over both nodes
    got = a.received_units() + b.received_units()
    query_of = {s.id: k for k, q in enumerate(qs) for s in q}
    assert all(len({query_of[rid] for rid in batch}) == 1 for batch in got)
    assert sum(len(batch) for batch in got) == 52
    assert all(len(batch) > 0 for batch in a.received_queries() + b.received_queries())
    assert [r["samples"] for r in reports] == [26, 26]
    for r in reports:
        assert r["bytes_sent"] > 0 and r["bytes_received"] > 0
        for part in ("round_trip", "network", "node", "decompression", "compute", "sending"):
            assert r["timing_ms"][part]["count"] == 26
        assert r["timing_ms"]["queueing"] is None  # this node does not stamp picked_ns
        assert r["timing_ms"]["network"]["median"] <= r["timing_ms"]["round_trip"]["median"]
    assert stats.outstanding == 0 and stats.failure is None
    assert a.flushes == 1 and b.flushes == 1


def test_several_streams_per_node_share_the_work(recording, echo_nodes):
    ((node, address),) = echo_nodes(1)
    qsl = loaded_qsl(count=8)
    config = DispatchConfig(streams_per_node=3, framing="per-query")
    with QueryDispatchLibrary.over_grpc([address], qsl, recording, config) as qdl:
        for q in queries([[i % 8] for i in range(30)]):
            qdl.issue_query(q)
        recording.wait_for(30)
        transport = qdl.statistics().nodes[0].transport
    assert transport.streams == 3 and transport.messages_sent == 30
    assert recording.completed_ids() == collections.Counter(range(1, 31))


def test_an_unreachable_node_is_named_after_the_connect_timeout(recording, echo_nodes):
    ((_, good),) = echo_nodes(1)
    dead = f"127.0.0.1:{free_port()}"
    qdl = QueryDispatchLibrary.over_grpc([good, dead], loaded_qsl(), recording)
    t0 = time.monotonic()
    with pytest.raises(ConnectError) as info:
        qdl.connect()
    assert time.monotonic() - t0 < 30  # the 3 s connect timeout: it gives up, never hangs
    assert dead in str(info.value) and good not in str(info.value)
    assert info.value.node == dead


def test_two_unreachable_nodes_are_both_named(recording):
    dead = [f"127.0.0.1:{free_port()}" for _ in range(4)]
    config = DispatchConfig(timeouts=Timeouts(connect=2.0))
    qdl = QueryDispatchLibrary.over_grpc(dead, loaded_qsl(), recording, config)
    t0 = time.monotonic()
    with pytest.raises(ConnectError, match="cannot connect to 4 nodes") as info:
        qdl.connect()
    # In parallel, not one after the other: each waits out its 2 s, one by one would be 8 s.
    assert time.monotonic() - t0 < 7
    assert all(d in str(info.value) for d in dead)


@pytest.mark.parametrize("address", ["localhost", "host:port", "1.2.3.4:99999", ""])
def test_bad_addresses_are_config_errors(address):
    with pytest.raises(ConfigError, match="is not HOST:PORT"):
        GrpcTransport(address)


def test_a_node_killed_mid_run_ends_the_run_fast_and_completes_everything_once(recording):
    qsl = loaded_qsl(count=16)
    with (
        echo_process("--name", "doomed", "--delay", "0.2") as (proc, address),
        QueryDispatchLibrary.over_grpc([address], qsl, recording) as qdl,
    ):
        qs = queries([[i % 16] for i in range(40)])
        for q in qs:
            qdl.issue_query(q)
        recording.wait_for(1, timeout=60)  # the run is under way: 40 x 0.2 s of work
        proc.kill()
        t0 = time.monotonic()
        recording.wait_for(40, timeout=60)
        elapsed = time.monotonic() - t0
        failure = qdl.failure
        for q in queries([[0], [1]], first_id=41):  # late queries: completed, not sent
            qdl.issue_query(q)
    assert elapsed < 30  # at once (the connection resets), not after the 60 s response timeout
    assert isinstance(failure, StreamBroken)
    text = str(failure)
    assert "doomed" in text and address in text
    assert "samples were outstanding on it" in text
    outstanding = int(text.split("; ")[-1].split()[0])
    assert 0 < outstanding < 40
    assert recording.completed_ids() == collections.Counter(range(1, 43))
    assert len(recording.aborts) == 1


def test_a_frozen_node_is_found_out_by_keepalive_within_seconds(recording):
    qsl = loaded_qsl(count=16)
    with (
        echo_process("--name", "frozen", "--delay", "0.2") as (proc, address),
        QueryDispatchLibrary.over_grpc([address], qsl, recording) as qdl,
    ):
        for q in queries([[i % 16] for i in range(20)]):
            qdl.issue_query(q)
        recording.wait_for(1, timeout=60)  # the run is under way: 20 x 0.2 s of work
        proc.send_signal(signal.SIGSTOP)  # alive to the kernel (TCP stays up), silent to gRPC
        try:
            t0 = time.monotonic()
            recording.wait_for(20, timeout=60)
            elapsed = time.monotonic() - t0
            failure = qdl.failure
        finally:
            proc.send_signal(signal.SIGCONT)
    # Keepalive (a 2 s ping interval, 4 s to answer), not the 60 s response timeout.
    assert elapsed < 45
    assert isinstance(failure, StreamBroken)
    text = str(failure)
    assert "frozen" in text and address in text and "went silent" in text
    assert "samples were outstanding on it" in text
    assert recording.completed_ids() == collections.Counter(range(1, 21))


def test_a_backend_error_from_a_real_node(recording, echo_nodes):
    ((_, address),) = echo_nodes(1, fail_index=3)
    with QueryDispatchLibrary.over_grpc([address], loaded_qsl(), recording) as qdl:
        for q in queries([[1], [2], [3], [4]]):
            qdl.issue_query(q)
        recording.wait_for(4)
        failure = qdl.failure
    assert "sample index 3" in str(failure) and "echo backend refuses this sample" in str(failure)
    assert recording.completed_ids() == collections.Counter(range(1, 5))


def test_a_node_without_zstd_is_refused_before_the_run(recording, echo_nodes):
    ((_, address),) = echo_nodes(1, name="plain", compressions=(pb.COMPRESSION_NONE,))
    qsl = loaded_qsl(count=2, compression=CompressionConfig("zstd"))
    qdl = QueryDispatchLibrary.over_grpc([address], qsl, recording)
    with pytest.raises(Exception, match=f"plain at {address} supports none"):
        qdl.connect()


def test_closing_a_transport_from_its_own_response_callback_is_refused_not_a_hang():
    from qdl.transports import OutgoingMessage

    from ..echo_node import EchoNode, serve

    with serve(EchoNode("self-closer")) as address:
        transport = GrpcTransport(address)
        transport.connect()
        seen: list[BaseException] = []
        answered = threading.Event()

        def on_response(batch, nbytes, received_ns):
            try:
                transport.close()
            except RuntimeError as exc:
                seen.append(exc)
            answered.set()

        transport.open(on_response, lambda error: None)
        batch = pb.SampleBatch(samples=[pb.Sample(response_id=1, sample_index=0, payload=b"x")])
        transport.issue(OutgoingMessage(batch.SerializeToString(), 1, time.perf_counter_ns()))
        assert answered.wait(10)
        t0 = time.monotonic()
        transport.close()  # from here it works, and at once
        assert time.monotonic() - t0 < 10  # not the 15 s stall of waiting on its own loop
    (error,) = seen
    assert "from a callback on its own gRPC loop thread" in str(error)
