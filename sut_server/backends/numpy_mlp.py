"""numpy-mlp: real compute, a seeded two-layer perceptron, so accuracy can be checked end to end.

Options (flags ``--hidden``, ``--classes``, ``--seed`` or ``--backend-opt``):

    hidden   H, hidden units; default 64
    classes  C, output classes; default 10
    seed     the weight seed; default 0

The exact computation for one sample (a reference implementation may recompute it independently):

1. Input. ``dtype`` is the Sample's dtype field, ``"uint8"`` when empty; any numpy integer or float
   type name is accepted, multi-byte types are read little-endian. The payload (decompressed) is
   read flat: ``v = np.frombuffer(payload, dtype)``; D = ``v.size`` must be >= 1 and, when the
   Sample has a shape, equal its product. Then ``x = v.astype(np.float32)`` and, for uint8 only,
   ``x = x / np.float32(255.0)`` (float32 division, values in [0, 1]).
2. Weights, drawn for each input size D from a fresh generator, in this order::

       rng = np.random.default_rng(seed)
       W1 = rng.standard_normal((D, H)) / np.sqrt(D)     # float64, shape (D, H)
       b1 = 0.1 * rng.standard_normal(H)
       W2 = rng.standard_normal((H, C)) / np.sqrt(H)     # float64, shape (H, C)
       b2 = 0.1 * rng.standard_normal(C)

3. Forward pass in float64::

       h = np.maximum(x.astype(np.float64) @ W1 + b1, 0.0)
       logits = h @ W2 + b2
       class_id = int(np.argmax(logits))                  # lowest index wins a tie

4. Output: ``class_id`` as 4 bytes, int32 little-endian (``struct.pack("<i", class_id)``), and
   nothing else.

Samples are computed in batches (rows of one matrix product); batched and one-at-a-time products
can differ in the last bits of a float64, which could only change an argmax on an exact near-tie.
The weights take 8 x D x H bytes per distinct input size (e.g. 77 MB for a 224x224x3 input, H=64).
The node keeps the weights of recent sizes up to ``WEIGHT_CACHE_BYTES`` in all (least recently used
go first); a sample whose weights alone would exceed it is answered with an error, not computed.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from .base import Backend, InferRequest, InferResult, OptionReader

_Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

MAX_UNITS = 65536
"""Largest ``hidden`` and ``classes`` accepted."""

WEIGHT_CACHE_BYTES = 1024 * 1024 * 1024
"""Weights kept for all input sizes together; a hostile mix of sizes cannot grow it further."""


def weight_bytes(inputs: int, hidden: int, classes: int) -> int:
    """What ``make_weights`` allocates (float64)."""
    return 8 * (inputs * hidden + hidden + hidden * classes + classes)


def make_weights(seed: int, inputs: int, hidden: int, classes: int) -> _Weights:
    """W1, b1, W2, b2 for ``inputs`` features, exactly as the module docstring states."""
    rng = np.random.default_rng(seed)
    w1 = rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)
    b1 = 0.1 * rng.standard_normal(hidden)
    w2 = rng.standard_normal((hidden, classes)) / np.sqrt(hidden)
    b2 = 0.1 * rng.standard_normal(classes)
    return w1, b1, w2, b2


def to_features(data: bytes, dtype: str, shape: Sequence[int]) -> np.ndarray:
    """The float32 feature vector for one payload; ValueError names what does not fit."""
    name = dtype or "uint8"
    try:
        kind = np.dtype(name)
    except TypeError:
        raise ValueError(f"numpy-mlp: unknown dtype {name!r}") from None
    if kind.kind not in "uif":
        raise ValueError(f"numpy-mlp: dtype {name!r} is not an integer or float type")
    kind = kind.newbyteorder("<")
    if len(data) % kind.itemsize:
        raise ValueError(
            f"numpy-mlp: payload of {len(data)} bytes is not a whole number of {name} elements"
        )
    values = np.frombuffer(data, dtype=kind)
    if values.size == 0:
        raise ValueError("numpy-mlp: empty input")
    if len(shape) and int(np.prod(shape)) != values.size:
        raise ValueError(
            f"numpy-mlp: payload has {values.size} {name} elements but shape "
            f"{tuple(shape)} needs {int(np.prod(shape))}"
        )
    x = values.astype(np.float32)
    if kind == np.uint8:
        x = x / np.float32(255.0)
    return x


def classify(features: np.ndarray, weights: _Weights) -> np.ndarray:
    """Class ids for a (batch, D) float32 matrix, as the module docstring states."""
    w1, b1, w2, b2 = weights
    hidden = np.maximum(features.astype(np.float64) @ w1 + b1, 0.0)
    classes: np.ndarray = np.argmax(hidden @ w2 + b2, axis=1)
    return classes


class NumpyMLPBackend(Backend):
    """A seeded 2-layer MLP; weights are made on first use of each input size."""

    name = "numpy-mlp"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.hidden = opts.integer("hidden", 64, minimum=1, maximum=MAX_UNITS)
        self.classes = opts.integer("classes", 10, minimum=1, maximum=MAX_UNITS)
        self.seed = opts.integer("seed", 0, minimum=0, maximum=2**64 - 1)
        self.options = opts.finish()
        self._weights: OrderedDict[int, _Weights] = OrderedDict()
        self._cached_bytes = 0
        self._lock = threading.Lock()

    def weights(self, inputs: int) -> _Weights:
        """The weights for ``inputs`` features (cached, least recently used evicted first);
        ValueError when they alone would exceed ``WEIGHT_CACHE_BYTES``."""
        need = weight_bytes(inputs, self.hidden, self.classes)
        if need > WEIGHT_CACHE_BYTES:
            raise ValueError(
                f"numpy-mlp: an input of {inputs} features needs {need} bytes of weights "
                f"(hidden={self.hidden}), more than the node's {WEIGHT_CACHE_BYTES}-byte budget"
            )
        with self._lock:
            found = self._weights.get(inputs)
            if found is not None:
                self._weights.move_to_end(inputs)
                return found
            while self._weights and self._cached_bytes + need > WEIGHT_CACHE_BYTES:
                old, _ = self._weights.popitem(last=False)
                self._cached_bytes -= weight_bytes(old, self.hidden, self.classes)
            found = make_weights(self.seed, inputs, self.hidden, self.classes)
            self._weights[inputs] = found
            self._cached_bytes += need
            return found

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        results: list[InferResult | bytes] = [b""] * len(requests)
        by_size: dict[int, list[tuple[int, np.ndarray]]] = {}
        for position, request in enumerate(requests):
            try:
                x = to_features(request.data, request.dtype, request.shape)
            except ValueError as exc:
                results[position] = InferResult(error=str(exc))
                continue
            by_size.setdefault(x.size, []).append((position, x))
        for size, rows in by_size.items():
            try:
                weights = self.weights(size)
            except ValueError as exc:
                for position, _ in rows:
                    results[position] = InferResult(error=str(exc))
                continue
            classes = classify(np.stack([x for _, x in rows]), weights)
            for (position, _), class_id in zip(rows, classes):
                results[position] = struct.pack("<i", int(class_id))
        return results
