"""Payload decompression, done by the node inside the timed path.

``uncompressed_size`` must equal the decompressed length; for COMPRESSION_NONE a 0 means "not
stated" and is accepted. Every problem is a ``CodecError`` whose message becomes the sample's
``error``: one bad sample never ends a stream.
"""

from __future__ import annotations

import zstandard

from protos.v1 import sut_node_pb2 as pb

SUPPORTED = (pb.COMPRESSION_NONE, pb.COMPRESSION_ZSTD)
"""The Compression values this node decodes (reported in Describe)."""

MAX_UNCOMPRESSED_BYTES = 256 * 1024 * 1024
"""Largest decompressed sample accepted; a guard against absurd ``uncompressed_size`` values."""


def declared_bytes(sample: pb.Sample) -> int:
    """The bytes ``sample`` will take once decoded, as it states them: what the node budgets
    for before decompressing anything (a sample that lies fails its decode, never grows)."""
    if sample.compression == pb.COMPRESSION_NONE:
        return len(sample.payload)
    return sample.uncompressed_size


class CodecError(Exception):
    """A sample's payload cannot be decoded; the message says why."""


class Decoder:
    """Decodes sample payloads; one per worker thread (zstd contexts are not thread-safe)."""

    def __init__(self) -> None:
        self._zstd = zstandard.ZstdDecompressor()

    def decode(self, sample: pb.Sample) -> bytes:
        return self.decode_parts(sample.payload, sample.compression, sample.uncompressed_size)

    def decode_parts(self, payload: bytes, compression: int, size: int) -> bytes:
        """``decode`` of a sample given by its fields (a columnar row)."""
        if compression == pb.COMPRESSION_NONE:
            data = payload
            if size and size != len(data):
                raise CodecError(f"payload is {len(data)} bytes but uncompressed_size says {size}")
            return data
        if compression == pb.COMPRESSION_ZSTD:
            if size > MAX_UNCOMPRESSED_BYTES:
                raise CodecError(
                    f"uncompressed_size {size} exceeds the node's limit of "
                    f"{MAX_UNCOMPRESSED_BYTES} bytes"
                )
            try:
                declared = zstandard.frame_content_size(payload)
                if declared >= 0 and declared != size:
                    raise CodecError(
                        f"zstd frame holds {declared} bytes but uncompressed_size says {size}"
                    )
                if declared >= 0:
                    # Decoded into a buffer of exactly ``size`` bytes: more output is an error.
                    data = self._zstd.decompress(payload, max_output_size=size)
                else:
                    # No size in the frame: stream it, stopping one byte past what was declared.
                    data = self._zstd.stream_reader(payload).read(size + 1)
            except zstandard.ZstdError as exc:
                raise CodecError(f"zstd payload cannot be decompressed: {exc}") from None
            if len(data) != size:
                raise CodecError(
                    f"zstd payload decompressed to {len(data)} bytes, uncompressed_size says {size}"
                )
            return data
        name = pb.Compression.Name(compression) if compression in pb.Compression.values() else None
        raise CodecError(
            f"unsupported compression {name or compression} (this node supports "
            f"{', '.join(pb.Compression.Name(c) for c in SUPPORTED)})"
        )
