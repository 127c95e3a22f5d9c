"""The columnar wire on a real node: what it announces, how it reads SampleColumns and answers
in ResultColumns, and both directions of a mix with peers that speak only the classic form
(simulated with ``--wire classic`` on the node and ``DispatchConfig(wire="classic")`` on the
QDL)."""

from __future__ import annotations

import collections
import struct

import grpc
import numpy as np
import pytest
import zstandard

from protos.v1 import columns
from protos.v1 import sut_node_pb2 as pb
from qdl import ConfigError, DispatchConfig, QueryDispatchLibrary
from tests.qdl.conftest import RecordingLoadgen, loaded_qsl, queries

from .conftest import sample

BATCH_SIZE = "tests.sut_server.plugins:BatchSize"


def block(ids, payloads=None, **kw) -> bytes:
    """A serialized SampleBatch holding one columnar unit (sample index = response id)."""
    payloads = payloads if payloads is not None else [bytes([i % 256]) * 3 for i in ids]
    n = len(ids)
    return columns.sample_block(
        ids,
        kw.get("indices", ids),
        payloads,
        kw.get("compressions", [0] * n),
        kw.get("sizes", [len(p) for p in payloads]),
        kw.get("dtypes", ["uint8"] * n),
        kw.get("shapes", [(len(p),) for p in payloads]),
    )


def infer_raw(client, *messages: bytes, metadata=(), timeout=20) -> list[pb.ResponseBatch]:
    batches = [pb.SampleBatch.FromString(m) for m in messages]
    return list(client.stub.Infer(iter(batches), timeout=timeout, metadata=metadata))


def answers(responses: list[pb.ResponseBatch]) -> dict[int, tuple[int, bytes, str]]:
    """{response id: (kind, payload, error)} over both forms; each id answered once."""
    out = {}
    for response in responses:
        for r in response.results:
            assert r.response_id not in out
            out[r.response_id] = (r.kind, r.payload, r.error)
        for b in response.columns:
            rows = columns.read_results(b)
            for k, rid in enumerate(rows.response_ids):
                assert rid not in out
                kind = rows.kinds[k] if rows.kinds is not None else 0
                out[rid] = (kind, rows.payloads[k], rows.errors.get(k, ""))
    return out


def forms(responses: list[pb.ResponseBatch]) -> set[str]:
    return {"classic" for r in responses if r.results} | {"columns" for r in responses if r.columns}


# --- the node on its own -----------------------------------------------------------------------


def test_a_node_announces_the_columnar_form_unless_run_classic(start_node):
    assert start_node(backend="echo").stub.Describe(pb.DescribeRequest()).columnar
    classic = start_node(backend="echo", wire="classic")
    assert not classic.stub.Describe(pb.DescribeRequest()).columnar


def test_columnar_samples_are_answered_each_once(echo):
    responses = infer_raw(echo, block([1, 2, 3]), block([4]) + block([5, 6]))
    rows = answers(responses)
    assert sorted(rows) == [1, 2, 3, 4, 5, 6]
    assert all(rows[i] == (0, bytes([i]) * 3, "") for i in rows)


def test_a_message_of_several_results_goes_back_as_columns(echo):
    responses = infer_raw(echo, block(list(range(1, 9))))
    assert forms(responses) == {"columns"}
    assert sorted(answers(responses)) == list(range(1, 9))
    assert all(b.sent_ns > 0 for r in responses for b in r.columns)


def test_a_client_that_asks_for_columns_gets_them_for_classic_samples(echo):
    message = pb.SampleBatch(samples=[sample(i, b"ab") for i in range(1, 9)]).SerializeToString()
    asked = infer_raw(echo, message, metadata=[columns.READS_COLUMNS])
    assert forms(asked) == {"columns"} and sorted(answers(asked)) == list(range(1, 9))
    plain = infer_raw(echo, message)  # a client from before the columnar form
    assert forms(plain) == {"classic"} and sorted(answers(plain)) == list(range(1, 9))


def test_each_columnar_block_runs_as_its_own_unit(start_node):
    client = start_node(backend=BATCH_SIZE, workers=2)
    rows = answers(infer_raw(client, block([1]) + block([2, 3, 4]) + block([5, 6])))
    size_of = {rid: struct.unpack("<ii", payload)[0] for rid, (_, payload, _) in rows.items()}
    assert size_of == {1: 1, 2: 3, 3: 3, 4: 3, 5: 2, 6: 2}


def test_zstd_rows_mixed_dtypes_and_a_lying_row_get_their_own_answers(echo):
    raw = [b"a" * 100, b"b" * 50, b"c" * 10]
    packed = [zstandard.ZstdCompressor().compress(r) for r in raw]
    message = block(
        [1, 2, 3],
        packed,
        compressions=[1, 1, 1],
        sizes=[100, 50, 11],  # the third lies about its size
        dtypes=["uint8", "int16", "uint8"],
        shapes=[(100,), (5, 5), ()],
    )
    rows = answers(infer_raw(echo, message))
    assert rows[1] == (0, raw[0], "") and rows[2] == (0, raw[1], "")
    assert rows[3][1] == b"" and "uncompressed_size says 11" in rows[3][2]


def test_a_classic_client_gets_classic_answers_from_a_columnar_node(echo):
    assert sorted(r.response_id for r in echo.infer(pb.SampleBatch(samples=[sample(1, b"x")]))) == [
        1
    ]


@pytest.mark.parametrize(
    "mangle, why",
    [
        (lambda b: setattr(b, "payload_ends", np.array([1, 99], "<u8").tobytes()), "payload"),
        (lambda b: setattr(b, "sample_indices", b"\x00" * 8), "sample_indices"),
    ],
)
def test_a_malformed_block_ends_the_stream_with_a_reason(echo, mangle, why):
    batch = pb.SampleBatch.FromString(block([1, 2]))
    mangle(batch.columns[0])
    with pytest.raises(grpc.RpcError) as caught:
        list(echo.stub.Infer(iter([batch]), timeout=20))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "malformed SampleColumns" in caught.value.details() and why in caught.value.details()


def test_a_classic_node_refuses_columnar_samples(start_node):
    client = start_node(backend="echo", wire="classic")
    with pytest.raises(grpc.RpcError) as caught:
        infer_raw(client, block([1]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "--wire classic" in caught.value.details()


# --- the QDL and the node, every mix -----------------------------------------------------------


def _run(addresses, wire="auto", count=24):
    recording = RecordingLoadgen()
    qsl = loaded_qsl(count=count, shape=(8,), dtype="uint8")
    qs = queries([[i] for i in range(count)] + [list(range(count))])
    config = DispatchConfig(wire=wire)
    with QueryDispatchLibrary.over_grpc(addresses, qsl, recording, config) as qdl:
        for q in qs:
            qdl.issue_query(q)
        qdl.flush_queries()
        recording.wait_for(2 * count, timeout=30)
        failure = qdl.failure
    reports = qdl.node_reports()  # once closed: the books of the last answers are in
    assert failure is None
    assert recording.completed_ids() == collections.Counter(range(1, 2 * count + 1))
    index_of = {s.id: s.index for q in qs for s in q}
    for rid, payload, _ in recording.completions:
        assert payload == qsl.encoded(index_of[rid]).payload
    return reports


def _address(client) -> str:
    return f"127.0.0.1:{client.node.port}"


@pytest.mark.parametrize(
    "node_wire, qdl_wire, used",
    [
        ("columnar", "auto", "columnar"),  # both new: columns for the larger units
        ("columnar", "columnar", "columnar"),  # every unit as columns
        ("classic", "auto", "classic"),  # new QDL, old node
        ("columnar", "classic", "classic"),  # old QDL, new node
    ],
)
def test_every_mix_of_peers_completes_every_sample_once(start_node, node_wire, qdl_wire, used):
    node = start_node(backend="echo", name="echo-node", wire=node_wire)
    reports = _run([_address(node)], qdl_wire)
    assert [r["wire"] for r in reports] == [used]
    assert reports[0]["samples"] == 48
    assert reports[0]["timing_ms"]["node"] is not None  # the node's stamps came through


def test_one_qdl_speaks_each_node_its_own_form(start_node):
    new = start_node(backend="echo", name="new", workers=2)
    old = start_node(backend="echo", name="old", wire="classic")
    reports = _run([_address(new), _address(old)])
    assert [r["wire"] for r in reports] == ["columnar", "classic"]
    assert sum(r["samples"] for r in reports) == 48


def test_a_qdl_that_requires_columns_refuses_a_classic_node(start_node):
    old = start_node(backend="echo", name="old", wire="classic")
    qsl = loaded_qsl(count=4)
    config = DispatchConfig(wire="columnar")
    qdl = QueryDispatchLibrary.over_grpc([_address(old)], qsl, RecordingLoadgen(), config)
    with pytest.raises(ConfigError, match="do not announce the columnar form"):
        qdl.connect()


def test_an_async_backend_answers_columnar_rows_with_first_tokens(start_node):
    client = start_node(
        backend="synthetic-llm",
        backend_options={"ttft_ms": "0", "tpot_ms": "0", "output_tokens": "3"},
    )
    prompts = [np.arange(4, dtype="<i4").tobytes()] * 5
    message = block([1, 2, 3, 4, 5], prompts, dtypes=["int32"] * 5, shapes=[(4,)] * 5)
    responses = infer_raw(client, message, metadata=[columns.READS_COLUMNS])
    kinds: dict[int, list[int]] = collections.defaultdict(list)
    tokens = {}
    for response in responses:
        for r in response.results:
            kinds[r.response_id].append(r.kind)
            tokens[r.response_id, r.kind] = r.n_tokens
        for b in response.columns:
            rows = columns.read_results(b)
            for k, rid in enumerate(rows.response_ids):
                kind = rows.kinds[k] if rows.kinds is not None else 0
                kinds[rid].append(kind)
                tokens[rid, kind] = rows.n_tokens[k] if rows.n_tokens is not None else 0
    assert dict(kinds) == {rid: [1, 0] for rid in range(1, 6)}  # first token, then final
    assert all(tokens[rid, 0] == 3 for rid in range(1, 6))


def test_large_results_go_back_classic_even_to_a_client_that_reads_columns(echo):
    message = block(list(range(1, 9)), [b"x" * 20_000] * 8)
    responses = infer_raw(echo, message)
    assert forms(responses) == {"classic"} and sorted(answers(responses)) == list(range(1, 9))
