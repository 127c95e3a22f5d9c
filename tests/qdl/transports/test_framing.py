"""Opportunistic framing: what is queued behind a busy stream goes out as one SampleBatch, a
lone sample goes alone, and ``framing="per-query"`` never merges."""

from __future__ import annotations

import collections
import threading

import pytest

from qdl import DispatchConfig, GrpcTransport, QueryDispatchLibrary
from qdl._wire import sample_batch, sample_template
from qdl.transports import OutgoingMessage
from qdl.transports._queue import SendQueue

from ..conftest import loaded_qsl, queries

QUEUED = 10


def _message(rid: int, size: int = 8, n: int = 1) -> OutgoingMessage:
    template = sample_template(rid, b"x" * size, 0, size, "uint8", (size,))
    return OutgoingMessage(sample_batch([(rid + k, template) for k in range(n)]), n, 0)


def _issue_behind_a_busy_stream(qdl: QueryDispatchLibrary, recording) -> None:
    """Query 1 goes out alone; while its answer holds the gRPC loop (the stream's sender cannot
    run), QUEUED more single-sample queries are queued; then the loop is let go."""
    held, release = threading.Event(), threading.Event()
    complete = recording.complete

    def complete_holding_the_loop(completions):
        complete(completions)
        if not held.is_set():
            held.set()
            release.wait(30)

    recording.complete = complete_holding_the_loop
    qs = queries([[i % 8] for i in range(1 + QUEUED)])
    qdl.issue_query(qs[0])
    assert held.wait(30)
    for q in qs[1:]:
        qdl.issue_query(q)
    release.set()
    recording.wait_for(1 + QUEUED)


def test_samples_queued_behind_a_busy_stream_travel_together_each_answered_once(
    recording, echo_nodes
):
    ((node, address),) = echo_nodes(1)
    with QueryDispatchLibrary.over_grpc([address], loaded_qsl(count=8), recording) as qdl:
        _issue_behind_a_busy_stream(qdl, recording)
        report = qdl.node_reports()[0]
    batches = node.received_queries()
    assert batches[0] == [1]
    assert sum(len(b) for b in batches) == 1 + QUEUED
    assert len(batches) < 1 + QUEUED  # merged: fewer messages than samples
    assert max(len(b) for b in batches) > 1
    assert node.received_units() == [[rid] for rid in range(1, 2 + QUEUED)]  # one per query
    assert recording.completed_ids() == collections.Counter(range(1, 2 + QUEUED))
    histogram = report["samples_per_message"]
    assert histogram["samples"] == 1 + QUEUED and histogram["messages"] == len(batches)
    assert report["framing"] == "opportunistic"


def test_per_query_framing_never_merges(recording, echo_nodes):
    ((node, address),) = echo_nodes(1)
    config = DispatchConfig(framing="per-query")
    with QueryDispatchLibrary.over_grpc([address], loaded_qsl(count=8), recording, config) as qdl:
        _issue_behind_a_busy_stream(qdl, recording)
        report = qdl.node_reports()[0]
    assert node.received_queries() == [[rid] for rid in range(1, 2 + QUEUED)]
    assert recording.completed_ids() == collections.Counter(range(1, 2 + QUEUED))
    assert report["samples_per_message"]["counts"] == {"1": 1 + QUEUED}


def test_a_lone_sample_travels_alone_and_is_not_held_for_more(recording, echo_nodes):
    ((node, address),) = echo_nodes(1)
    with QueryDispatchLibrary.over_grpc([address], loaded_qsl(count=8), recording) as qdl:
        (q,) = queries([[3]])
        qdl.issue_query(q)
        recording.wait_for(1)  # no flush and nothing after it: it went without waiting
        stats = qdl.statistics().nodes[0].transport
    assert node.received_queries() == [[1]]
    assert stats.messages_sent == 1 and stats.samples_per_message == {1: 1}


def test_take_all_takes_what_is_queued_within_the_limits():
    queue = SendQueue(1 << 20)
    assert queue.take_all_nowait(1 << 20, 256) == []
    messages = [_message(1 + k) for k in range(5)]  # all of one size
    for m in messages:
        assert queue.put(m, 1.0)
    size = len(messages[0].data)
    assert queue.take_all_nowait(2 * size, 256) == messages[:2]  # the byte bound
    assert queue.take_all_nowait(1 << 20, 2) == messages[2:4]  # the sample bound
    assert queue.take_all_nowait(1, 1) == messages[4:]  # the first always goes
    assert queue.statistics().bytes == 0 and queue.take_all_nowait(1 << 20, 256) == []


def test_take_all_wakes_an_idle_consumer_once():
    queue = SendQueue(1 << 20)
    woken = []
    queue.set_waker(lambda: woken.append(1))
    assert queue.take_all_nowait(1 << 20, 256) == []
    queue.put(_message(1), 1.0)
    queue.put(_message(2), 1.0)
    assert woken == [1]


def test_an_unknown_framing_is_a_config_error():
    from qdl import ConfigError

    with pytest.raises(ConfigError, match="framing"):
        DispatchConfig(framing="bulk")
    with pytest.raises(ConfigError, match="framing"):
        GrpcTransport("127.0.0.1:1", framing="bulk")
