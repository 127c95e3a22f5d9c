"""The hand-built ResponseBatch bytes parse to exactly what protobuf would have built."""

from __future__ import annotations

import pytest

from protos.v1 import sut_node_pb2 as pb
from sut_server._encode import encode_response, varint
from sut_server._work import FINAL, Result

FIRST = pb.SampleResult.KIND_FIRST_TOKEN


@pytest.mark.parametrize("value", [1, 127, 128, 300, 16383, 16384, 2**32, 2**64 - 1])
def test_varint_matches_protobuf(value):
    # A uint64 field holding ``value`` is its tag byte (0x08) followed by the varint.
    assert b"\x08" + varint(value) == pb.FlushReply(pending=value).SerializeToString()
    assert varint(0) == b"\x00"


@pytest.mark.parametrize(
    "results",
    [
        [],
        [(1, FINAL, b"x", 0, "", 10, 15, 20, 30)],
        [(2**64 - 1, FIRST, b"\x00" * 200, 1, "", 1, 2, 2, 3)],
        [(5, FINAL, b"", 0, "zstd payload cannot be decompressed: ü", 4, 4, 5, 6)],
        [(i, FINAL, bytes([i % 256]) * (i * 997), i, "", i, i, i + 1, i + 2) for i in range(40)],
    ],
)
def test_encoded_batch_equals_the_protobuf_one(results):
    sent = 123_456_789_012
    expected = pb.ResponseBatch()
    for r in results:
        expected.results.add(
            response_id=r[0], kind=r[1], payload=r[2], n_tokens=r[3], error=r[4],
            timing=pb.NodeTiming(
                received_ns=r[5], picked_ns=r[6], decompressed_ns=r[7], computed_ns=r[8],
                sent_ns=sent,
            ),
        )  # fmt: skip
    results = [Result(*fields, work=None) for fields in results]
    assert pb.ResponseBatch.FromString(encode_response(results, sent)) == expected
