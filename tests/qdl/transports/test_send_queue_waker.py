"""The event-loop side of the gRPC transport: the send queue's take_nowait never blocks and its
waker fires exactly when an idle consumer has something new; the loop thread is shared."""

from __future__ import annotations

import threading

from qdl import DispatchConfig, QueryDispatchLibrary
from qdl.transports import OutgoingMessage, SendQueue

from ..conftest import loaded_qsl, queries


def msg(n: int) -> OutgoingMessage:
    return OutgoingMessage(b"x" * n, 1, 0)


def test_the_waker_fires_once_after_an_empty_take_and_not_while_the_consumer_is_busy():
    q = SendQueue(max_bytes=1000)
    wakes = []
    q.set_waker(lambda: wakes.append(1))
    q.put(msg(10), 1.0)
    assert wakes == []  # the consumer never said it was idle
    assert q.take_nowait() is not None
    assert q.take_nowait() is None  # empty: the consumer goes to sleep
    q.put(msg(10), 1.0)
    q.put(msg(10), 1.0)
    assert wakes == [1]  # one wake for the first message, none for the second
    assert q.take_nowait() is not None and q.take_nowait() is not None
    assert q.statistics().messages == 0 and q.statistics().bytes == 0


def test_close_wakes_an_idle_consumer_and_take_nowait_drains_what_is_left():
    q = SendQueue(max_bytes=1000)
    wakes = []
    q.set_waker(lambda: wakes.append(1))
    assert q.take_nowait() is None
    q.close()
    assert wakes == [1] and q.closed
    q2 = SendQueue(max_bytes=1000)
    q2.put(msg(5), 1.0)
    q2.close()
    assert q2.take_nowait() is not None  # what was queued before close still goes out
    assert q2.take_nowait() is None and q2.closed


def test_take_nowait_makes_room_for_a_blocked_producer():
    q = SendQueue(max_bytes=100)
    q.put(msg(80), 1.0)
    done = threading.Event()

    def producer():
        assert q.put(msg(80), 5.0)
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not done.wait(0.1)  # full: the producer waits
    assert q.take_nowait() is not None
    assert done.wait(5)
    thread.join()


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "qdl-grpc-loop"]


def test_open_transports_share_one_loop_thread_that_ends_with_the_last_close(recording, echo_nodes):
    (_, addr_a), (_, addr_b) = echo_nodes(2)
    assert loop_threads() == []
    config = DispatchConfig(streams_per_node=2)
    first = QueryDispatchLibrary.over_grpc([addr_a], loaded_qsl(), recording, config)
    second = QueryDispatchLibrary.over_grpc([addr_b], loaded_qsl(), recording, config)
    with first, second:
        assert len(loop_threads()) == 1
        first.issue_query(queries([[0, 1, 2]])[0])
        second.issue_query(queries([[3]], first_id=10)[0])
        recording.wait_for(4)
        first.close()
        assert len(loop_threads()) == 1  # still serving the second QDL
        second.issue_query(queries([[4]], first_id=20)[0])
        recording.wait_for(5)
    assert loop_threads() == []
    assert sorted(recording.completed_ids()) == [1, 2, 3, 10, 20]
