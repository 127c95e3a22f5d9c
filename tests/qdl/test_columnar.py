"""The QDL's side of the columnar wire: a ResultColumns block it cannot trust ends the run with a
ProtocolError naming the node (never a crash, never a sample completed twice), and nodes that do
not announce the form never get it."""

from __future__ import annotations

import numpy as np

from protos.v1 import columns
from protos.v1 import sut_node_pb2 as pb
from qdl import ProtocolError, QueryDispatchLibrary

from .conftest import loaded_qsl, queries
from .echo_node import EchoNode, serve


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
