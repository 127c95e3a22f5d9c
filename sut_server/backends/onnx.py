"""onnx: a real inference runtime on the node, onnxruntime running a model file.

Options (``--backend-opt KEY=VALUE``)::

    model         path of the .onnx file (required)
    model_sha256  the file's SHA-256; when given, a different file is refused (pins the model)
    provider      cpu (default), cuda, tensorrt, rocm, openvino, dml, coreml, or any full
                  onnxruntime provider name (e.g. CUDAExecutionProvider); must be available
    threads       onnxruntime intra-op threads per call; 0 (default) lets onnxruntime choose
    output        which model output answers a sample; default: the model's first output
    answer        raw (default): the sample's row of that output, its bytes little-endian;
                  argmax: the index of its largest element as int32 little-endian (what
                  ``lon-accuracy`` scores, like numpy-mlp's answer)

The model takes exactly one input, whose first dimension is the batch dimension. Each sample's
dtype (empty: the model's) and shape (empty: the model's per-sample shape, which must then be
fixed) must match that input; a sample that does not fit gets an error naming the input, the
sample's dtype/shape/size and what the model takes, and the other samples of its batch still run.
Samples of one call (``--max-batch N`` groups up to N) run as one batch when the batch dimension
is free; a model with a fixed batch size B runs them B at a time, the last group padded with zeros.

Describe reports every option in effect, with the model's absolute path, its ``model_sha256``
and onnxruntime's provider name: a run's record says which file and which runtime computed its
answers, and the reported options start an identical node.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._errors import BackendError
from .base import Backend, InferRequest, InferResult, OptionReader

PROVIDERS = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "rocm": "ROCMExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
    "coreml": "CoreMLExecutionProvider",
}
"""Short provider names -> onnxruntime's names."""

ANSWERS = ("raw", "argmax")

# onnxruntime's tensor type names -> numpy dtypes (the ones a sample can carry).
_TENSOR_TYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(uint16)": "uint16",
    "tensor(int16)": "int16",
    "tensor(uint32)": "uint32",
    "tensor(int32)": "int32",
    "tensor(uint64)": "uint64",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def file_sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendError(
            f"backend 'onnx' needs onnxruntime ({exc}); install it with: pip install 'lon[onnx]'"
        ) from exc
    return onnxruntime


class OnnxBackend(Backend):
    """One onnxruntime session, shared by the worker threads (``run`` is thread-safe)."""

    name = "onnx"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        model = opts.string("model", "")
        pinned = opts.string("model_sha256", "").lower()
        provider = opts.string("provider", "cpu")
        threads = opts.integer("threads", 0, minimum=0)
        output = opts.string("output", "")
        self.answer = opts.string("answer", "raw")
        in_effect = opts.finish()
        if not model:
            raise BackendError("backend 'onnx': give the model file: --backend-opt model=PATH")
        if self.answer not in ANSWERS:
            raise BackendError(
                f"backend 'onnx': option answer={self.answer!r} must be one of {', '.join(ANSWERS)}"
            )
        path = os.path.abspath(model)
        try:
            sha256 = file_sha256(path)
        except OSError as exc:
            raise BackendError(f"backend 'onnx': model {path}: {exc.strerror}") from exc
        if pinned and pinned != sha256:
            raise BackendError(
                f"backend 'onnx': model {path} has sha256 {sha256}, not model_sha256={pinned}"
            )
        ort = _import_onnxruntime()
        self.provider = self._provider(ort, provider)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        session_options.log_severity_level = 3  # warnings would go to the node's stderr per call
        try:
            self.session = ort.InferenceSession(
                path, sess_options=session_options, providers=[self.provider]
            )
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise BackendError(f"backend 'onnx': cannot load model {path}: {first}") from None
        self._bind_input(path)
        self.output = self._pick_output(path, output)
        self.options = {
            **in_effect,
            "model": path,
            "model_sha256": sha256,
            "provider": self.provider,
            "output": self.output,
        }

    @staticmethod
    def _provider(ort: Any, provider: str) -> str:
        full = PROVIDERS.get(provider.lower(), provider)
        available = list(ort.get_available_providers())
        if full not in available:
            raise BackendError(
                f"backend 'onnx': provider {provider!r} ({full}) is not available in this "
                f"onnxruntime (available: {', '.join(available)})"
            )
        return str(full)

    def _bind_input(self, path: str) -> None:
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise BackendError(
                f"backend 'onnx': model {path} has {len(inputs)} inputs ({names}); a sample feeds "
                "exactly one"
            )
        (arg,) = inputs
        dtype = _TENSOR_TYPES.get(arg.type)
        if dtype is None:
            raise BackendError(
                f"backend 'onnx': model {path}: input {arg.name!r} is {arg.type}, which a sample "
                "cannot carry"
            )
        if not arg.shape:
            raise BackendError(
                f"backend 'onnx': model {path}: input {arg.name!r} is a scalar; the first "
                "dimension of the input must be the batch dimension"
            )
        self.input_name: str = arg.name
        self.dtype = np.dtype(dtype)
        batch = arg.shape[0]
        self.batch_size: int | None = batch if isinstance(batch, int) and batch > 0 else None
        # Per-sample dimensions; None where the model leaves a dimension free.
        self.sample_dims: tuple[int | None, ...] = tuple(
            d if isinstance(d, int) and d > 0 else None for d in arg.shape[1:]
        )

    def _pick_output(self, path: str, wanted: str) -> str:
        names = [o.name for o in self.session.get_outputs()]
        if not wanted:
            return str(names[0])
        if wanted not in names:
            raise BackendError(
                f"backend 'onnx': model {path} has no output {wanted!r} (outputs: "
                f"{', '.join(names)})"
            )
        return wanted

    def _shape_text(self) -> str:
        batch = "N" if self.batch_size is None else str(self.batch_size)
        return "x".join([batch, *("?" if d is None else str(d) for d in self.sample_dims)])

    def check(self, request: InferRequest) -> np.ndarray:
        """The sample as the model's input row; ValueError says what does not fit."""
        what = f"onnx: sample {request.sample_index}"
        takes = f"input {self.input_name!r} takes {self.dtype.name} {self._shape_text()}"
        if request.dtype and request.dtype != self.dtype.name:
            raise ValueError(f"{what} is {request.dtype}, but {takes}")
        shape = tuple(request.shape)
        if shape:
            fits = len(shape) == len(self.sample_dims) and all(
                want is None or want == got for want, got in zip(self.sample_dims, shape)
            )
            if not fits:
                raise ValueError(f"{what} has shape {'x'.join(map(str, shape))}, but {takes}")
        elif None in self.sample_dims:
            raise ValueError(f"{what} has no shape, and {takes} (free dimensions need one)")
        else:
            shape = tuple(d for d in self.sample_dims if d is not None)
        need = int(np.prod(shape, dtype=np.int64)) * self.dtype.itemsize
        if len(request.data) != need:
            raise ValueError(
                f"{what} has {len(request.data)} bytes, but {'x'.join(map(str, shape))} "
                f"{self.dtype.name} is {need} bytes ({takes})"
            )
        return np.frombuffer(request.data, dtype=self.dtype.newbyteorder("<")).reshape(shape)

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        results: list[InferResult | bytes] = [b""] * len(requests)
        by_shape: dict[tuple[int, ...], list[tuple[int, np.ndarray]]] = {}
        for position, request in enumerate(requests):
            try:
                row = self.check(request)
            except ValueError as exc:
                results[position] = InferResult(error=str(exc))
                continue
            by_shape.setdefault(row.shape, []).append((position, row))
        for rows in by_shape.values():
            step = self.batch_size or len(rows)
            for start in range(0, len(rows), step):
                group = rows[start : start + step]
                for (position, _), answer in zip(group, self._run([r for _, r in group])):
                    results[position] = answer
        return results

    def _run(self, rows: list[np.ndarray]) -> list[bytes]:
        batch = np.stack(rows).astype(self.dtype, copy=False)
        if self.batch_size is not None and len(rows) < self.batch_size:
            pad = np.zeros((self.batch_size - len(rows), *batch.shape[1:]), dtype=self.dtype)
            batch = np.concatenate([batch, pad])
        (out,) = self.session.run([self.output], {self.input_name: batch})
        out = np.asarray(out)[: len(rows)]
        if self.answer == "argmax":
            flat = out.reshape(len(rows), -1)
            return [struct.pack("<i", int(i)) for i in np.argmax(flat, axis=1)]
        little = out.astype(out.dtype.newbyteorder("<"), copy=False)
        return [np.ascontiguousarray(r).tobytes() for r in little]
