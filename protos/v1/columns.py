"""The columnar half of the wire contract (``SampleColumns``, ``ResultColumns``), for both ends.

Why here: the QDL builds sample blocks and reads result blocks, the node does the opposite, and
both must agree on the same layout (see the comments in sut_node.proto). Blocks are built from
lists with one packed array per column and read back with one cast per column: no protobuf
object per sample. Blocks are serialized by hand (fields in any order parse the same), with
``struct``-packed arrays, which for the small blocks of a Server run costs a fraction of building
protobuf or numpy objects; payloads are joined straight into the result, so each is copied once.
Readers cast ``bytes`` fields to integer lists in one C call (``memoryview.cast``; ``struct`` on
a big-endian host), the lists the per-sample books need anyway. Every reader checks lengths
and offsets and raises ``MalformedColumns`` (a ValueError) saying what is wrong; it never
indexes out of range.
"""

from __future__ import annotations

import itertools
import struct
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from . import sut_node_pb2 as pb

_NATIVE = sys.byteorder == "little"  # memoryview casts read little-endian arrays as they are

BLOCK_TAG = b"\x12"
"""SampleBatch.columns and ResponseBatch.columns: field 2, length-delimited."""
_LEN = [bytes(((k << 3) | 2,)) for k in range(16)]  # tag of length-delimited field k
_SENT_NS_TAG = b"\x50"  # ResultColumns.sent_ns: field 10, varint

READS_COLUMNS = ("lon-wire", "columnar")
"""Metadata a client sends at the start of an Infer stream to say it reads ResultColumns."""

MAX_ROW_BYTES = 64
"""Upper bound of what one row adds to a SampleColumns block beyond its payload and shape
dimensions (8 bytes each): id, index, end, size, shape end (8 each), compression, dtype code."""
MAX_BLOCK_BYTES = 96
"""Upper bound of a block's own framing (tags and lengths), beyond its rows and dtype names."""


class MalformedColumns(ValueError):
    """A columnar block whose arrays disagree in length or whose offsets leave their data."""


def varint(n: int) -> bytes:
    """Protobuf base-128 varint of an integer in [-2**63, 2**64) (negative: two's complement)."""
    if 0 <= n < 0x80:
        return bytes((n,))
    n &= 0xFFFF_FFFF_FFFF_FFFF
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _u64(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)


def _i64(values: Sequence[int]) -> bytes:
    return struct.pack(f"<{len(values)}q", *values)


def _field(parts: list[bytes | memoryview], number: int, data: bytes) -> None:
    """Append length-delimited field ``number`` holding ``data`` (proto3 omits it if empty)."""
    if data:
        parts += (_LEN[number], varint(len(data)), data)


def _framed(
    parts: list[bytes | memoryview], number: int, payloads: Sequence[bytes | memoryview]
) -> bytes:
    """The block (``parts`` plus its payloads as field ``number``), framed as field 2 of its
    batch message: the payloads are joined once, straight into the result."""
    total = sum(map(len, payloads))
    if total:
        parts += (_LEN[number], varint(total), *payloads)
    size = sum(map(len, parts))
    return b"".join([BLOCK_TAG, varint(size), *parts])


# --- samples (QDL -> node) ---------------------------------------------------------------------


def sample_block(
    response_ids: Sequence[int],
    sample_indices: Sequence[int],
    payloads: Sequence[bytes | memoryview],
    compressions: Sequence[int],
    uncompressed_sizes: Sequence[int],
    dtypes: Sequence[str],
    shapes: Sequence[tuple[int, ...]],
) -> bytes:
    """One unit as a serialized ``SampleBatch`` holding one ``SampleColumns`` block (such
    batches concatenated are the batch holding them all)."""
    n = len(response_ids)
    lengths = [len(p) for p in payloads]
    parts: list[bytes | memoryview] = []
    _field(parts, 1, _u64(response_ids))
    _field(parts, 2, _u64(sample_indices))
    _field(parts, 4, _u64(list(itertools.accumulate(lengths))))
    if any(compressions):
        _field(parts, 5, bytes(compressions))
    if uncompressed_sizes != lengths and list(uncompressed_sizes) != lengths:
        _field(parts, 6, _u64(uncompressed_sizes))
    d0, s0 = dtypes[0], shapes[0]
    if dtypes.count(d0) == n and shapes.count(s0) == n:
        if d0:
            _field(parts, 7, d0.encode())
        _field(parts, 9, _i64(s0))
    else:
        names = sorted(set(dtypes))
        code = {name: k for k, name in enumerate(names)}
        for name in names:
            parts += (_LEN[7], varint(len(name.encode())), name.encode())
        _field(parts, 8, bytes([code[d] for d in dtypes]))
        _field(parts, 9, _i64([d for shape in shapes for d in shape]))
        _field(parts, 10, _u64(list(itertools.accumulate(map(len, shapes)))))
    return _framed(parts, 3, payloads)


def _ints(data: bytes, code: str, n: int, what: str) -> list[int]:
    """The ``n`` little-endian integers (struct ``code``: Q, q, I or B) in ``data``, checked."""
    size = struct.calcsize(code)
    if len(data) != n * size:
        raise MalformedColumns(f"{what} holds {len(data)} bytes, not {n} x {size} for {n} rows")
    if _NATIVE or size == 1:
        return memoryview(data).cast(code).tolist()
    return list(struct.unpack(f"<{n}{code}", data))


def _ids(data: bytes) -> list[int]:
    if not data or len(data) % 8:
        raise MalformedColumns(f"response_ids holds {len(data)} bytes, not a whole number of rows")
    return _ints(data, "Q", len(data) // 8, "response_ids")


def _spans(ends_data: bytes, n: int, total: int, what: str) -> list[int]:
    """The end offsets, checked: non-decreasing, the last one exactly ``total``."""
    ends = _ints(ends_data, "Q", n, f"{what} ends")
    if n and (ends[-1] != total or (n > 1 and ends != sorted(ends))):
        raise MalformedColumns(f"{what} ends do not cover its {total} bytes in order")
    return ends


def _split(data: bytes, ends: list[int]) -> list[bytes]:
    if len(ends) == 1:
        return [data]
    starts = [0, *ends[:-1]]
    return [data[a:b] for a, b in zip(starts, ends)]


@dataclass(frozen=True, slots=True)
class SampleRows:
    """A ``SampleColumns`` block read back: one list per column, row k across them."""

    response_ids: list[int]
    sample_indices: list[int]
    payloads: list[bytes]
    compressions: list[int]
    uncompressed_sizes: list[int]
    dtypes: list[str]
    shapes: list[tuple[int, ...]]

    def __len__(self) -> int:
        return len(self.response_ids)

    def __getitem__(self, part: slice) -> SampleRows:
        return SampleRows(
            self.response_ids[part],
            self.sample_indices[part],
            self.payloads[part],
            self.compressions[part],
            self.uncompressed_sizes[part],
            self.dtypes[part],
            self.shapes[part],
        )

    def declared_bytes(self) -> int:
        """What the rows take once decoded, as they state it (``declared_bytes`` per sample)."""
        return sum(
            len(p) if c == pb.COMPRESSION_NONE else s
            for p, c, s in zip(self.payloads, self.compressions, self.uncompressed_sizes)
        )


def read_samples(block: pb.SampleColumns) -> SampleRows:
    """The rows of a ``SampleColumns`` block; MalformedColumns if it is inconsistent."""
    ids = _ids(block.response_ids)
    n = len(ids)
    indices = _ints(block.sample_indices, "Q", n, "sample_indices")
    data = block.payloads
    payloads = _split(data, _spans(block.payload_ends, n, len(data), "payload"))
    raw = block.compressions
    compressions = _ints(raw, "B", n, "compressions") if raw else [pb.COMPRESSION_NONE] * n
    raw = block.uncompressed_sizes
    sizes = _ints(raw, "Q", n, "uncompressed_sizes") if raw else [len(p) for p in payloads]
    names = list(block.dtypes)
    raw = block.dtype_codes
    if raw:
        codes = _ints(raw, "B", n, "dtype_codes")
        if max(codes) >= len(names):
            raise MalformedColumns(f"dtype_codes name dtype {max(codes)} of {len(names)}")
        dtypes = [names[c] for c in codes]
    else:
        dtypes = [names[0] if names else ""] * n
    raw = block.shape_dims
    if len(raw) % 8:
        raise MalformedColumns(f"shape_dims holds {len(raw)} bytes, not a multiple of 8")
    dims = _ints(raw, "q", len(raw) // 8, "shape_dims")
    raw = block.shape_ends
    if raw:
        ends = _spans(raw, n, len(dims), "shape")
        shapes = [tuple(dims[a:b]) for a, b in zip([0, *ends[:-1]], ends)]
    else:
        shapes = [tuple(dims)] * n
    return SampleRows(ids, indices, payloads, compressions, sizes, dtypes, shapes)


# --- results (node -> QDL) ---------------------------------------------------------------------


def result_block(
    response_ids: Sequence[int],
    kinds: Sequence[int],
    payloads: Sequence[bytes | memoryview],
    n_tokens: Sequence[int],
    stamps: Sequence[Sequence[int]],
    sent_ns: int,
    errors: Sequence[tuple[int, str]] = (),
) -> bytes:
    """A serialized ``ResponseBatch`` holding one ``ResultColumns`` block. ``stamps`` are four
    per-row columns (received, picked, decompressed, computed ns); ``errors`` (row, text)."""
    parts: list[bytes | memoryview] = []
    _field(parts, 1, _u64(response_ids))
    if any(kinds):
        _field(parts, 2, bytes(kinds))
    _field(parts, 4, _u64(list(itertools.accumulate(map(len, payloads)))))
    if any(n_tokens):
        _field(parts, 5, _i64(n_tokens))
    for number, column in zip((6, 7, 8, 9), stamps):
        _field(parts, number, _i64(column))
    if sent_ns:
        parts += (_SENT_NS_TAG, varint(sent_ns))
    if errors:
        _field(parts, 11, struct.pack(f"<{len(errors)}I", *(row for row, _ in errors)))
        for _, text in errors:
            encoded = text.encode()
            parts += (_LEN[12], varint(len(encoded)), encoded)
    return _framed(parts, 3, payloads)


@dataclass(frozen=True, slots=True)
class ResultRows:
    """A ``ResultColumns`` block read back. ``kinds`` and ``n_tokens`` are None when the block
    left them out (all final, no tokens)."""

    response_ids: list[int]
    kinds: list[int] | None
    payloads: list[bytes]
    n_tokens: list[int] | None
    received_ns: list[int]
    picked_ns: list[int]
    decompressed_ns: list[int]
    computed_ns: list[int]
    sent_ns: int
    errors: dict[int, str]  # row -> text, for the rows whose backend failed

    def __len__(self) -> int:
        return len(self.response_ids)


def read_results(block: pb.ResultColumns) -> ResultRows:
    """The rows of a ``ResultColumns`` block; MalformedColumns if it is inconsistent."""
    ids = _ids(block.response_ids)
    n = len(ids)
    data = block.payloads
    payloads = _split(data, _spans(block.payload_ends, n, len(data), "payload"))
    raw = block.kinds
    kinds = _ints(raw, "B", n, "kinds") if raw else None
    raw = block.n_tokens
    tokens = _ints(raw, "q", n, "n_tokens") if raw else None
    stamps = [
        _ints(getattr(block, name), "q", n, name)
        for name in ("received_ns", "picked_ns", "decompressed_ns", "computed_ns")
    ]
    errors: dict[int, str] = {}
    if block.error_rows or block.errors:
        raw = block.error_rows
        texts = list(block.errors)
        rows = _ints(raw, "I", len(raw) // 4, "error_rows") if len(raw) % 4 == 0 else None
        if rows is None or len(rows) != len(texts) or (rows and max(rows) >= n):
            raise MalformedColumns(
                f"error_rows ({len(raw)} bytes) do not match its {len(texts)} errors over {n} rows"
            )
        errors = dict(zip(rows, texts))
    return ResultRows(ids, kinds, payloads, tokens, *stamps, block.sent_ns, errors)
