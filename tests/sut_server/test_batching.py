"""Node-side dynamic batching: batches of up to --max-batch, across streams, with a timeout."""

from __future__ import annotations

import struct
import time

import pytest

from protos.v1 import sut_node_pb2 as pb

from .conftest import sample

BATCH_SIZE = "tests.sut_server.plugins:BatchSize"


def batch_sizes(results: list[pb.SampleResult]) -> list[int]:
    return sorted(struct.unpack("<ii", r.payload)[0] for r in results)


def test_single_sample_messages_are_grouped_up_to_max_batch(start_node):
    # A batch starts when full (the 30 s timeout is never reached): 12 samples, 3 batches.
    client = start_node(backend=BATCH_SIZE, max_batch=4, batch_timeout_us=30_000_000)
    results = client.infer(*[pb.SampleBatch(samples=[sample(i)]) for i in range(12)], timeout=60)
    assert sorted(r.response_id for r in results) == list(range(12))
    assert batch_sizes(results) == [4] * 12
    stats = client.node.statistics()
    assert stats.peak_batch == 4
    assert stats.batches == 3


def test_a_message_larger_than_max_batch_is_split(start_node):
    client = start_node(backend=BATCH_SIZE, max_batch=4)
    results = client.infer(pb.SampleBatch(samples=[sample(i) for i in range(10)]))
    assert batch_sizes(results) == [2, 2, 4, 4, 4, 4, 4, 4, 4, 4]
    for r in results:
        assert struct.unpack("<ii", r.payload)[1] == r.response_id


def test_samples_from_different_streams_share_a_batch(start_node):
    client = start_node(backend=BATCH_SIZE, max_batch=4, batch_timeout_us=300_000_000)
    first, second = client.open_stream(), client.open_stream()
    started = time.monotonic()
    first.send(sample(1), sample(2))
    second.send(sample(3), sample(4))
    results = [first.next_result(60), first.next_result(60)]
    results += [second.next_result(60), second.next_result(60)]
    assert batch_sizes(results) == [4, 4, 4, 4]
    assert time.monotonic() - started < 240  # the batch started when full, not at the timeout
    for stream in (first, second):
        stream.half_close()
        assert stream.wait_ended()


def test_a_partial_batch_starts_when_its_oldest_sample_times_out(start_node):
    client = start_node(backend=BATCH_SIZE, max_batch=8, batch_timeout_us=200_000)
    stream = client.open_stream()
    started = time.monotonic()
    stream.send(sample(1))
    result = stream.next_result()
    assert time.monotonic() - started >= 0.2
    assert struct.unpack("<ii", result.payload)[0] == 1
    waited_ns = result.timing.computed_ns - result.timing.received_ns
    assert waited_ns >= 200_000_000
    stream.half_close()
    assert stream.wait_ended()


def test_without_max_batch_each_message_is_one_backend_call(start_node):
    client = start_node(backend=BATCH_SIZE)
    results = client.infer(
        pb.SampleBatch(samples=[sample(i) for i in range(7)]),
        pb.SampleBatch(samples=[sample(10)]),
    )
    sizes = {r.response_id: struct.unpack("<ii", r.payload)[0] for r in results}
    assert sizes == {**{i: 7 for i in range(7)}, 10: 1}


@pytest.mark.parametrize(
    "inline, max_batch, ran_on",
    [("1", 0, "sut-stream-1-reader"), ("0", 0, "sut-worker-0"), ("1", 2, "sut-worker-0")],
)
def test_inline_backends_run_on_the_reader_unless_batching(start_node, inline, max_batch, ran_on):
    client = start_node(
        backend="tests.sut_server.plugins:ThreadName",
        backend_options={"inline": inline},
        max_batch=max_batch,
    )
    results = client.infer(pb.SampleBatch(samples=[sample(1), sample(2)]))
    assert {r.payload.decode() for r in results} == {ran_on}
    assert client.node.statistics().samples_computed == 2


def test_echo_batches_too_when_asked(start_node):
    client = start_node(backend="echo", max_batch=4)
    results = client.infer(pb.SampleBatch(samples=[sample(i, bytes([i])) for i in range(10)]))
    assert sorted((r.response_id, r.payload) for r in results) == [
        (i, bytes([i])) for i in range(10)
    ]
    assert client.node.statistics().peak_batch == 4
