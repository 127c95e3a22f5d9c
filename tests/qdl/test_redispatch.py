"""The per-sample deadline and ``on_node_loss="redispatch"``, on mock nodes and a virtual clock:
exact expectations, every sample completed exactly once."""

from __future__ import annotations

import threading

import pytest

from loadgen.clock import VirtualClock
from protos.v1 import sut_node_pb2 as pb
from qdl import DispatchConfig, QueryDispatchLibrary, ResponseTimeout, Timeouts

from .conftest import loaded_qsl, queries
from .test_dispatch import mock


def answer(node, *rids):
    node.respond(pb.ResponseBatch(results=[pb.SampleResult(response_id=r) for r in rids]))


def ids_sent_to(node):
    return [s.response_id for batch in node.received for s in batch.samples]


def wait_until(condition, timeout=30.0):
    event = threading.Event()
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        event.wait(0.01)
    raise AssertionError("condition not met")


def test_a_hung_sample_is_caught_at_its_deadline_naming_node_and_index(recording):
    clock = VirtualClock()
    node = mock(0)
    config = DispatchConfig(timeouts=Timeouts(response=60.0, sample=2.0))
    with QueryDispatchLibrary([node], loaded_qsl(), recording, config, clock=clock) as qdl:
        (q1,) = queries([[5]])
        qdl.issue_query(q1)  # response id 1, sample index 5: never answered
        clock.advance(1_000_000_000)
        (q2,) = queries([[6]], first_id=2)
        qdl.issue_query(q2)
        answer(node, 2)  # a later sample is answered: sample 5 is overtaken
        assert qdl.check_progress() is None  # the watchdog sees it now (t = 1 s)
        clock.advance(2_000_000_000)  # exactly the deadline after that
        assert qdl.check_progress() is None
        clock.advance(1)
        failure = qdl.check_progress()
    assert isinstance(failure, ResponseTimeout)
    assert "node node-0 at mock:0: sample index 5 still not answered 2 s after the node " in str(
        failure
    )
    assert failure.response_id == 1
    assert recording.completed_ids() == {1: 1, 2: 1}


def test_a_node_that_answers_in_order_is_slow_not_stuck(recording):
    clock = VirtualClock()
    node = mock(0)
    config = DispatchConfig(timeouts=Timeouts(response=60.0, sample=2.0))
    with QueryDispatchLibrary([node], loaded_qsl(), recording, config, clock=clock) as qdl:
        qdl.issue_query(queries([[0, 1, 2]])[0])
        clock.advance(10_000_000_000)
        answer(node, 1)  # the oldest first: nothing newer was answered ahead of the others
        assert qdl.check_progress() is None and qdl.failure is None


def test_workers_finishing_out_of_order_are_not_a_hang(recording):
    # Offline: everything is sent at t = 0; a sample overtaken by a later one only briefly,
    # long after it was sent, is not stuck.
    clock = VirtualClock()
    node = mock(0)
    config = DispatchConfig(timeouts=Timeouts(response=60.0, sample=2.0))
    with QueryDispatchLibrary([node], loaded_qsl(), recording, config, clock=clock) as qdl:
        qdl.issue_query(queries([[0, 1, 2, 3]])[0])
        clock.advance(30_000_000_000)
        answer(node, 4)  # the last one first
        assert qdl.check_progress() is None
        clock.advance(1_000_000_000)
        answer(node, 1, 2, 3)
        clock.advance(5_000_000_000)
        assert qdl.check_progress() is None and qdl.failure is None


def test_redispatch_sends_what_a_broken_node_owed_to_the_others_exactly_once(recording):
    nodes = [mock(0), mock(1)]
    config = DispatchConfig(on_node_loss="redispatch")
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config) as qdl:
        qdl.issue_query(queries([[0, 1, 2, 3]])[0])  # two samples to each node
        owed = ids_sent_to(nodes[0])
        assert len(owed) == 2
        answer(nodes[0], owed[0])  # one answered before the loss
        nodes[0].break_stream("connection reset")
        wait_until(lambda: len(ids_sent_to(nodes[1])) == 3)
        assert ids_sent_to(nodes[1])[2:] == [owed[1]]
        answer(nodes[0], owed[1])  # a late answer from the lost node: dropped
        answer(nodes[1], *ids_sent_to(nodes[1]))
        assert qdl.failure is None
        (loss,) = qdl.losses
        assert loss.address == "mock:0" and "connection reset" in loss.reason
        assert loss.resent == 1 and qdl.samples_resent == 1
        assert qdl.late_answers_dropped == 1
        assert qdl.name() == (
            "Network SUT: 2 node(s): [node node-0 at mock:0: taken out of the run], node-1"
        )
        qdl.issue_query(queries([[4, 5]], first_id=5)[0])  # later queries skip the lost node
        assert len(ids_sent_to(nodes[0])) == 2
        assert ids_sent_to(nodes[1])[3:] == [5, 6]
        answer(nodes[1], 5, 6)
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1}
    assert recording.aborts == []


def test_redispatch_fails_the_run_when_the_last_node_is_lost(recording):
    nodes = [mock(0), mock(1)]
    config = DispatchConfig(on_node_loss="redispatch")
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config) as qdl:
        qdl.issue_query(queries([[0, 1]])[0])
        nodes[0].break_stream()
        wait_until(lambda: len(ids_sent_to(nodes[1])) == 2)
        nodes[1].break_stream()
        assert qdl.failure is not None and "mock:1" in str(qdl.failure)
    assert recording.completed_ids() == {1: 1, 2: 1}
    assert len(recording.aborts) == 1


def test_a_hung_sample_under_redispatch_loses_its_node_and_is_answered_elsewhere(recording):
    clock = VirtualClock()
    nodes = [mock(0), mock(1)]
    config = DispatchConfig(timeouts=Timeouts(response=60.0, sample=1.0), on_node_loss="redispatch")
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config, clock=clock) as qdl:
        qdl.issue_query(queries([[0, 1, 2, 3]])[0])
        hung, later = ids_sent_to(nodes[0])
        answer(nodes[0], later)
        answer(nodes[1], *ids_sent_to(nodes[1]))
        assert qdl.check_progress() is None
        clock.advance(1_000_000_001)
        assert isinstance(qdl.check_progress(), ResponseTimeout)
        wait_until(lambda: hung in ids_sent_to(nodes[1]))
        answer(nodes[1], hung)
        assert qdl.failure is None and qdl.samples_resent == 1
        assert "sample index" in qdl.losses[0].reason
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1, 4: 1}


def test_a_backend_error_fails_the_run_under_either_policy(recording):
    nodes = [mock(0), mock(1)]
    config = DispatchConfig(on_node_loss="redispatch")
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config) as qdl:
        qdl.issue_query(queries([[0, 1]])[0])
        (rid,) = ids_sent_to(nodes[0])
        nodes[0].respond(
            pb.ResponseBatch(results=[pb.SampleResult(response_id=rid, error="bad input")])
        )
        assert qdl.failure is not None and "bad input" in str(qdl.failure)


def test_an_unknown_policy_is_a_config_error():
    with pytest.raises(ValueError, match="unknown node-loss policy 'retry'"):
        DispatchConfig(on_node_loss="retry")
