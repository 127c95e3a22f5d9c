"""The built-in backends' behaviour, and loading plugins by ``module:Class``."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from protos.v1 import sut_node_pb2 as pb
from sut_server import BackendError
from sut_server.backends import load_backend

from .conftest import sample

FIRST = pb.SampleResult.KIND_FIRST_TOKEN
FINAL = pb.SampleResult.KIND_FINAL


def test_synthetic_honours_the_service_time(start_node):
    client = start_node(backend="synthetic", backend_options={"service_time_us": "20000"})
    results = client.infer(*[pb.SampleBatch(samples=[sample(i)]) for i in range(5)])
    assert len(results) == 5
    for r in results:
        assert r.timing.computed_ns - r.timing.decompressed_ns >= 20_000_000
    assert (
        max(r.timing.computed_ns for r in results) - min(r.timing.received_ns for r in results)
        >= 5 * 20_000_000
    )  # one worker: the samples ran one after another


def test_synthetic_throughput_cap_holds_across_workers(start_node):
    client = start_node(backend="synthetic", workers=4, backend_options={"max_qps": "200"})
    results = client.infer(*[pb.SampleBatch(samples=[sample(i)]) for i in range(40)])
    spread = max(r.timing.computed_ns for r in results) - min(r.timing.received_ns for r in results)
    assert spread >= 0.9 * 40 / 200 * 1e9


def test_synthetic_output_is_the_sample_index_pattern(start_node):
    client = start_node(backend="synthetic", backend_options={"output_bytes": "12"})
    (result,) = client.infer(pb.SampleBatch(samples=[sample(1, b"input", sample_index=5)]))
    assert result.payload == (5).to_bytes(8, "little") + (5).to_bytes(8, "little")[:4]


def reference_mlp(x_bytes: bytes, dtype: str, seed: int, hidden: int, classes: int) -> int:
    """The numpy-mlp formula, written again from its docstring."""
    v = np.frombuffer(x_bytes, dtype=np.dtype(dtype or "uint8").newbyteorder("<"))
    x = v.astype(np.float32)
    if v.dtype == np.uint8:
        x = x / np.float32(255.0)
    d = x.size
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((d, hidden)) / np.sqrt(d)
    b1 = 0.1 * rng.standard_normal(hidden)
    w2 = rng.standard_normal((hidden, classes)) / np.sqrt(hidden)
    b2 = 0.1 * rng.standard_normal(classes)
    h = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0)
    return int(np.argmax(h @ w2 + b2))


def mlp_node(start_node, seed: int):
    options = {"seed": str(seed), "hidden": "16", "classes": "7"}
    return start_node(backend="numpy-mlp", backend_options=options)


def test_numpy_mlp_matches_the_documented_formula(start_node):
    rng = np.random.default_rng(99)
    images = [rng.integers(0, 256, size=48, dtype=np.uint8).tobytes() for _ in range(40)]
    floats = [rng.standard_normal(20).astype("<f4").tobytes() for _ in range(10)]
    client = mlp_node(start_node, seed=3)
    results = client.infer(
        pb.SampleBatch(samples=[sample(i, b, shape=[4, 4, 3]) for i, b in enumerate(images)]),
        pb.SampleBatch(samples=[sample(100 + i, b, dtype="float32") for i, b in enumerate(floats)]),
    )
    got = {r.response_id: r for r in results}
    for i, b in enumerate(images):
        assert not got[i].error
        assert len(got[i].payload) == 4
        assert struct.unpack("<i", got[i].payload)[0] == reference_mlp(b, "", 3, 16, 7)
    for i, b in enumerate(floats):
        assert struct.unpack("<i", got[100 + i].payload)[0] == reference_mlp(b, "float32", 3, 16, 7)
    classes = {struct.unpack("<i", r.payload)[0] for r in results}
    assert len(classes) > 1  # not a constant function


def test_numpy_mlp_is_deterministic_per_seed(start_node):
    rng = np.random.default_rng(5)
    batch = pb.SampleBatch(
        samples=[sample(i, rng.integers(0, 256, 64, dtype=np.uint8).tobytes()) for i in range(30)]
    )

    def run(seed: int) -> dict[int, bytes]:
        return {r.response_id: r.payload for r in mlp_node(start_node, seed).infer(batch)}

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_numpy_mlp_rejects_inputs_that_do_not_fit(start_node):
    client = mlp_node(start_node, seed=0)
    results = client.infer(
        pb.SampleBatch(
            samples=[
                sample(1, bytes(10), shape=[3, 3]),
                sample(2, bytes(10), dtype="float32"),
                sample(3, bytes(8), dtype="complex-ish"),
                sample(4, bytes(9), shape=[3, 3]),
            ]
        )
    )
    errors = {r.response_id: r.error for r in results}
    assert "shape (3, 3) needs 9" in errors[1]
    assert "not a whole number of float32" in errors[2]
    assert "unknown dtype 'complex-ish'" in errors[3]
    assert errors[4] == ""


def test_synthetic_llm_sends_the_first_token_then_the_answer(start_node):
    options = {"ttft_ms": "30", "tpot_ms": "10", "output_tokens": "4"}
    client = start_node(backend="synthetic-llm", backend_options=options)
    stream = client.open_stream()
    stream.send(sample(1, b"prompt", sample_index=31999))
    first, final = stream.next_result(), stream.next_result()
    assert (first.kind, first.response_id, first.n_tokens) == (FIRST, 1, 1)
    assert (final.kind, final.response_id, final.n_tokens) == (FINAL, 1, 4)
    tokens = list(struct.unpack("<4i", final.payload))
    assert tokens == [31999, 0, 1, 2]  # (sample_index + j) % 32000
    assert first.payload == final.payload[:4]
    assert first.timing.computed_ns - first.timing.decompressed_ns >= 30_000_000
    assert final.timing.computed_ns - first.timing.decompressed_ns >= 30_000_000 + 3 * 10_000_000
    assert first.timing.sent_ns < final.timing.sent_ns
    stream.half_close()
    assert stream.wait_ended()
    assert client.node.statistics().samples_answered == 1  # a first token is not an answer


@pytest.mark.parametrize(
    "spec, options, message",
    [
        (
            "nope",
            {},
            "unknown backend 'nope' (built-in: echo, numpy-mlp, onnx, openai, sglang, synthetic",
        ),
        ("no_such_module:Thing", {}, "cannot import module 'no_such_module'"),
        ("tests.sut_server.plugins:Missing", {}, "has no class 'Missing'"),
        (
            "tests.sut_server.plugins:NotABackend",
            {},
            "has neither infer() (a batch backend) nor async generate()",
        ),
        ("tests.sut_server.plugins:BrokenInit", {}, "the model file is missing"),
        ("echo", {"hidden": "3"}, "backend 'echo' does not take option(s) hidden"),
        ("synthetic", {"max_qps": "fast"}, "option max_qps='fast' must be a number"),
        ("numpy-mlp", {"hidden": "0"}, "option hidden='0' must be an integer >= 1"),
    ],
)
def test_bad_backends_and_options_are_clear_errors(spec, options, message):
    with pytest.raises(BackendError) as caught:
        load_backend(spec, options)
    assert message in str(caught.value)


def test_a_plugin_class_is_loaded_with_its_options(start_node):
    client = start_node(
        backend="tests.sut_server.plugins:BatchSize", backend_options={"delay-ms": "1"}
    )
    (result,) = client.infer(pb.SampleBatch(samples=[sample(1, sample_index=9)]))
    assert struct.unpack("<ii", result.payload) == (1, 9)


def test_a_backend_sees_the_sample_and_none_of_the_nodes_books(start_node):
    client = start_node(backend="tests.sut_server.plugins:Fields")
    (result,) = client.infer(
        pb.SampleBatch(samples=[sample(7, b"abc", sample_index=42, dtype="uint8", shape=[1, 3])])
    )
    names, fields = result.payload.decode().split(" | ")
    assert names.split() == [
        "_on_first_token",
        "data",
        "dtype",
        "first_token",
        "sample_index",
        "shape",
    ]
    assert fields == "42 uint8 (1, 3) b'abc'"
