"""ResponseBatch encoding without copying payloads through protobuf.

Building a ResponseBatch with protobuf copies every payload into the message and again into the
serialized bytes; for 150 KB samples that costs ~10x more than the rest of the encoding. Here each
SampleResult is serialized by protobuf WITHOUT its payload, and the payload field (number 3,
length-delimited) is appended by hand: protobuf parsers accept fields in any order, so the bytes
parse to exactly the message protobuf would have built. The payload is copied once, by the join.

``encode_columns`` writes the same results as one ``ResultColumns`` block (for clients that sent
columns): a list per field and a numpy array per column, no protobuf object per result.
"""

from __future__ import annotations

from collections.abc import Sequence

from protos.v1 import sut_node_pb2 as pb
from protos.v1.columns import result_block, varint

from ._work import Result

COLUMNS_FROM = 4
"""A ResponseBatch goes as ResultColumns (to a client that reads them) from this many results on;
below, protobuf's C serializer beats packing a handful of rows in Python (measured: writing and
reading 4 results of 256 B costs about the same in either form, 16 half as much in columns)."""
COLUMNS_UP_TO_BYTES = 16 * 1024
"""A ResponseBatch goes as ResultColumns only when its payloads average at most this many bytes:
large payloads dwarf the per-result work the form saves, and cost the reader one more copy (upb
hands the payloads field over whole before it is cut up)."""

_RESULTS_TAG = b"\x0a"  # ResponseBatch.results: field 1, wire type 2 (length-delimited)
_PAYLOAD_TAG = b"\x1a"  # SampleResult.payload: field 3, wire type 2
_SampleResult = pb.SampleResult


def encode_response(results: Sequence[Result], sent_ns: int) -> bytes:
    """Serialize a ResponseBatch of ``results``, all stamped ``sent_ns``."""
    parts: list[bytes] = []
    add = parts.append
    for r in results:
        head = _SampleResult(
            response_id=r.response_id,
            kind=r.kind,
            n_tokens=r.n_tokens,
            error=r.error,
            timing={
                "received_ns": r.received_ns,
                "picked_ns": r.picked_ns,
                "decompressed_ns": r.decompressed_ns,
                "computed_ns": r.computed_ns,
                "sent_ns": sent_ns,
            },
        ).SerializeToString()
        payload = r.payload
        add(_RESULTS_TAG)
        if payload:
            size = varint(len(payload))
            add(varint(len(head) + 1 + len(size) + len(payload)))
            add(head)
            add(_PAYLOAD_TAG)
            add(size)
            add(payload)
        else:
            add(varint(len(head)))
            add(head)
    return b"".join(parts)


def encode_columns(results: Sequence[Result], sent_ns: int) -> bytes:
    """Serialize a ResponseBatch holding ``results`` as one columnar block, sent ``sent_ns``."""
    return result_block(
        [r.response_id for r in results],
        [r.kind for r in results],
        [r.payload for r in results],
        [r.n_tokens for r in results],
        (
            [r.received_ns for r in results],
            [r.picked_ns for r in results],
            [r.decompressed_ns for r in results],
            [r.computed_ns for r in results],
        ),
        sent_ns,
        [(k, r.error) for k, r in enumerate(results) if r.error],
    )
