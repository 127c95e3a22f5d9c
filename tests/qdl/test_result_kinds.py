"""What a node may answer: KIND_FINAL, KIND_FIRST_TOKEN (even when the run does not measure
tokens), and nothing else. Real gRPC nodes on loopback; real sut-server for the lon-run runs."""

from __future__ import annotations

import subprocess

import pytest

from lon._nodes import running_nodes, sut_server_command
from protos.v1 import sut_node_pb2 as pb
from qdl import ProtocolError, QueryDispatchLibrary
from tests.conftest import LOADGENS, LON_RUN, ROOT, need_loadgen

from .conftest import loaded_qsl, queries
from .echo_node import EchoNode, serve

UNDEFINED_KIND = 7


class EvilNode(EchoNode):
    """Answers sample ``bent_index`` with a result kind the protocol does not define."""

    def __init__(self, bent_index: int) -> None:
        super().__init__("evil")
        self.bent_index = bent_index

    def _answer(self, unit, decompressor) -> pb.ResponseBatch:
        batch = super()._answer(unit, decompressor)
        by_id = {s.response_id: s.sample_index for s in unit}
        for r in batch.results:
            if by_id[r.response_id] == self.bent_index:
                r.kind = UNDEFINED_KIND  # an open proto3 enum: the wire carries it
        return batch


def test_an_undefined_result_kind_ends_the_run_naming_node_and_sample(recording):
    node = EvilNode(bent_index=5)
    qsl = loaded_qsl(count=8)
    with serve(node) as address, QueryDispatchLibrary.over_grpc([address], qsl, recording) as qdl:
        qdl.issue_query(queries([[4, 5, 6]])[0])
        recording.wait_for(3)
        failure = qdl.failure
    assert isinstance(failure, ProtocolError), failure
    text = str(failure)
    assert "node evil" in text and "sample index 5" in text and f"kind {UNDEFINED_KIND}" in text
    assert failure.node == address and failure.response_id == 2
    # Sample 5 (response id 2) was never completed as answered: the abort completed it, empty.
    assert recording.completed_ids() == {1: 1, 2: 1, 3: 1}
    assert [ids for _, ids in recording.aborts] == [[2]]
    assert (2, b"", 0) in recording.completions


@pytest.fixture(scope="module")
def llm_node():
    command = sut_server_command(
        "synthetic-llm",
        extra=("--name", "llm", "--ttft-ms", "1", "--tpot-ms", "0", "--output-tokens", "4"),
    )
    with running_nodes([command]) as (node,):
        yield node.address


@pytest.mark.parametrize("lg", LOADGENS)
def test_first_tokens_in_a_run_without_token_latencies_are_ignored(llm_node, tmp_path, lg):
    """The node sends a first token for every sample; the run does not measure them, so both
    LoadGens ignore them and every sample completes with its final result: a VALID run."""
    need_loadgen(lg)
    proc = subprocess.run(
        [*LON_RUN, "--nodes", llm_node, "--scenario", "SingleStream", "--synthetic",
         "16:uint8:64", "--output", str(tmp_path), "--set", "min_duration_ms=300",
         "--set", "min_query_count=20", "--set", "single_stream_expected_latency_ns=500000",
         "--loadgen", lg],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Result is : VALID" in proc.stdout
    assert "first token latency" not in proc.stdout  # not measured
    if lg == "ours":  # says once that it ignores them; the official LoadGen is silent
        assert proc.stderr.count("use_token_latencies is off") == 1, proc.stderr
