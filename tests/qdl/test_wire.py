"""The hand-assembled SampleBatch bytes are exactly what protobuf would make of them."""

from __future__ import annotations

import pytest

from protos.v1 import sut_node_pb2 as pb
from qdl._wire import MAX_SAMPLE_FRAMING, sample_batch, sample_template, varint


@pytest.mark.parametrize("n", [1, 127, 128, 300, 2**32, 2**64 - 1])
def test_varint_matches_protobuf(n):
    assert b"\x08" + varint(n) == pb.Sample(response_id=n).SerializeToString()
    assert pb.Sample.FromString(b"\x08" + varint(n)).response_id == n


def test_varint_of_zero_is_one_byte():
    assert varint(0) == b"\x00"


def test_sample_batch_parses_to_the_same_message():
    templates = [
        sample_template(7, b"\x00\x01" * 200, pb.COMPRESSION_NONE, 400, "uint16", (20, 10)),
        sample_template(0, b"", pb.COMPRESSION_ZSTD, 0, "", ()),
        sample_template(2**40, b"x" * 70000, pb.COMPRESSION_NONE, 70000, "uint8", (70000,)),
    ]
    ids = [1, 2**63 + 5, 129]
    data = sample_batch(list(zip(ids, templates)))
    expected = pb.SampleBatch(
        samples=[
            pb.Sample(response_id=1, sample_index=7, payload=b"\x00\x01" * 200,
                      uncompressed_size=400, dtype="uint16", shape=[20, 10], unit_samples=3),
            pb.Sample(response_id=2**63 + 5, compression=pb.COMPRESSION_ZSTD),
            pb.Sample(response_id=129, sample_index=2**40, payload=b"x" * 70000,
                      uncompressed_size=70000, dtype="uint8", shape=[70000]),
        ]
    )  # fmt: skip
    assert pb.SampleBatch.FromString(data) == expected
    assert len(data) == expected.ByteSize()
    assert len(data) <= sum(len(t) + MAX_SAMPLE_FRAMING for t in templates)


def test_concatenated_sample_batches_are_the_merged_message():
    """What opportunistic framing relies on: joined SampleBatch bytes parse as one SampleBatch
    holding every sample, in order, each unit still marked with its size."""
    a = sample_template(3, b"abc", pb.COMPRESSION_NONE, 3, "uint8", (3,))
    b = sample_template(4, b"\x00" * 300, pb.COMPRESSION_NONE, 300, "uint8", (300,))
    first = sample_batch([(10, a), (11, b)])
    second = sample_batch([(2**40, b)])
    merged = pb.SampleBatch.FromString(first + second)
    expected = pb.SampleBatch()
    expected.MergeFrom(pb.SampleBatch.FromString(first))
    expected.MergeFrom(pb.SampleBatch.FromString(second))
    assert merged == expected
    assert [s.response_id for s in merged.samples] == [10, 11, 2**40]
    assert [s.unit_samples for s in merged.samples] == [2, 0, 1]
    assert [s.sample_index for s in merged.samples] == [3, 4, 4]
    # The same holds for messages protobuf serialized itself.
    x = pb.SampleBatch(samples=[pb.Sample(response_id=1, payload=b"p")]).SerializeToString()
    y = pb.SampleBatch(samples=[pb.Sample(response_id=2, dtype="f")]).SerializeToString()
    assert [s.response_id for s in pb.SampleBatch.FromString(x + y).samples] == [1, 2]
