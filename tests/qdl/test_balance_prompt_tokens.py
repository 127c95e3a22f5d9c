"""Prompt-token balancing: the node with the fewest outstanding prompt tokens gets a sample."""

from __future__ import annotations

import numpy as np

from protos.v1 import sut_node_pb2 as pb
from qdl import DispatchConfig, QueryDispatchLibrary, TokenQSL
from qdl._balance import PromptTokens, make_balancer

from .conftest import queries
from .test_balance import spread, transports
from .test_dispatch import mock
from .test_redispatch import answer, ids_sent_to, wait_until


def test_prompt_tokens_picks_the_node_owing_the_fewest_tokens():
    balancer = make_balancer("prompt-tokens", [0.0, 0.0, 0.0], ["a", "b", "c"])
    assert isinstance(balancer, PromptTokens) and balancer.load == "prompt-tokens"
    assert balancer.choose([900, 40, 300]) == 1
    balancer = PromptTokens(2)
    load = [0, 0]
    picks = []
    for weight in (1000, 10, 10, 10, 2000, 10):
        node = balancer.choose(load)
        load[node] += weight
        picks.append(node)
    # The long prompt keeps node 0 busy: the short ones go to node 1 until it owes more.
    assert picks == [0, 1, 1, 1, 1, 0]
    assert make_balancer("least-outstanding", [0.0], ["a"]).load == "samples"


def token_qsl(lengths):
    prompts = [np.arange(n, dtype=np.int32) for n in lengths]
    qsl = TokenQSL(prompts, "test")
    qsl.load_samples_to_ram(list(range(len(prompts))))
    return qsl


def test_a_long_prompt_weighs_its_node_down(recording):
    lengths = [1000, 10, 10, 10, 10, 10, 10, 10]
    for policy, expected in (("prompt-tokens", [1, 7]), ("least-outstanding", [4, 4])):
        nodes = transports([1, 1])  # they never answer: everything stays outstanding
        config = DispatchConfig(balance=policy)
        with QueryDispatchLibrary(nodes, token_qsl(lengths), recording, config) as qdl:
            for q in queries([[i] for i in range(len(lengths))]):
                qdl.issue_query(q)
        assert spread(nodes) == expected, policy


def test_answers_give_a_node_its_tokens_back(recording):
    def answer(batch):
        return pb.ResponseBatch(
            results=[pb.SampleResult(response_id=s.response_id) for s in batch.samples]
        )

    # Node 0 answers everything at once; node 1 never answers. After node 1 takes a
    # 50-token prompt, node 0 owes nothing each time, so it gets every later prompt.
    fast, slow = transports([1, 1], handlers=[answer, lambda batch: None])
    lengths = [60, 50, 60, 60, 60, 60]
    config = DispatchConfig(balance="prompt-tokens")
    with QueryDispatchLibrary([fast, slow], token_qsl(lengths), recording, config) as qdl:
        for q in queries([[i] for i in range(len(lengths))]):
            qdl.issue_query(q)
    assert spread([fast, slow]) == [5, 1]


def test_a_lost_nodes_prompts_move_with_their_tokens(recording):
    nodes = [mock(0), mock(1), mock(2)]
    config = DispatchConfig(balance="prompt-tokens", on_node_loss="redispatch")
    with QueryDispatchLibrary(nodes, token_qsl([100, 10, 50, 5]), recording, config) as qdl:
        for q in queries([[0], [1], [2]]):
            qdl.issue_query(q)
        assert [ids_sent_to(n) for n in nodes] == [[1], [2], [3]]
        nodes[0].break_stream("connection reset")  # it owed the 100-token prompt
        # It goes to the node owing fewer tokens (node 1: 10, node 2: 50).
        wait_until(lambda: ids_sent_to(nodes[1]) == [2, 1])
        qdl.issue_query(queries([[3]], first_id=4)[0])
        # Node 1 now owes 110 tokens, node 2 50: the 5-token prompt goes to node 2.
        assert ids_sent_to(nodes[2]) == [3, 4]
        answer(nodes[1], 2, 1)
        answer(nodes[2], 3, 4)
        assert qdl.failure is None
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1, 4: 1}
