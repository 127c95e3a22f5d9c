"""Per-node accounting: exact figures from known stamps, and a few bytes per sample held."""

from __future__ import annotations

from qdl._accounting import NodeAccount, _Column, message_histogram
from qdl._wire import NodeTiming
from qdl.transports import NodeDescription


def _account() -> NodeAccount:
    return NodeAccount(NodeDescription("127.0.0.1:1", "n"))


def test_the_parts_of_each_sample_time_are_exact():
    account = _account()
    full = NodeTiming(
        received_ns=1_000, picked_ns=1_500, decompressed_ns=3_000, computed_ns=7_000, sent_ns=8_000
    )
    bare = NodeTiming()  # a node that stamps nothing: round trip only
    account.received(100, [(10_000, full), (20_000, bare)])
    timing = account.report()["timing_ms"]
    assert timing["round_trip"] == {"count": 2, "median": 0.015, "p99": 0.0199, "mean": 0.015}
    assert timing["node"]["count"] == 1 and timing["node"]["mean"] == 0.007
    assert timing["network"]["mean"] == 0.003
    assert timing["queueing"]["mean"] == 0.0005
    assert timing["decompression"]["mean"] == 0.0015
    assert timing["compute"]["mean"] == 0.004
    assert timing["sending"]["mean"] == 0.001


def test_a_node_without_the_picked_stamp_has_no_queueing_and_decodes_from_received():
    account = _account()
    t = NodeTiming(received_ns=1_000, decompressed_ns=3_000, computed_ns=7_000, sent_ns=8_000)
    account.received(100, [(10_000, t)])
    timing = account.report()["timing_ms"]
    assert timing["queueing"] is None
    assert timing["decompression"]["mean"] == 0.002
    assert timing["sending"]["mean"] == 0.001


def test_round_trips_since_reads_across_spilled_blocks():
    account = _account()
    n = _Column.SPILL * 2 + 10
    account.received(10, [(i, NodeTiming()) for i in range(n)])
    account.received(10, [(n, NodeTiming())])
    assert list(account.round_trips_since(0)) == list(range(n + 1))
    assert list(account.round_trips_since(_Column.SPILL + 3)) == list(
        range(_Column.SPILL + 3, n + 1)
    )
    assert list(account.round_trips_since(n)) == [n]
    assert len(account.round_trips_since(n + 1)) == 0


def test_what_is_kept_per_sample_is_20_bytes_of_numpy_however_many_samples():
    account = _account()
    t = NodeTiming(received_ns=1, picked_ns=2, decompressed_ns=3, computed_ns=4, sent_ns=5)
    n = 7 * 3000
    for _ in range(n // 7):
        account.received(10, [(123_456_789, t)] * 7)
    columns = account._columns
    waiting = len(columns[0]._fill)
    assert waiting < _Column.SPILL and all(len(c._fill) == waiting for c in columns)
    held = sum(b.nbytes for c in columns for b in c._blocks)
    assert held == 20 * (n - waiting)  # 5 float32 values a sample; the rest in a short list
    assert account.report()["timing_ms"]["round_trip"]["count"] == n


def test_message_histogram_buckets_by_powers_of_two():
    h = message_histogram({1: 6, 2: 1, 3: 1, 9: 2})
    assert h["messages"] == 10 and h["samples"] == 29 and h["max"] == 9
    assert h["buckets"] == {"1": 6, "2-3": 2, "8-15": 2}
    assert h["mean"] == 2.9
