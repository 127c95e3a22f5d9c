"""The bounded send queue: blocks while full, fails only on a stall, and reports its depth."""

from __future__ import annotations

import collections
import threading
import time

import pytest

from qdl import DispatchConfig, IssueTimeout, Limits, QueryDispatchLibrary, Timeouts
from qdl.transports import OutgoingMessage, SendQueue

from ..conftest import loaded_qsl, queries


def msg(n: int) -> OutgoingMessage:
    return OutgoingMessage(b"x" * n, 1, 0)


def test_put_blocks_while_full_and_a_slow_consumer_never_trips_the_stall_timeout():
    q = SendQueue(max_bytes=100)
    for _ in range(10):
        assert q.put(msg(10), 0.1)
    assert q.put(msg(100), 0.1) is False  # full, and nobody takes anything: a stall
    taken = []

    def slow_consumer():  # one message every 0.1 s: progress, but room only after all ten
        for _ in range(11):
            time.sleep(0.1)
            taken.append(q.get())

    consumer = threading.Thread(target=slow_consumer)
    consumer.start()
    t0 = time.monotonic()
    # The put waits at least 1 s in all, longer than its stall timeout: each message taken
    # restarts it. (Only a consumer stopped for 0.8 s on end would make this put fail.)
    assert q.put(msg(100), 0.9)
    assert time.monotonic() - t0 >= 0.9  # so it did not go in before the queue was empty
    consumer.join()
    assert len(taken) == 11 and q.statistics().messages == 0
    assert q.statistics().peak_bytes == 100


def test_an_oversized_message_still_fits_an_empty_queue_and_close_wakes_everyone():
    q = SendQueue(max_bytes=10)
    assert q.put(msg(50), 0.1)
    result = []
    waiter = threading.Thread(target=lambda: result.append(q.put(msg(5), 10)))
    waiter.start()
    time.sleep(0.05)
    q.close()
    waiter.join(2)
    assert result == [False]
    assert q.get() is not None  # what was queued is still handed out
    assert q.get() is None


def test_a_node_that_stops_reading_ends_the_run_with_an_issue_timeout(recording, echo_nodes):
    ((node, address),) = echo_nodes(1, name="stuck")
    node.hold.set()  # the node takes one batch, then reads nothing more
    qsl = loaded_qsl(count=8, shape=(64, 1024))  # 64 KiB samples
    config = DispatchConfig(
        limits=Limits(max_queued_bytes=256 * 1024), timeouts=Timeouts(issue=0.5, response=30)
    )
    t0 = time.monotonic()
    with QueryDispatchLibrary.over_grpc([address], qsl, recording, config) as qdl:
        issued = 0
        while qdl.failure is None and issued < 400:
            qdl.issue_query(queries([[issued % 8]], first_id=issued + 1)[0])
            issued += 1
        failure = qdl.failure
        stats = qdl.statistics()
        node.hold.clear()
    assert time.monotonic() - t0 < 60  # it ends, rather than hanging on the stuck node
    assert isinstance(failure, IssueTimeout)
    assert f"node stuck at {address}: send queue full" in str(failure)
    assert stats.nodes[0].transport.peak_queued_bytes <= 256 * 1024 + 70 * 1024
    assert recording.completed_ids() == collections.Counter(range(1, issued + 1))


@pytest.mark.parametrize("streams", [1, 2])
def test_queue_statistics_are_visible(recording, echo_nodes, streams):
    ((_, address),) = echo_nodes(1)
    config = DispatchConfig(streams_per_node=streams, framing="per-query")
    with QueryDispatchLibrary.over_grpc([address], loaded_qsl(), recording, config) as qdl:
        for q in queries([[i] for i in range(6)]):
            qdl.issue_query(q)
        recording.wait_for(6)
        t = qdl.statistics().nodes[0].transport
    assert t.streams == streams and t.queued_messages == 0 and t.messages_sent == 6
    assert t.peak_queued_bytes > 0 and t.messages_received == 6
