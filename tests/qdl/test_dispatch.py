"""The QDL's dispatch logic on in-process MockTransports: books, messages, failures."""

from __future__ import annotations

import collections
import time

import numpy as np
import pytest

from loadgen.clock import VirtualClock
from protos.v1 import sut_node_pb2 as pb
from qdl import (
    AlreadyClosed,
    BackendError,
    ConnectError,
    DispatchConfig,
    Limits,
    MockTransport,
    NodeDescription,
    NotStarted,
    ProtocolError,
    QueryDispatchLibrary,
    ResponseTimeout,
    StreamBroken,
    Timeouts,
)
from qdl._wire import MAX_SAMPLE_FRAMING
from qdl.transports import echo_handler

from .conftest import loaded_qsl, queries


def silent(batch):
    return None


def mock(i: int, handler=silent, **description) -> MockTransport:
    address = f"mock:{i}"
    return MockTransport(
        handler,
        address=address,
        description=NodeDescription(address=address, name=f"node-{i}", **description),
    )


def test_name_says_network_sut_and_names_the_nodes_as_they_answer_now(recording):
    qsl = loaded_qsl()
    nodes = [mock(0), mock(1)]
    qdl = QueryDispatchLibrary(nodes, qsl, recording)
    with pytest.raises(NotStarted, match="connect"):
        qdl.name()
    with qdl:
        assert qdl.name() == "Network SUT: 2 node(s): node-0, node-1"
        nodes[1].description = NodeDescription(address="mock:1", name="renamed")
        assert qdl.name() == "Network SUT: 2 node(s): node-0, renamed"
        nodes[0].reachable = False
        assert qdl.name() == (
            "Network SUT: 2 node(s): [node node-0 at mock:0: Describe failed (mock unreachable)], "
            "renamed"
        )
        nodes[0].reachable = True
        last = qdl.name()
    nodes[1].description = NodeDescription(address="mock:1", name="after-close")
    assert qdl.name() == last == "Network SUT: 2 node(s): node-0, renamed"


def test_a_qdl_that_failed_to_connect_has_no_name(recording):
    qdl = QueryDispatchLibrary([MockTransport(reachable=False)], loaded_qsl(), recording)
    with pytest.raises(ConnectError):
        qdl.connect()
    with pytest.raises(AlreadyClosed):
        qdl.name()


def test_answers_are_completed_with_the_node_payload(recording):
    qsl = loaded_qsl(count=8)
    with QueryDispatchLibrary([MockTransport()], qsl, recording) as qdl:
        for q in queries([[3], [5, 6]]):
            qdl.issue_query(q)
    got = {rid: data for rid, data, _ in recording.completions}
    assert got == {
        1: qsl.encoded(3).payload,
        2: qsl.encoded(5).payload,
        3: qsl.encoded(6).payload,
    }
    assert (
        qsl.encoded(3).payload
        == np.random.default_rng([0, 3])
        .integers(0, 255, (4, 4), dtype=np.uint8, endpoint=True)
        .tobytes()
    )


def test_separate_queries_are_never_merged_into_one_message(recording):
    qsl = loaded_qsl(count=16)
    node = mock(0)
    qs = queries([[i] for i in range(10)] + [[1, 2, 3], [4, 5]])
    with QueryDispatchLibrary([node], qsl, recording) as qdl:
        for q in qs:
            qdl.issue_query(q)
    sent = [[s.response_id for s in b.samples] for b in node.received]
    assert sent == [[s.id for s in q] for q in qs]


def test_a_large_query_is_split_into_bounded_messages_of_that_query_only(recording):
    qsl = loaded_qsl(count=64, shape=(100,))  # 100-byte payloads
    node = mock(0)
    limits = Limits(max_message_bytes=1000, max_samples_per_message=256)
    (q,) = queries([list(range(64))])
    with QueryDispatchLibrary([node], qsl, recording, DispatchConfig(limits=limits)) as qdl:
        qdl.issue_query(q)
    sizes = [len(b.SerializeToString()) for b in node.received]
    assert max(sizes) <= 1000
    assert [s.response_id for b in node.received for s in b.samples] == [s.id for s in q]
    per_message = 1000 // (len(qsl.encoded(0).template) + MAX_SAMPLE_FRAMING)
    assert len(node.received) == -(-64 // per_message)


def test_samples_per_message_is_bounded_too(recording):
    qsl = loaded_qsl(count=20)
    node = mock(0)
    limits = Limits(max_samples_per_message=8)
    (q,) = queries([list(range(20))])
    with QueryDispatchLibrary([node], qsl, recording, DispatchConfig(limits=limits)) as qdl:
        qdl.issue_query(q)
    assert [len(b.samples) for b in node.received] == [8, 8, 4]


def test_the_node_message_limit_from_describe_wins(recording):
    qsl = loaded_qsl(count=10, shape=(100,))
    node = mock(0, max_message_bytes=400)
    (q,) = queries([list(range(10))])
    with QueryDispatchLibrary([node], qsl, recording) as qdl:
        qdl.issue_query(q)
    assert all(b.ByteSize() <= 400 for b in node.received)
    assert sum(len(b.samples) for b in node.received) == 10


def test_a_sample_too_large_for_the_node_fails_the_run_clearly(recording):
    qsl = loaded_qsl(count=2, shape=(1000,))
    node = mock(0, max_message_bytes=500)
    with QueryDispatchLibrary([node], qsl, recording) as qdl:
        qdl.issue_query(queries([[1]])[0])
        assert isinstance(qdl.failure, ProtocolError)
        assert "sample index 1" in str(qdl.failure) and "node-0" in str(qdl.failure)
    assert recording.completed_ids() == {1: 1}
    assert node.received == []


def test_samples_are_answered_exactly_once_when_a_node_breaks(recording):
    qsl = loaded_qsl(count=32)
    a, b = mock(0), mock(1, handler=lambda batch: None)
    qs = queries([[i] for i in range(10)])
    with QueryDispatchLibrary([a, b], qsl, recording) as qdl:
        for q in qs[:6]:
            qdl.issue_query(q)
        # node-0 answers two of its three samples, then dies.
        first = a.received[0].samples[0].response_id
        second = a.received[1].samples[0].response_id
        a.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=first, payload=b"x")]))
        a.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=second, payload=b"y")]))
        a.break_stream("connection reset by peer")
        failure = qdl.failure
        assert isinstance(failure, StreamBroken)
        assert "node-0" in str(failure) and "connection reset by peer" in str(failure)
        assert "1 samples were outstanding on it (4 on all nodes)" in str(failure)
        for q in qs[6:]:  # later queries are completed at once, never sent
            qdl.issue_query(q)
        # a late answer from the healthy node for an already-completed sample is dropped
        late = b.received[0].samples[0].response_id
        b.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=late, payload=b"z")]))
        assert qdl.statistics().outstanding == 0
    assert recording.completed_ids() == collections.Counter(range(1, 11))
    assert len(recording.aborts) == 1
    assert recording.aborts[0][0] == str(failure)
    assert sorted(recording.aborts[0][1]) == sorted(
        [s.response_id for batch in a.received[2:] for s in batch.samples]
        + [s.response_id for batch in b.received for s in batch.samples]
    )
    assert sum(len(batch.samples) for batch in a.received + b.received) == 6


def test_a_backend_error_ends_the_run_naming_node_and_sample(recording):
    qsl = loaded_qsl(count=8)

    def handler(batch):
        return pb.ResponseBatch(
            results=[
                pb.SampleResult(response_id=s.response_id, error="out of memory")
                if s.sample_index == 5
                else pb.SampleResult(response_id=s.response_id, payload=b"ok")
                for s in batch.samples
            ]
        )

    with QueryDispatchLibrary([mock(0, handler)], qsl, recording) as qdl:
        qdl.issue_query(queries([[4, 5, 6]])[0])
        failure = qdl.failure
    assert isinstance(failure, BackendError)
    assert "node-0" in str(failure)
    assert "sample index 5" in str(failure) and "out of memory" in str(failure)
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1}


@pytest.mark.parametrize("answer_id", [99, 1])
def test_unknown_or_duplicate_answers_are_protocol_errors(recording, answer_id):
    qsl = loaded_qsl(count=4)
    node = mock(0)
    with QueryDispatchLibrary([node], qsl, recording) as qdl:
        qdl.issue_query(queries([[0]])[0])
        qdl.issue_query(queries([[1]], first_id=2)[0])
        if answer_id == 1:
            node.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=1)]))
        node.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=answer_id)]))
        assert isinstance(qdl.failure, ProtocolError)
        assert f"response id {answer_id}" in str(qdl.failure)
    assert recording.completed_ids() == {1: 1, 2: 1}


def test_first_tokens_go_ahead_of_the_final_answer(recording):
    qsl = loaded_qsl(count=4)

    def handler(batch):
        rid = batch.samples[0].response_id
        return [
            pb.ResponseBatch(
                results=[
                    pb.SampleResult(
                        response_id=rid, kind=pb.SampleResult.KIND_FIRST_TOKEN, payload=b"t"
                    )
                ]
            ),
            pb.ResponseBatch(
                results=[pb.SampleResult(response_id=rid, payload=b"tok", n_tokens=3)]
            ),
        ]

    with QueryDispatchLibrary([mock(0, handler)], qsl, recording) as qdl:
        qdl.issue_query(queries([[2]])[0])
    assert recording.first_tokens == [(1, b"t", 0)]
    assert recording.completions == [(1, b"tok", 3)]


def test_a_silent_node_ends_the_run_with_a_response_timeout(recording):
    qsl = loaded_qsl(count=4)
    config = DispatchConfig(timeouts=Timeouts(response=0.3))
    t0 = time.monotonic()
    with QueryDispatchLibrary([mock(0)], qsl, recording, config) as qdl:
        qdl.issue_query(queries([[0, 1]])[0])
        recording.wait_for(2, timeout=60)
        failure = qdl.failure
    assert time.monotonic() - t0 < 30  # the 0.3 s response timeout, not the default 60 s
    assert isinstance(failure, ResponseTimeout)
    assert "node-0" in str(failure) and "2 samples were outstanding on it" in str(failure)


def test_the_response_timeout_counts_from_the_latest_answer_exactly(recording):
    # On a virtual clock: a node owing answers may stay silent for exactly the response
    # timeout; one nanosecond more ends the run. Every answer starts the count again.
    clock = VirtualClock()
    node = mock(0)
    config = DispatchConfig(timeouts=Timeouts(response=1.0))
    with QueryDispatchLibrary([node], loaded_qsl(count=4), recording, config, clock=clock) as qdl:
        qdl.issue_query(queries([[0, 1]])[0])  # owed from t = 0
        (sent,) = node.received
        clock.advance(900_000_000)
        node.respond(  # one answer at 0.9 s
            pb.ResponseBatch(results=[pb.SampleResult(response_id=sent.samples[0].response_id)])
        )
        clock.advance(1_000_000_000)  # 1.9 s: exactly the timeout since that answer
        assert qdl.check_progress() is None and qdl.failure is None
        clock.advance(1)
        qdl.check_progress()
        failure = qdl.failure
    assert isinstance(failure, ResponseTimeout)
    assert "node-0" in str(failure) and "answered nothing for 1 s while it owed 1 samples" in str(
        failure
    )
    assert "the oldest is sample index 1 (it had answered 1 before" in str(failure)
    assert "1 samples were outstanding on it" in str(failure)
    assert recording.completed_ids() == {1: 1, 2: 1}  # the answered one, and the owed one empty


def test_a_node_that_owes_nothing_is_never_timed_out(recording):
    clock = VirtualClock()
    config = DispatchConfig(timeouts=Timeouts(response=1.0))
    with QueryDispatchLibrary([mock(0, handler=echo_handler)], loaded_qsl(), recording, config,
                              clock=clock) as qdl:  # fmt: skip
        qdl.issue_query(queries([[0, 1]])[0])
        clock.advance(3_600 * 10**9)  # an hour with nothing owed
        assert qdl.check_progress() is None and qdl.failure is None


def test_flush_reaches_every_node(recording):
    nodes = [mock(0), mock(1)]
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording) as qdl:
        qdl.flush_queries()
    assert [n.flushes for n in nodes] == [1, 1]


def test_misuse_gets_fixed_messages(recording):
    qsl = loaded_qsl()
    qdl = QueryDispatchLibrary([mock(0)], qsl, recording)
    with pytest.raises(NotStarted):
        qdl.issue_query(queries([[0]])[0])
    with qdl:
        pass
    with pytest.raises(AlreadyClosed, match="create a new one"):
        qdl.issue_query(queries([[0]])[0])
    with pytest.raises(AlreadyClosed):
        qdl.connect()


def test_issuing_a_sample_that_is_not_loaded_fails_the_run(recording):
    qsl = loaded_qsl(count=4)
    qsl.unload_samples_from_ram([2])
    with QueryDispatchLibrary([mock(0)], qsl, recording) as qdl:
        qdl.issue_query(queries([[2]])[0])
        assert "sample index 2 is not loaded" in str(qdl.failure)
    assert recording.completed_ids() == {1: 1}


def test_statistics_track_the_books(recording):
    qsl = loaded_qsl(count=8)
    a = mock(0)
    with QueryDispatchLibrary([a, mock(1)], qsl, recording) as qdl:
        for q in queries([[0], [1], [2, 3]]):
            qdl.issue_query(q)
        rid = a.received[0].samples[0].response_id
        a.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=rid, payload=b"x")]))
        stats = qdl.statistics()
    assert (stats.queries, stats.samples_issued, stats.samples_completed) == (3, 4, 1)
    assert stats.outstanding == 3 and stats.peak_outstanding == 4
    assert [n.outstanding for n in stats.nodes] == [1, 2]
    assert [n.counters.samples_issued for n in stats.nodes] == [2, 2]
    assert stats.nodes[0].transport.bytes_received > 0
    assert stats.failure is None and stats.state == "opened"
