"""The wire format, in one module: every message the QDL sends or reads goes through here.

Nothing else in ``qdl`` imports the generated protobuf code: the transports, the dispatcher,
the QSLs and the accounting use the names below (message types, enum values, encoders and
decoders), so a change of contract shows up in one file.

Fast SampleBatch encoding: each loaded sample is serialized once, at load time (untimed).
A protobuf message may be written as the concatenation of its fields in any order, so a
``lon.v1.Sample`` is the sample's fixed fields (serialized by protobuf when the QSL loads it)
preceded by its ``response_id``, the only field that changes per issue. Building a SampleBatch
at issue time is then one ``bytes.join`` instead of constructing and serializing protobuf
objects, which copies large payloads several times. The result is ordinary protobuf: any
decoder (the node's) reads it as the same message.
"""

from __future__ import annotations

from collections.abc import Sequence

from protos.v1 import sut_node_pb2 as pb

SampleBatch = pb.SampleBatch
ResponseBatch = pb.ResponseBatch
SampleResult = pb.SampleResult
NodeInfo = pb.NodeInfo
NodeTiming = pb.NodeTiming
"""The message types, for annotations and for the fake transport's answers."""

FIRST_TOKEN = pb.SampleResult.KIND_FIRST_TOKEN
"""``SampleResult.kind`` of a first token sent ahead of the final answer."""

COMPRESSION_VALUE = {"none": pb.COMPRESSION_NONE, "zstd": pb.COMPRESSION_ZSTD}
"""Algorithm name -> the ``lon.v1.Compression`` enum value on the wire."""

_RESPONSE_ID_TAG = b"\x08"  # field 1, varint
_UNIT_SAMPLES_TAG = b"\x40"  # Sample.unit_samples: field 8, varint
_SAMPLES_TAG = b"\x0a"  # SampleBatch.samples: field 1, length-delimited

MAX_SAMPLE_FRAMING = 1 + 10 + 1 + 5 + 1 + 5
"""Upper bound of the bytes a sample adds to a SampleBatch beyond its template: the samples
tag, the response_id tag and varint (<= 10 bytes), the length varint (<= 5 bytes) and, on a
unit's first sample, the unit_samples tag and varint (<= 5 bytes)."""


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer below 2**64."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def sample_template(
    sample_index: int,
    payload: bytes,
    compression: int,
    uncompressed_size: int,
    dtype: str,
    shape: Sequence[int],
) -> bytes:
    """A serialized ``lon.v1.Sample`` with every field but ``response_id``."""
    sample = pb.Sample(
        sample_index=sample_index,
        payload=payload,
        compression=compression,  # type: ignore[arg-type]
        uncompressed_size=uncompressed_size,
        dtype=dtype,
        shape=shape,
    )
    return bytes(sample.SerializeToString())  # bytes(b) is b: no copy


def sample_batch(items: Sequence[tuple[int, bytes]]) -> bytes:
    """A serialized ``lon.v1.SampleBatch`` of (response_id, sample template) pairs, in order:
    one unit (its first sample says how many it holds). Such batches concatenated are the
    SampleBatch holding them all, each unit still marked."""
    parts: list[bytes] = []
    append = parts.append
    head = _UNIT_SAMPLES_TAG + varint(len(items))
    for response_id, template in items:
        rid = _RESPONSE_ID_TAG + varint(response_id)
        if head:
            rid += head
            head = b""
        append(_SAMPLES_TAG)
        append(varint(len(rid) + len(template)))
        append(rid)
        append(template)
    return b"".join(parts)


def sample_payload(template: bytes) -> bytes:
    """The payload field of a serialized ``lon.v1.Sample`` (e.g. a ``sample_template``)."""
    return bytes(pb.Sample.FromString(template).payload)


def parse_sample_batch(data: bytes) -> SampleBatch:
    """A serialized ``lon.v1.SampleBatch`` (what a node reads)."""
    return pb.SampleBatch.FromString(data)


def parse_response_batch(data: bytes) -> ResponseBatch:
    """A serialized ``lon.v1.ResponseBatch``; ValueError saying why if it does not parse."""
    try:
        return pb.ResponseBatch.FromString(data)
    except Exception as exc:  # protobuf's DecodeError, which is no ValueError
        raise ValueError(f"unparsable ResponseBatch ({exc})") from exc


def describe_request() -> pb.DescribeRequest:
    """The request of the Describe RPC."""
    return pb.DescribeRequest()


def flush_request() -> pb.FlushRequest:
    """The request of the Flush RPC."""
    return pb.FlushRequest()
