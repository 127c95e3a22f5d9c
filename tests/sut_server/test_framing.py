"""A SampleBatch the QDL merged from several queued units: the node answers every sample once
with its own id and, without node-side batching, runs each unit as its own backend batch."""

from __future__ import annotations

import struct

from protos.v1 import sut_node_pb2 as pb
from qdl._wire import sample_batch, sample_template
from sut_server._work import units

from .conftest import sample

BATCH_SIZE = "tests.sut_server.plugins:BatchSize"


def _merged(*unit_sizes: int) -> pb.SampleBatch:
    """What the QDL's framing sends: the units' SampleBatch bytes joined."""
    rid = 1
    parts = []
    for size in unit_sizes:
        items = []
        for _ in range(size):
            items.append((rid, sample_template(rid, b"", 0, 0, "", ())))
            rid += 1
        parts.append(sample_batch(items))
    return pb.SampleBatch.FromString(b"".join(parts))


def test_a_merged_message_runs_unit_by_unit_without_node_batching(start_node):
    client = start_node(backend=BATCH_SIZE, workers=2)
    results = client.infer(_merged(1, 3, 1, 2))
    assert sorted(r.response_id for r in results) == list(range(1, 8))
    size_of = {r.response_id: struct.unpack("<ii", r.payload)[0] for r in results}
    assert size_of == {1: 1, 2: 3, 3: 3, 4: 3, 5: 1, 6: 2, 7: 2}
    assert client.node.statistics().batches == 4


def test_an_inline_backend_answers_every_sample_of_a_merged_message_once(echo):
    results = echo.infer(_merged(1, 1, 4, 1))
    assert sorted(r.response_id for r in results) == list(range(1, 8))


def test_units_split_at_the_markers_and_unmarked_batches_are_one_unit():
    merged = _merged(2, 1, 3).samples
    assert [[s.response_id for s in u] for u in units(merged)] == [[1, 2], [3], [4, 5, 6]]
    plain = [sample(i) for i in range(4)]
    assert [len(u) for u in units(plain)] == [4]
