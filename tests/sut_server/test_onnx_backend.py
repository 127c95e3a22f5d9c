"""--backend onnx on a real node: a real model built with the onnx package, every output checked
against the same network computed with numpy; sample checks, batching, options, Describe."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

from protos.v1 import sut_node_pb2 as pb
from sut_server import BackendError
from sut_server.backends import load_backend
from tests import onnx_model

from .conftest import sample

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return onnx_model.build(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def images(count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, *SHAPE), dtype=np.uint8)


def image_sample(i: int, image: np.ndarray, **fields: object) -> pb.Sample:
    fields.setdefault("dtype", "uint8")
    fields.setdefault("shape", list(image.shape))
    return sample(i, image.tobytes(), **fields)


def by_id(results):
    return {r.response_id: r for r in results}


@pytest.mark.parametrize("max_batch", [0, 8])
def test_every_output_is_the_networks(start_node, model, max_batch):
    data = images(24)
    client = start_node(
        backend="onnx", workers=2, max_batch=max_batch, backend_options={"model": str(model)}
    )
    batches = [
        pb.SampleBatch(samples=[image_sample(i, data[i]) for i in range(s, s + 6)])
        for s in range(0, 24, 6)
    ]
    got = by_id(client.infer(*batches))
    want = onnx_model.reference_logits(data)
    assert sorted(got) == list(range(24))
    for i in range(24):
        assert not got[i].error, got[i].error
        logits = np.frombuffer(got[i].payload, dtype="<f4")
        np.testing.assert_allclose(logits, want[i], rtol=1e-4, atol=1e-4)


def test_argmax_answers_and_a_fixed_batch_size_padded(start_node, tmp_path):
    fixed = onnx_model.build(tmp_path / "batch4.onnx", batch=4)
    data = images(7, seed=2)
    client = start_node(
        backend="onnx", max_batch=7, backend_options={"model": str(fixed), "answer": "argmax"}
    )
    got = by_id(client.infer(pb.SampleBatch(samples=[image_sample(i, data[i]) for i in range(7)])))
    want = np.argmax(onnx_model.reference_logits(data), axis=1)
    assert [struct.unpack("<i", got[i].payload)[0] for i in range(7)] == list(want)


def test_samples_that_do_not_fit_the_input_get_an_error_each(start_node, model):
    data = images(1)
    client = start_node(backend="onnx", backend_options={"model": str(model)})
    results = client.infer(
        pb.SampleBatch(
            samples=[
                image_sample(0, data[0]),
                image_sample(1, data[0], dtype="float32"),
                image_sample(2, data[0], shape=[32, 96]),
                sample(3, data[0].tobytes()[:-1], dtype="uint8"),
                sample(4, data[0].tobytes()),  # no dtype, no shape: the model's
            ]
        )
    )
    got = {r.response_id: r.error for r in results}
    takes = "input 'image' takes uint8 Nx32x32x3"
    assert got[0] == "" and got[4] == ""
    assert got[1] == f"onnx: sample 1 is float32, but {takes}"
    assert got[2] == f"onnx: sample 2 has shape 32x96, but {takes}"
    assert got[3] == f"onnx: sample 3 has 3071 bytes, but 32x32x3 uint8 is 3072 bytes ({takes})"


def test_describe_reports_model_hash_provider_threads(start_node, model):
    client = start_node(backend="onnx", backend_options={"model": str(model), "threads": "2"})
    options = dict(client.stub.Describe(pb.DescribeRequest(), timeout=5).backend_options)
    assert options == {
        "model": str(model),
        "model_sha256": hashlib.sha256(model.read_bytes()).hexdigest(),
        "provider": "CPUExecutionProvider",
        "threads": "2",
        "output": "logits",
        "answer": "raw",
    }
    assert load_backend("onnx", options).options == options  # what it reports starts it again


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give the model file: --backend-opt model=PATH"),
        ({"model": "/nonexistent.onnx"}, "model /nonexistent.onnx: No such file or directory"),
        ({"model": "{model}", "provider": "warp"}, "provider 'warp' (warp) is not available"),
        ({"model": "{model}", "model_sha256": "ab"}, "not model_sha256=ab"),
        ({"model": "{model}", "answer": "top5"}, "answer='top5' must be one of raw, argmax"),
        ({"model": "{model}", "output": "probs"}, "has no output 'probs' (outputs: logits)"),
        ({"model": "{model}", "threads": "-1"}, "threads='-1' must be an integer >= 0"),
        ({"model": "{model}", "batch": "8"}, "does not take option(s) batch"),
        ({"model": "{junk}"}, "cannot load model {junk}: "),
    ],
)
def test_bad_options_are_one_line_naming_the_problem(model, tmp_path, options, message):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    names = {"model": model, "junk": junk}
    options = {k: v.format(**names) for k, v in options.items()}
    with pytest.raises(BackendError) as caught:
        load_backend("onnx", options)
    assert message.format(**names) in str(caught.value)
    assert "\n" not in str(caught.value)
