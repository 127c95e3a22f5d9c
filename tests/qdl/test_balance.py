"""Load balancing: the pure policies, and the exact spread they give through the QDL."""

from __future__ import annotations

import collections

import pytest

from protos.v1 import sut_node_pb2 as pb
from qdl import ConfigError, DispatchConfig, MockTransport, NodeDescription, QueryDispatchLibrary
from qdl._balance import LeastOutstanding, RoundRobin, Weighted, make_balancer

from .conftest import loaded_qsl, queries


def test_round_robin_ignores_load():
    rr = RoundRobin(3)
    assert [rr.choose([9, 0, 0]) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_least_outstanding_picks_the_idlest_and_alternates_ties():
    lo = LeastOutstanding(3)
    assert lo.choose([5, 2, 7]) == 1
    assert lo.choose([5, 2, 2]) == 2  # tie between 1 and 2: the cursor is past 1 now
    load = [0, 0, 0]
    picks = []
    for _ in range(6):
        node = lo.choose(load)
        load[node] += 1
        picks.append(node)
    assert picks == [0, 1, 2, 0, 1, 2]


def test_weighted_gives_exact_interleaved_shares():
    w = Weighted([3, 1])
    picks = [w.choose([0, 0]) for _ in range(8)]
    assert picks == [0, 0, 1, 0, 0, 0, 1, 0]
    w = Weighted([5, 2, 1])
    picks = [w.choose([0, 0, 0]) for _ in range(80)]
    assert collections.Counter(picks) == {0: 50, 1: 20, 2: 10}


def test_weighted_needs_every_capacity():
    with pytest.raises(ConfigError, match="no capacity from: b at 2"):
        make_balancer("weighted", [1.0, 0.0], ["a at 1", "b at 2"])
    with pytest.raises(ConfigError, match="unknown balance policy"):
        DispatchConfig(balance="random")


def transports(capacities, handlers=None):
    out = []
    for i, capacity in enumerate(capacities):
        handler = handlers[i] if handlers else (lambda batch: None)
        address = f"mock:{i}"
        out.append(
            MockTransport(
                handler,
                address=address,
                description=NodeDescription(address=address, name=f"n{i}", capacity=capacity),
            )
        )
    return out


def spread(nodes):
    return [sum(len(b.samples) for b in n.received) for n in nodes]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("round-robin", [4, 4, 4]), ("least-outstanding", [4, 4, 4]), ("weighted", [6, 4, 2])],
)
def test_single_sample_queries_spread_exactly(recording, policy, expected):
    nodes = transports([3, 2, 1])
    config = DispatchConfig(balance=policy)
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config) as qdl:
        for q in queries([[i % 16] for i in range(12)]):
            qdl.issue_query(q)
    assert spread(nodes) == expected


def test_one_offline_query_is_split_across_nodes_by_policy(recording):
    nodes = transports([3, 1])
    config = DispatchConfig(balance="weighted")
    with QueryDispatchLibrary(nodes, loaded_qsl(count=16), recording, config) as qdl:
        qdl.issue_query(queries([list(range(16))])[0])
    assert spread(nodes) == [12, 4]
    # each node got one message holding its share, in issue order
    assert [len(n.received) for n in nodes] == [1, 1]


def test_least_outstanding_steers_away_from_a_slow_node(recording):
    def answer(batch):
        return pb.ResponseBatch(
            results=[pb.SampleResult(response_id=s.response_id) for s in batch.samples]
        )

    fast, slow = transports([1, 1], handlers=[answer, lambda batch: None])
    with QueryDispatchLibrary([fast, slow], loaded_qsl(), recording) as qdl:
        for q in queries([[0]] * 10):
            qdl.issue_query(q)
    # The slow node never answers: it gets one sample, then only the fast one is idlest.
    assert spread([fast, slow]) == [9, 1]


def test_round_robin_keeps_feeding_a_slow_node(recording):
    def answer(batch):
        return pb.ResponseBatch(
            results=[pb.SampleResult(response_id=s.response_id) for s in batch.samples]
        )

    fast, slow = transports([1, 1], handlers=[answer, lambda batch: None])
    config = DispatchConfig(balance="round-robin")
    with QueryDispatchLibrary([fast, slow], loaded_qsl(), recording, config) as qdl:
        for q in queries([[0]] * 10):
            qdl.issue_query(q)
    assert spread([fast, slow]) == [5, 5]
