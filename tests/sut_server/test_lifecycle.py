"""Cancelled streams stop their work; stop() drains: in-flight work is finished and sent."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.v1 import sut_node_pb2 as pb
from sut_server import State

from .conftest import sample

COUNTING = "tests.sut_server.plugins:Counting"


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_cancelling_a_stream_stops_its_queued_work(start_node):
    # 20 samples of 200 ms one after another: 4 s of work, had the queue not been dropped.
    client = start_node(backend=COUNTING, backend_options={"delay_ms": "200"})
    stream = client.open_stream()
    for i in range(20):
        stream.send(sample(i, b"x"))
    stream.next_result(timeout=60)
    stream.call.cancel()
    assert stream.wait_ended(60)
    node = client.node
    wait_for(lambda: node.statistics().streams_open == 0)
    # Every sample is accounted for: run (the few that started before the cancel) or skipped.
    wait_for(lambda: node.statistics().samples_computed + node.statistics().samples_skipped == 20)
    stats = node.statistics()
    assert stats.samples_computed < 10
    assert stats.samples_computed + stats.samples_skipped == 20
    assert stats.samples_cancelled >= 10
    assert stats.in_flight_samples == 0 and stats.in_flight_bytes == 0
    assert client.stub.Flush(pb.FlushRequest(), timeout=5).pending == 0
    # The node still serves new streams.
    assert [r.payload for r in client.infer(pb.SampleBatch(samples=[sample(1)]))] == [b"done"]


def test_the_in_flight_bound_pushes_back_on_the_sender(start_node):
    # 100 ms a sample: the sender, which sends all 12 at once, is far ahead of the node.
    client = start_node(
        backend=COUNTING, backend_options={"delay_ms": "100"}, max_inflight_samples=3
    )
    stream = client.open_stream()
    for i in range(12):
        stream.send(sample(i, b"x"))
    wait_for(lambda: client.node.statistics().in_flight_samples > 0)
    assert client.node.statistics().in_flight_samples <= 3
    for _ in range(12):
        stream.next_result(timeout=60)
    assert client.node.statistics().peak_in_flight_samples == 3
    stream.half_close()
    assert stream.wait_ended()


def test_stop_finishes_in_flight_work_and_ends_streams_cleanly(start_node):
    client = start_node(backend=COUNTING, backend_options={"delay_ms": "300"}, workers=2)
    stream = client.open_stream()
    stream.send(sample(1, b"a"), sample(2, b"b"))
    stream.send(sample(3, b"c"))
    wait_for(lambda: client.node.statistics().samples_received == 3)
    health = health_pb2_grpc.HealthStub(client.channel)
    stopper = threading.Thread(target=client.node.stop, args=(5.0,))
    stopper.start()
    wait_for(lambda: client.node.state is State.DRAINING)
    reply = health.Check(health_pb2.HealthCheckRequest(service="lon.v1.SutNode"), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    refused = client.open_stream()
    assert refused.wait_ended()
    assert refused.error is not None and refused.error.code() == grpc.StatusCode.UNAVAILABLE
    results = [stream.next_result() for _ in range(3)]
    assert sorted((r.response_id, r.payload, r.error) for r in results) == [
        (1, b"done", ""), (2, b"done", ""), (3, b"done", ""),
    ]  # fmt: skip
    assert stream.wait_ended() and stream.error is None  # ended with status OK
    stopper.join(10)
    assert client.node.state is State.STOPPED


def test_samples_arriving_while_draining_are_answered_with_an_error(start_node):
    client = start_node(backend=COUNTING, backend_options={"delay_ms": "400"})
    stream = client.open_stream()
    stream.send(sample(1, b"a"))
    wait_for(lambda: client.node.statistics().samples_received == 1)
    stopper = threading.Thread(target=client.node.stop, args=(5.0,))
    stopper.start()
    wait_for(lambda: client.node.state is State.DRAINING)
    stream.send(sample(2, b"late"))
    results = {r.response_id: r for r in (stream.next_result(), stream.next_result())}
    assert "shutting down" in results[2].error
    assert results[1].payload == b"done" and not results[1].error
    assert stream.wait_ended()
    stopper.join(10)


def test_stop_cancels_what_outlives_the_grace_period(start_node):
    client = start_node(backend=COUNTING, backend_options={"delay_ms": "3000"})
    stream = client.open_stream()
    stream.send(sample(1, b"a"))
    wait_for(lambda: client.node.statistics().samples_received == 1)
    stopper = threading.Thread(target=client.node.stop, args=(0.3,))
    stopper.start()
    assert stream.wait_ended(60)
    # Cut at the 0.3 s grace, before the backend's 3 s were up: the sample got no answer.
    assert stream.results.empty()
    assert stream.error is not None and stream.error.code() == grpc.StatusCode.UNAVAILABLE
    stopper.join(60)  # stop() still waits (bounded) for the busy worker before closing it
    assert client.node.state is State.STOPPED


@pytest.mark.parametrize("grace", [0.0, 30.0])
def test_stop_without_streams_is_quick(start_node, grace):
    client = start_node(backend="echo")
    started = time.monotonic()
    client.node.stop(grace)
    assert time.monotonic() - started < 15  # nothing to drain: the grace is not waited out
