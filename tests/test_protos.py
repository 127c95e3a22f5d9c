"""The generated gRPC code in protos/ must be what `make protos` makes from the .proto now."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from tests.conftest import ROOT

PROTO = "protos/v1/sut_node.proto"
GENERATED = ["sut_node_pb2.py", "sut_node_pb2.pyi", "sut_node_pb2_grpc.py"]


def generate(source_root: pathlib.Path, out: pathlib.Path) -> None:
    protoc = pytest.importorskip("grpc_tools.protoc")
    out.mkdir(parents=True, exist_ok=True)
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{source_root}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            f"--pyi_out={out}",
            str(source_root / PROTO),
        ]
    )
    assert code == 0, f"protoc failed on {PROTO}"


def stale_files(source_root: pathlib.Path, out: pathlib.Path) -> list[str]:
    generate(source_root, out)
    fresh = out / "protos" / "v1"
    committed = source_root / "protos" / "v1"
    return [n for n in GENERATED if (fresh / n).read_bytes() != (committed / n).read_bytes()]


def test_generated_code_is_fresh(tmp_path):
    stale = stale_files(ROOT, tmp_path)
    assert stale == [], f"run `make protos`: {', '.join(stale)} differ from {PROTO}"


def test_a_changed_proto_is_caught(tmp_path):
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "protos", copy / "protos")
    proto = copy / PROTO
    proto.write_text(
        proto.read_text().replace(
            "message FlushRequest {}", "message FlushRequest {\n  uint32 x = 1;\n}"
        )
    )
    assert stale_files(copy, tmp_path / "out") != []


# --- the columnar form (protos/v1/columns.py) ---------------------------------------------------

import numpy as np  # noqa: E402

from protos.v1 import columns  # noqa: E402
from protos.v1 import sut_node_pb2 as pb  # noqa: E402


def test_a_sample_block_reads_back_row_for_row():
    data = columns.sample_block(
        [2**64 - 1, 5], [7, 0], [b"abc", memoryview(b"zz")], [0, 1], [3, 9], ["uint8"] * 2,
        [(3,), (3,)],
    )  # fmt: skip
    batch = pb.SampleBatch.FromString(data + data)  # two units concatenated: two blocks
    assert len(batch.columns) == 2
    rows = columns.read_samples(batch.columns[1])
    assert rows.response_ids == [2**64 - 1, 5]
    assert rows.sample_indices == [7, 0]
    assert rows.payloads == [b"abc", b"zz"]
    assert rows.compressions == [0, 1]
    assert rows.uncompressed_sizes == [3, 9]
    assert rows.dtypes == ["uint8", "uint8"] and rows.shapes == [(3,), (3,)]
    assert rows.declared_bytes() == 3 + 9
    assert rows[1:].response_ids == [5]


def test_a_sample_block_of_mixed_dtypes_and_shapes():
    data = columns.sample_block(
        [1, 2, 3], [1, 2, 3], [b"", b"x" * 8, b"y" * 4], [0, 0, 0], [0, 8, 4],
        ["", "int64", "int32"], [(), (1,), (2, 1)],
    )  # fmt: skip
    block = pb.SampleBatch.FromString(data).columns[0]
    assert not block.uncompressed_sizes and not block.compressions  # implied, left out
    rows = columns.read_samples(block)
    assert rows.dtypes == ["", "int64", "int32"]
    assert rows.shapes == [(), (1,), (2, 1)]
    assert rows.payloads == [b"", b"x" * 8, b"y" * 4]


def test_a_result_block_reads_back_row_for_row():
    data = columns.result_block(
        [9, 10], [1, 0], [b"t", b"final"], [1, 4],
        [[1, 2], [3, 4], [5, 6], [7, 8]], 99, [(1, "boom")],
    )  # fmt: skip
    rows = columns.read_results(pb.ResponseBatch.FromString(data).columns[0])
    assert rows.response_ids == [9, 10] and rows.kinds == [1, 0] and rows.n_tokens == [1, 4]
    assert rows.payloads == [b"t", b"final"]
    assert rows.received_ns == [1, 2] and rows.computed_ns == [7, 8]
    assert rows.sent_ns == 99 and rows.errors == {1: "boom"}
    plain = columns.read_results(
        pb.ResponseBatch.FromString(
            columns.result_block([1], [0], [b""], [0], [[0]] * 4, 0)
        ).columns[0]
    )
    assert plain.kinds is None and plain.n_tokens is None and plain.errors == {}


def _sample_block(**fields):
    good = pb.SampleBatch.FromString(
        columns.sample_block([1, 2], [3, 4], [b"ab", b"c"], [0, 0], [2, 1], ["u1"] * 2, [()] * 2)
    ).columns[0]
    for name, value in fields.items():
        setattr(good, name, value)
    return good


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"response_ids": b""}, "response_ids"),
        ({"response_ids": b"\x00" * 12}, "response_ids"),
        ({"sample_indices": b"\x00" * 8}, "sample_indices holds 8 bytes"),
        ({"payload_ends": np.array([2, 9], "<u8").tobytes()}, "payload ends"),
        ({"payload_ends": np.array([3, 2], "<u8").tobytes()}, "payload ends"),
        ({"payload_ends": b"\x01"}, "payload ends"),
        ({"compressions": b"\x00"}, "compressions"),
        ({"dtype_codes": b"\x00\x05"}, "dtype_codes"),
        ({"shape_ends": np.array([1, 1], "<u8").tobytes()}, "shape ends"),
        ({"shape_dims": b"\x00" * 3}, "shape_dims"),
    ],
)
def test_a_malformed_sample_block_is_refused_with_a_reason(fields, why):
    with pytest.raises(columns.MalformedColumns, match=why):
        columns.read_samples(_sample_block(**fields))


@pytest.mark.parametrize(
    "fields, why",
    [
        ({"received_ns": b"\x00" * 8}, "received_ns"),
        ({"kinds": b"\x00\x00\x00"}, "kinds"),
        ({"n_tokens": b"\x00"}, "n_tokens"),
        ({"payload_ends": np.array([0, 50], "<u8").tobytes()}, "payload ends"),
        ({"error_rows": np.array([5], "<u4").tobytes(), "errors": ["x"]}, "error_rows"),
        ({"error_rows": b"", "errors": ["x"]}, "error_rows"),
    ],
)
def test_a_malformed_result_block_is_refused_with_a_reason(fields, why):
    block = pb.ResponseBatch.FromString(
        columns.result_block([1, 2], [0, 0], [b"", b"x"], [0, 0], [[1, 1]] * 4, 5)
    ).columns[0]
    for name, value in fields.items():
        if name == "errors":
            block.errors.extend(value)
        else:
            setattr(block, name, value)
    with pytest.raises(columns.MalformedColumns, match=why):
        columns.read_results(block)
