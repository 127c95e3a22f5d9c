"""The columnar half of the wire contract (``SampleColumns``, ``ResultColumns``), for both ends.

Why here: the QDL builds sample blocks and reads result blocks, the node does the opposite, and
both must agree on the same layout (see the comments in sut_node.proto). Blocks are built from
lists with one numpy array per column and read back with ``np.frombuffer``: no protobuf object
per sample. Payloads are joined straight into the serialized bytes (the payload field is written
last, by hand), so a large payload is copied once. Every reader checks lengths and offsets and
raises ``MalformedColumns`` (a ValueError) saying what is wrong; it never indexes out of range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from . import sut_node_pb2 as pb

U64 = np.dtype("<u8")
I64 = np.dtype("<i8")
U32 = np.dtype("<u4")
U8 = np.dtype("u1")

BLOCK_TAG = b"\x12"
"""SampleBatch.columns and ResponseBatch.columns: field 2, length-delimited."""
_SAMPLE_PAYLOADS_TAG = b"\x1a"  # SampleColumns.payloads: field 3, length-delimited
_RESULT_PAYLOADS_TAG = b"\x1a"  # ResultColumns.payloads: field 3, length-delimited

MAX_ROW_BYTES = 64
"""Upper bound of what one row adds to a SampleColumns block beyond its payload and shape
dimensions (8 bytes each): id, index, end, size, shape end (8 each), compression, dtype code."""
MAX_BLOCK_BYTES = 96
"""Upper bound of a block's own framing (tags and lengths), beyond its rows and dtype names."""


class MalformedColumns(ValueError):
    """A columnar block whose arrays disagree in length or whose offsets leave their data."""


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


def _ends(lengths: Sequence[int]) -> bytes:
    return np.cumsum(np.asarray(lengths, dtype=U64), dtype=U64).tobytes()


def _framed(head: bytes, tag: bytes, payloads: Sequence[bytes | memoryview], total: int) -> bytes:
    """A block (``head`` plus its payloads field), framed as field 2 of its batch message."""
    size = varint(total)
    block = len(head) + 1 + len(size) + total
    return b"".join([BLOCK_TAG, varint(block), head, tag, size, *payloads])


# --- samples (QDL -> node) ---------------------------------------------------------------------


def sample_block(
    response_ids: Sequence[int],
    sample_indices: Sequence[int],
    payloads: Sequence[bytes | memoryview],
    compressions: Sequence[int],
    uncompressed_sizes: Sequence[int],
    dtypes: Sequence[str],
    shapes: Sequence[Sequence[int]],
) -> bytes:
    """One unit as a serialized ``SampleBatch`` holding one ``SampleColumns`` block (such
    batches concatenated are the batch holding them all)."""
    lengths = [len(p) for p in payloads]
    head = pb.SampleColumns(
        response_ids=np.asarray(response_ids, dtype=U64).tobytes(),
        sample_indices=np.asarray(sample_indices, dtype=U64).tobytes(),
        payload_ends=_ends(lengths),
    )
    if any(compressions):
        head.compressions = bytes(compressions)
    if list(uncompressed_sizes) != lengths:
        head.uncompressed_sizes = np.asarray(uncompressed_sizes, dtype=U64).tobytes()
    d0, s0 = dtypes[0], tuple(shapes[0])
    if all(d == d0 for d in dtypes) and all(tuple(s) == s0 for s in shapes):
        if d0:
            head.dtypes.append(d0)
        head.shape_dims = np.asarray(s0, dtype=I64).tobytes()
    else:
        names = sorted(set(dtypes))
        code = {name: k for k, name in enumerate(names)}
        head.dtypes.extend(names)
        head.dtype_codes = bytes([code[d] for d in dtypes])
        head.shape_dims = np.asarray([d for s in shapes for d in s], dtype=I64).tobytes()
        head.shape_ends = _ends([len(s) for s in shapes])
    return _framed(head.SerializeToString(), _SAMPLE_PAYLOADS_TAG, payloads, sum(lengths))


def _array(data: bytes, dtype: np.dtype, n: int, what: str) -> np.ndarray:
    if len(data) != n * dtype.itemsize:
        raise MalformedColumns(
            f"{what} holds {len(data)} bytes, not {n} x {dtype.itemsize} for {n} rows"
        )
    return np.frombuffer(data, dtype)


def _ids(data: bytes) -> np.ndarray:
    if not data or len(data) % 8:
        raise MalformedColumns(f"response_ids holds {len(data)} bytes, not a whole number of rows")
    return np.frombuffer(data, U64)


def _spans(ends_data: bytes, n: int, total: int, what: str) -> list[int]:
    """The end offsets, checked: non-decreasing, the last one exactly ``total``."""
    ends = _array(ends_data, U64, n, f"{what} ends")
    if n and (int(ends[-1]) != total or (n > 1 and bool(np.any(ends[1:] < ends[:-1])))):
        raise MalformedColumns(f"{what} ends do not cover its {total} bytes in order")
    return ends.tolist()  # type: ignore[no-any-return]


def _split(data: bytes, ends: list[int]) -> list[bytes]:
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
    indices = _array(block.sample_indices, U64, n, "sample_indices").tolist()
    data = block.payloads
    payloads = _split(data, _spans(block.payload_ends, n, len(data), "payload"))
    if block.compressions:
        compressions = _array(block.compressions, U8, n, "compressions").tolist()
    else:
        compressions = [pb.COMPRESSION_NONE] * n
    if block.uncompressed_sizes:
        sizes = _array(block.uncompressed_sizes, U64, n, "uncompressed_sizes").tolist()
    else:
        sizes = [len(p) for p in payloads]
    names = list(block.dtypes)
    if block.dtype_codes:
        codes = _array(block.dtype_codes, U8, n, "dtype_codes")
        if int(codes.max()) >= len(names):
            raise MalformedColumns(f"dtype_codes name dtype {int(codes.max())} of {len(names)}")
        dtypes = [names[c] for c in codes.tolist()]
    else:
        dtypes = [names[0] if names else ""] * n
    dims_data = block.shape_dims
    if len(dims_data) % 8:
        raise MalformedColumns(f"shape_dims holds {len(dims_data)} bytes, not a multiple of 8")
    dims = np.frombuffer(dims_data, I64).tolist()
    if block.shape_ends:
        ends = _spans(block.shape_ends, n, len(dims), "shape")
        shapes = [tuple(dims[a:b]) for a, b in zip([0, *ends[:-1]], ends)]
    else:
        shapes = [tuple(dims)] * n
    return SampleRows(ids.tolist(), indices, payloads, compressions, sizes, dtypes, shapes)


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
    lengths = [len(p) for p in payloads]
    received, picked, decompressed, computed = (np.asarray(s, dtype=I64).tobytes() for s in stamps)
    head = pb.ResultColumns(
        response_ids=np.asarray(response_ids, dtype=U64).tobytes(),
        payload_ends=_ends(lengths),
        received_ns=received,
        picked_ns=picked,
        decompressed_ns=decompressed,
        computed_ns=computed,
        sent_ns=sent_ns,
    )
    if any(kinds):
        head.kinds = bytes(kinds)
    if any(n_tokens):
        head.n_tokens = np.asarray(n_tokens, dtype=I64).tobytes()
    if errors:
        head.error_rows = np.asarray([row for row, _ in errors], dtype=U32).tobytes()
        head.errors.extend(text for _, text in errors)
    return _framed(head.SerializeToString(), _RESULT_PAYLOADS_TAG, payloads, sum(lengths))


@dataclass(frozen=True, slots=True)
class ResultRows:
    """A ``ResultColumns`` block read back. ``kinds`` and ``n_tokens`` are None when the block
    left them out (all final, no tokens); stamps stay numpy arrays for vectorized accounting."""

    response_ids: list[int]
    kinds: list[int] | None
    payloads: list[bytes]
    n_tokens: list[int] | None
    received_ns: np.ndarray
    picked_ns: np.ndarray
    decompressed_ns: np.ndarray
    computed_ns: np.ndarray
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
    kinds = _array(block.kinds, U8, n, "kinds").tolist() if block.kinds else None
    tokens = _array(block.n_tokens, I64, n, "n_tokens").tolist() if block.n_tokens else None
    stamps = [
        _array(getattr(block, name), I64, n, name)
        for name in ("received_ns", "picked_ns", "decompressed_ns", "computed_ns")
    ]
    errors: dict[int, str] = {}
    if block.error_rows or block.errors:
        rows = np.frombuffer(block.error_rows, U32) if len(block.error_rows) % 4 == 0 else None
        texts = list(block.errors)
        if rows is None or len(rows) != len(texts) or (len(rows) and int(rows.max()) >= n):
            raise MalformedColumns(
                f"error_rows ({len(block.error_rows)} bytes) do not match its "
                f"{len(texts)} errors over {n} rows"
            )
        errors = dict(zip(rows.tolist(), texts))
    return ResultRows(ids.tolist(), kinds, payloads, tokens, *stamps, block.sent_ns, errors)
