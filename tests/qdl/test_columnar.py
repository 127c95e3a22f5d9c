"""The QDL's side of the columnar wire: a ResultColumns block it cannot trust ends the run with a
ProtocolError naming the node (never a crash, never a sample completed twice), and nodes that do
not announce the form never get it."""

from __future__ import annotations

import threading

import numpy as np

from protos.v1 import columns
from protos.v1 import sut_node_pb2 as pb
from qdl import (
    BackendError,
    DispatchConfig,
    MockTransport,
    NodeDescription,
    ProtocolError,
    QueryDispatchLibrary,
)

from .conftest import loaded_qsl, queries
from .echo_node import EchoNode, serve
from .test_dispatch import mock


class BadColumnsNode(EchoNode):
    """Answers in a ResultColumns block whose payload offsets run past its payloads."""

    def _answer(self, unit, decompressor) -> pb.ResponseBatch:
        ids = [s.response_id for s in unit]
        data = columns.result_block(ids, [0] * len(ids), [b"x"] * len(ids), [0] * len(ids),
                                    [[1] * len(ids)] * 4, 2)  # fmt: skip
        batch = pb.ResponseBatch.FromString(data)
        batch.columns[0].payload_ends = np.full(len(ids), 1000, dtype="<u8").tobytes()
        return batch


def test_a_malformed_result_block_ends_the_run_naming_the_node(recording):
    node = BadColumnsNode("liar")
    qsl = loaded_qsl(count=8)
    with serve(node) as address, QueryDispatchLibrary.over_grpc([address], qsl, recording) as qdl:
        qdl.issue_query(queries([[1, 2, 3]])[0])
        recording.wait_for(3)
        failure = qdl.failure
    assert isinstance(failure, ProtocolError), failure
    assert "node liar" in str(failure) and "malformed ResultColumns" in str(failure)
    assert failure.node == address
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1}  # each completed once, by the abort
    assert all(payload == b"" for _, payload, _ in recording.completions)


def test_a_node_that_does_not_announce_columns_gets_classic_samples(echo_nodes, recording):
    ((node, address),) = echo_nodes(1)
    qsl = loaded_qsl(count=8)
    with QueryDispatchLibrary.over_grpc([address], qsl, recording) as qdl:
        qdl.issue_query(queries([[1, 2, 3]])[0])
        recording.wait_for(3)
    assert node.batches and all(not b.columns and b.samples for b in node.batches)


def _columns_handler(fail_index=None):
    """A node in-process: reads each unit's columns and answers every sample with a first token
    and then a final of 5 tokens (the sample's payload), in ResultColumns blocks."""

    def handle(batch):
        assert not batch.samples  # wire "columnar": every unit as columns
        out = []
        for b in batch.columns:
            rows = columns.read_samples(b)
            n = len(rows)
            stamps = [[1] * n, [2] * n, [3] * n, [4] * n]
            ids = rows.response_ids
            first = columns.result_block(ids, [1] * n, [b"t"] * n, [1] * n, stamps, 5)
            errors = [(k, "bad") for k, i in enumerate(rows.sample_indices) if i == fail_index]
            final = columns.result_block(ids, [0] * n, rows.payloads, [5] * n, stamps, 9, errors)
            out += [pb.ResponseBatch.FromString(first), pb.ResponseBatch.FromString(final)]
        return out

    return handle


def _columnar_qdl(handler, recording, qsl):
    transport = MockTransport(
        handler, description=NodeDescription(address="mock:1", name="cols", columnar=True)
    )
    return QueryDispatchLibrary([transport], qsl, recording, DispatchConfig(wire="columnar"))


def test_first_tokens_token_counts_and_stamps_travel_in_columns(recording):
    qsl = loaded_qsl(count=8, shape=(2, 3), dtype="int16")
    with _columnar_qdl(_columns_handler(), recording, qsl) as qdl:
        for q in queries([[0], [1, 2, 3], list(range(8))]):
            qdl.issue_query(q)
        recording.wait_for(12)
        reports = qdl.node_reports()
        assert qdl.failure is None
    assert sorted(rid for rid, _, _ in recording.first_tokens) == list(range(1, 13))
    assert all(n == 5 for _, _, n in recording.completions)
    index_of = {s.id: s.index for q in queries([[0], [1, 2, 3], list(range(8))]) for s in q}
    for rid, payload, _ in recording.completions:
        assert payload == qsl.encoded(index_of[rid]).payload
    assert reports[0]["wire"] == "columnar" and reports[0]["samples"] == 12
    assert reports[0]["timing_ms"]["compute"] is not None  # computed - decompressed, from columns


def test_an_error_row_ends_the_run_naming_node_and_sample(recording):
    qsl = loaded_qsl(count=8)
    with _columnar_qdl(_columns_handler(fail_index=6), recording, qsl) as qdl:
        qdl.issue_query(queries([[5, 6, 7]])[0])
        recording.wait_for(3)
        failure = qdl.failure
    assert isinstance(failure, BackendError), failure
    assert (
        "node cols" in str(failure) and "sample index 6" in str(failure) and "bad" in str(failure)
    )
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1}


def _rows_sent(node):
    return [
        rid
        for batch in node.received
        for b in batch.columns
        for rid in columns.read_samples(b).response_ids
    ]


def _answer_columns(node, *rids, kind=0):
    n = len(rids)
    data = columns.result_block(rids, [kind] * n, [b""] * n, [0] * n, [[0] * n] * 4, 0)
    node.respond(pb.ResponseBatch.FromString(data))


def test_redispatch_resends_in_columns_and_drops_a_lost_nodes_late_columns(recording):
    nodes = [mock(0, columnar=True), mock(1, columnar=True)]
    config = DispatchConfig(on_node_loss="redispatch", wire="columnar")
    with QueryDispatchLibrary(nodes, loaded_qsl(), recording, config) as qdl:
        qdl.issue_query(queries([[0, 1, 2, 3]])[0])
        owed = _rows_sent(nodes[0])
        assert len(owed) == 2 and all(not b.samples for b in nodes[0].received)
        nodes[0].break_stream("connection reset")
        for _ in range(3000):
            if len(_rows_sent(nodes[1])) == 4:
                break
            threading.Event().wait(0.01)
        assert sorted(_rows_sent(nodes[1])[2:]) == sorted(owed)
        _answer_columns(nodes[0], *owed)  # late, from the lost node: dropped
        _answer_columns(nodes[1], *_rows_sent(nodes[1]))
        assert qdl.failure is None and qdl.late_answers_dropped == 2
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1, 4: 1}


def test_auto_sends_columns_only_for_units_of_many_small_samples(recording):
    small = loaded_qsl(count=32, shape=(256,))
    large = loaded_qsl(count=32, shape=(20_000,))
    for qsl, sizes, expected in [
        (small, [1, 15], []),
        (small, [16, 32], [16, 32]),
        (large, [16, 32], []),
    ]:
        node = mock(0, columnar=True)
        with QueryDispatchLibrary([node], qsl, recording, DispatchConfig(wire="auto")) as qdl:
            for q in queries([list(range(n)) for n in sizes]):
                qdl.issue_query(q)
        assert [len(columns.read_samples(b)) for m in node.received for b in m.columns] == expected
        assert sum(len(m.samples) for m in node.received) == sum(sizes) - sum(expected)
