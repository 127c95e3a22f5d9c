"""lon-accuracy scores a run of --backend onnx nodes against the model file the nodes reported."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from lon._accuracy_onnx import OnnxReference
from lon._nodes import running_nodes, sut_server_command
from qdl import SyntheticSpec, synthetic_sample
from tests import onnx_model
from tests.conftest import FINISHED, LON_RUN, ROOT

from .test_accuracy import lon_accuracy

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

SPEC = "32x32x3:uint8:48"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return onnx_model.build(tmp_path_factory.mktemp("onnx") / "tiny.onnx")


def test_reference_classes_are_the_networks(model):
    spec = SyntheticSpec.parse(SPEC)
    classes, _ = OnnxReference(str(model)).expected_classes(spec, range(48), synthetic_seed=0)
    images = np.stack([synthetic_sample(spec, 0, i) for i in range(48)])
    want = np.argmax(onnx_model.reference_logits(images), axis=1)
    assert [classes[i] for i in range(48)] == list(want)
    assert len(set(want)) > 1  # a model that always says the same class would prove nothing


@pytest.mark.parametrize("answer", ["argmax", "raw"])
def test_accuracy_run_over_onnx_nodes_scores_100(model, tmp_path, answer):
    node = sut_server_command(
        "onnx",
        extra=("--backend-opt", f"model={model}", "--backend-opt", f"answer={answer}",
               "--max-batch", "8", "--batch-timeout-us", "2000"),
    )  # fmt: skip
    out = tmp_path / "run"
    with running_nodes([node, node]) as started:
        proc = subprocess.run(
            [*LON_RUN, "--nodes", ",".join(n.address for n in started), "--output", str(out),
             "--synthetic", SPEC, "--scenario", "Offline", "--mode", "AccuracyOnly",
             "--balance", "round-robin"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    stats = json.loads((out / "lon_node_stats.json").read_text())
    assert all(n["samples"] > 0 for n in stats["nodes"])
    scored = lon_accuracy("--accuracy-log", str(out))
    assert scored.returncode == 0, scored.stderr
    assert scored.stdout.splitlines()[0] == '{"accuracy": 100.0, "good": 48, "total": 48}'


def test_a_model_other_than_the_nodes_is_refused(model, tmp_path):
    out = tmp_path / "run"
    node = sut_server_command("onnx", extra=("--backend-opt", f"model={model}"))
    with running_nodes([node]) as (started,):
        proc = subprocess.run(
            [*LON_RUN, "--nodes", started.address, "--output", str(out), "--synthetic", SPEC,
             "--scenario", "Offline", "--mode", "AccuracyOnly"],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    other = onnx_model.build(tmp_path / "other.onnx", seed=3)
    refused = lon_accuracy("--accuracy-log", str(out), "--onnx-model", str(other))
    assert refused.returncode == 2
    assert refused.stderr.startswith(f"lon-accuracy: error: onnx model {other} has sha256 ")
    assert "but the nodes ran" in refused.stderr and refused.stderr.count("\n") == 1
