"""A small real ONNX classifier for the tests, and the same network computed with numpy.

uint8 NHWC images 32x32x3 -> /255 -> NCHW -> Conv 3x3 stride 2 pad 1 (8 channels) -> ReLU ->
Flatten -> Gemm to 10 logits. The weights are drawn from a seeded generator, so a test knows
every output without onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SIDE, CHANNELS, FILTERS, CLASSES = 32, 3, 8, 10
OUT_SIDE = SIDE // 2


def weights(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "conv_w": (rng.standard_normal((FILTERS, CHANNELS, 3, 3)) / 3).astype(np.float32),
        "conv_b": (0.1 * rng.standard_normal(FILTERS)).astype(np.float32),
        "fc_w": (rng.standard_normal((FILTERS * OUT_SIDE * OUT_SIDE, CLASSES)) / 45).astype(
            np.float32
        ),
        "fc_b": (0.1 * rng.standard_normal(CLASSES)).astype(np.float32),
    }


def build(path: Path, *, seed: int = 0, batch: int | str = "N", dtype: str = "uint8") -> Path:
    """Write the model to ``path``: input ``image`` [batch, 32, 32, 3], output ``logits``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = weights(seed)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    image = helper.make_tensor_value_info("image", elem, [batch, SIDE, SIDE, CHANNELS])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, CLASSES])
    scale = numpy_helper.from_array(np.array(1 / 255 if dtype == "uint8" else 1, np.float32), "s")
    nodes = [
        helper.make_node("Cast", ["image"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "s"], ["xs"]),
        helper.make_node("Transpose", ["xs"], ["nchw"], perm=[0, 3, 1, 2]),
        helper.make_node(
            "Conv", ["nchw", "conv_w", "conv_b"], ["c"], pads=[1, 1, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Flatten", ["r"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"]),
    ]
    initializers = [scale, *(numpy_helper.from_array(v, k) for k, v in w.items())]
    graph = helper.make_graph(nodes, "tiny-classifier", [image], [logits], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what every onnxruntime since 1.10 reads
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def reference_logits(images: np.ndarray, seed: int = 0) -> np.ndarray:
    """The network in float64 numpy, for (N, 32, 32, 3) images of the model's input dtype."""
    w = {k: v.astype(np.float64) for k, v in weights(seed).items()}
    x = images.astype(np.float64)
    if images.dtype == np.uint8:
        x = x * np.float64(np.float32(1 / 255))
    x = np.pad(x.transpose(0, 3, 1, 2), ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((len(images), FILTERS, OUT_SIDE, OUT_SIDE))
    for kh in range(3):
        for kw in range(3):
            patch = x[:, :, kh : kh + SIDE : 2, kw : kw + SIDE : 2]
            conv += np.einsum("nchw,oc->nohw", patch, w["conv_w"][:, :, kh, kw])
    hidden = np.maximum(conv + w["conv_b"][None, :, None, None], 0.0)
    return hidden.reshape(len(images), -1) @ w["fc_w"] + w["fc_b"]
