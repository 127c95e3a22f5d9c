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

The columnar form (``SampleColumns``/``ResultColumns``, for nodes that announce it) is built and
read by ``protos.v1.columns``; the payload is the template's last field, so a block joins a
view of it without copying the template apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from protos.v1 import sut_node_pb2 as pb
from protos.v1.columns import (
    MAX_BLOCK_BYTES,
    MAX_ROW_BYTES,
    READS_COLUMNS,
    ResultRows,
    read_results,
    varint,
)

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
_PAYLOAD_TAG = b"\x1a"  # Sample.payload: field 3, length-delimited

MAX_SAMPLE_FRAMING = 1 + 10 + 1 + 5 + 1 + 5
"""Upper bound of the bytes a sample adds to a SampleBatch beyond its template: the samples
tag, the response_id tag and varint (<= 10 bytes), the length varint (<= 5 bytes) and, on a
unit's first sample, the unit_samples tag and varint (<= 5 bytes)."""


def sample_template(
    sample_index: int,
    payload: bytes,
    compression: int,
    uncompressed_size: int,
    dtype: str,
    shape: Sequence[int],
) -> bytes:
    """A serialized ``lon.v1.Sample`` with every field but ``response_id``; the payload is its
    last field (``payload_view``)."""
    head = pb.Sample(
        sample_index=sample_index,
        compression=compression,  # type: ignore[arg-type]
        uncompressed_size=uncompressed_size,
        dtype=dtype,
        shape=shape,
    ).SerializeToString()
    if not payload:
        return bytes(head)
    return b"".join([head, _PAYLOAD_TAG, varint(len(payload)), payload])


def payload_view(template: bytes, payload_size: int) -> bytes | memoryview:
    """The payload of a ``sample_template`` of a ``payload_size``-byte payload, not copied;
    -1: the size is unknown (a template made elsewhere), so it is parsed out."""
    if payload_size < 0:
        return sample_payload(template)
    return memoryview(template)[len(template) - payload_size :]


def column_bytes(template: bytes, rank: int) -> int:
    """Upper bound of what a sample adds to a columnar block (its payload, dtype and shape are
    in the template, its dimensions take 8 bytes each)."""
    return len(template) + MAX_ROW_BYTES + 8 * rank


STREAM_METADATA = (READS_COLUMNS,)
"""What a columnar QDL's Infer streams open with: it reads ResultColumns."""

COLUMNS_FROM = 16
"""Under "auto", a unit goes as columns from this many samples on; smaller ones go classic: a
unit's templates joined (above) cost less than packing a few rows into columns in Python, and
a node reads them about as fast (measured: 4 units of 16 samples of 256 B, ~70 us either way).
Every unit goes as columns under "columnar"."""

COLUMNS_UP_TO_BYTES = 16 * 1024
"""Under "auto", only units whose samples average at most this many bytes go as columns: the
form saves per-sample work, which large payloads dwarf, and reading a block costs the node one
more copy of its payloads (upb hands the payloads field over whole before it is cut up)."""

BLOCK_FRAMING = MAX_BLOCK_BYTES
"""Upper bound of a columnar block's framing beyond its rows."""


def result_rows(block: pb.ResultColumns) -> ResultRows:
    """A ``ResultColumns`` block read back; ValueError saying what is wrong with it."""
    return read_results(block)


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
