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
