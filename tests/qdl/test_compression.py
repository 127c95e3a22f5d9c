"""Compression: config checks, negotiation with nodes, and the round trip through a node."""

from __future__ import annotations

import pytest
import zstandard

from protos.v1 import sut_node_pb2 as pb
from qdl import (
    CompressionConfig,
    CompressionError,
    MockTransport,
    NodeDescription,
    QueryDispatchLibrary,
)
from qdl._compression import Compressor, decompress, names_of, negotiate

from .conftest import loaded_qsl, queries


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "lz4"}, "unknown compression 'lz4'; expected one of none, zstd"),
        ({"algorithm": "zstd", "level": 0}, "zstd level must be 1..22, got 0"),
        ({"algorithm": "zstd", "level": 23}, "zstd level must be 1..22, got 23"),
    ],
)
def test_bad_compression_settings_are_named(kwargs, message):
    with pytest.raises(CompressionError, match=message):
        CompressionConfig(**kwargs)


def test_node_compressions_always_include_none_and_keep_unknown_values():
    assert names_of([]) == {"none"}
    assert names_of([pb.COMPRESSION_ZSTD]) == {"none", "zstd"}
    assert names_of([7]) == {"none", "unknown(7)"}


def test_negotiation_names_every_node_lacking_support():
    zstd = CompressionConfig("zstd")
    negotiate(zstd, {"a": frozenset({"none", "zstd"})})
    negotiate(CompressionConfig(), {"a": frozenset({"none"})})
    with pytest.raises(CompressionError) as info:
        negotiate(
            zstd,
            {
                "a at h:1": frozenset({"none", "zstd"}),
                "b at h:2": frozenset({"none"}),
                "c at h:3": frozenset({"none", "unknown(9)"}),
            },
        )
    assert str(info.value) == (
        "compression 'zstd' is not supported by every node: b at h:2 supports none; "
        "c at h:3 supports none, unknown(9)"
    )


def test_codec_round_trip_and_corrupt_input():
    data = bytes(range(256)) * 64
    packed = Compressor(CompressionConfig("zstd", 19)).compress(data)
    assert len(packed) < len(data)
    assert decompress(packed, pb.COMPRESSION_ZSTD, len(data)) == data
    assert decompress(data, pb.COMPRESSION_NONE, len(data)) == data
    with pytest.raises(CompressionError, match="cannot decompress"):
        decompress(b"not zstd at all", pb.COMPRESSION_ZSTD, 10)
    with pytest.raises(CompressionError, match="expected 3"):
        decompress(b"ab", pb.COMPRESSION_NONE, 3)


def test_the_qsl_compresses_at_load_and_the_node_gets_zstd(recording):
    qsl = loaded_qsl(
        count=4, shape=(64, 64), dtype="float32", compression=CompressionConfig("zstd", 3)
    )
    raw = loaded_qsl(count=4, shape=(64, 64), dtype="float32")
    sample = qsl.encoded(2)
    assert sample.compression == pb.COMPRESSION_ZSTD
    assert sample.uncompressed_size == 64 * 64 * 4
    assert zstandard.ZstdDecompressor().decompress(sample.payload) == raw.encoded(2).payload

    node = MockTransport(
        description=NodeDescription("mock:1", "zippy", compressions=frozenset({"none", "zstd"}))
    )
    with QueryDispatchLibrary([node], qsl, recording) as qdl:
        qdl.issue_query(queries([[2]])[0])
    (s,) = node.received[0].samples
    assert s.compression == pb.COMPRESSION_ZSTD
    assert (s.uncompressed_size, s.dtype, list(s.shape)) == (64 * 64 * 4, "float32", [64, 64])
    assert decompress(s.payload, s.compression, s.uncompressed_size) == raw.encoded(2).payload


def test_connect_refuses_compression_a_node_cannot_decompress(recording):
    qsl = loaded_qsl(count=2, compression=CompressionConfig("zstd"))
    nodes = [
        MockTransport(
            description=NodeDescription("mock:1", "new", compressions=frozenset({"none", "zstd"})),
            address="mock:1",
        ),
        MockTransport(description=NodeDescription("mock:2", "old"), address="mock:2"),
    ]
    qdl = QueryDispatchLibrary(nodes, qsl, recording)
    with pytest.raises(CompressionError, match="old at mock:2 supports none"):
        qdl.connect()
    assert all(n._closed for n in nodes)
