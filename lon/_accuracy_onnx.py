"""Score a run of ``sut-server --backend onnx`` on a synthetic data set: the reference answers
come from the same model file run here by onnxruntime's CPU provider.

That is the MLPerf arrangement (a reference implementation's answers against the SUT's), and it
tells whether the nodes (another provider, other threads, batching, the network between) answered
what the model answers. The model must be the very file the nodes ran: the run records each
node's ``model_sha256``, and a file with another hash is refused.

The expected answer for a sample is the index of the largest element of its row of the model's
output (the one the nodes used). A node's answer is scored as that index: 4 bytes int32 for
``answer=argmax``, the row itself for ``answer=raw`` (anything else is malformed).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from loadgen.submission import file_hash
from qdl import ConfigError, SyntheticSpec, synthetic_sample

from ._accuracy import AccuracyReport, decode_class, read_scorable_log, score

BACKEND = "onnx"
_ROWS_PER_RUN = 256


@dataclass(frozen=True)
class OnnxReference:
    """The model file (checked against ``sha256`` when known), its output, the answer form."""

    path: str
    sha256: str = ""
    output: str = ""
    answer: str = "argmax"

    def _session(self) -> Any:
        try:
            import onnxruntime
        except ImportError as exc:
            raise ConfigError(
                f"scoring an onnx run needs onnxruntime ({exc}): pip install 'lon[onnx]'"
            ) from exc
        try:
            found = file_hash(self.path)
        except OSError as exc:
            raise ConfigError(f"onnx model {self.path}: {exc.strerror}") from exc
        if self.sha256 and found != self.sha256:
            raise ConfigError(
                f"onnx model {self.path} has sha256 {found}, but the nodes ran {self.sha256}; "
                "give the file they ran with --onnx-model"
            )
        try:
            return onnxruntime.InferenceSession(self.path, providers=["CPUExecutionProvider"])
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [repr(exc)])[0]
            raise ConfigError(f"onnx model {self.path}: cannot load: {first}") from None

    def expected_classes(
        self, spec: SyntheticSpec, indices: Iterable[int], *, synthetic_seed: int = 0
    ) -> tuple[dict[int, int], np.dtype]:
        """The class the model gives each of ``indices`` of ``SyntheticQSL(spec, seed)``, and
        the dtype of the output rows those classes come from."""
        session = self._session()
        (arg,) = session.get_inputs()  # the backend runs single-input models only
        output = self.output or session.get_outputs()[0].name
        batch = arg.shape[0] if isinstance(arg.shape[0], int) and arg.shape[0] > 0 else None
        wanted = sorted(set(indices))
        for index in wanted:
            if not 0 <= index < spec.count:
                raise ConfigError(
                    f"sample index {index} is out of range 0..{spec.count - 1} for {spec}"
                )
        step = batch or _ROWS_PER_RUN
        out: dict[int, int] = {}
        row_dtype = np.dtype(np.float32)
        for start in range(0, len(wanted), step):
            chunk = wanted[start : start + step]
            rows = np.stack([synthetic_sample(spec, synthetic_seed, i) for i in chunk])
            if batch is not None and len(chunk) < batch:
                pad = np.zeros((batch - len(chunk), *rows.shape[1:]), dtype=rows.dtype)
                rows = np.concatenate([rows, pad])
            try:
                (result,) = session.run([output], {arg.name: rows})
            except Exception as exc:
                first = (str(exc).strip().splitlines() or [repr(exc)])[0]
                raise ConfigError(
                    f"onnx model {self.path} cannot take --synthetic {spec}: {first}"
                ) from None
            flat = np.asarray(result)[: len(chunk)].reshape(len(chunk), -1)
            row_dtype = flat.dtype
            for index, class_id in zip(chunk, np.argmax(flat, axis=1)):
                out[index] = int(class_id)
        return out, row_dtype

    def decoder(self, row_dtype: np.dtype) -> Callable[[bytes], int | None]:
        """How to read a node's answer as a class id (None: malformed)."""
        if self.answer == "argmax":
            return decode_class
        dtype = row_dtype.newbyteorder("<")

        def from_row(data: bytes) -> int | None:
            if not data or len(data) % dtype.itemsize:
                return None
            return int(np.argmax(np.frombuffer(data, dtype=dtype)))

        return from_row


def ran_onnx(nodes: Sequence[Mapping[str, object]]) -> bool:
    return bool(nodes) and all(n.get("backend") == BACKEND for n in nodes)


def reference_from_record(
    nodes: Sequence[Mapping[str, object]], record_path: str, model: str | None
) -> OnnxReference:
    """The reference the nodes' reported options describe; ``model`` overrides the file's path
    (the scoring machine may keep it elsewhere). The nodes must agree on file, output, answer."""
    reported = [n.get("backend_options") or {} for n in nodes]
    chosen: dict[str, str] = {}
    for key in ("model", "model_sha256", "output", "answer"):
        values = sorted({str(r.get(key, "")) for r in reported if isinstance(r, Mapping)})
        if len(values) > 1:
            raise ConfigError(
                f"the nodes in {record_path} ran the onnx backend with different {key} values "
                f"({', '.join(values)}): their answers are not one model's"
            )
        chosen[key] = values[0] if values else ""
    path = model or chosen["model"]
    if not path:
        raise ConfigError(f"{record_path} names no onnx model; give it with --onnx-model")
    answer = chosen["answer"] or "raw"
    return OnnxReference(os.path.abspath(path), chosen["model_sha256"], chosen["output"], answer)


def check_onnx_accuracy_log(
    path: str | os.PathLike[str],
    spec: SyntheticSpec,
    reference: OnnxReference,
    *,
    synthetic_seed: int = 0,
) -> AccuracyReport:
    """Read and score one accuracy log of an onnx run on ``SyntheticQSL(spec, seed)``."""
    entries = read_scorable_log(os.fspath(path), spec)
    expected, row_dtype = reference.expected_classes(
        spec, (e.qsl_idx for e in entries), synthetic_seed=synthetic_seed
    )
    return score(entries, expected, spec.count, reference.decoder(row_dtype))
