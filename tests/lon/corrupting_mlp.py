"""A sut-server plugin backend for the accuracy tests: numpy-mlp with known wrong answers.

    sut-server --backend tests.lon.corrupting_mlp:CorruptingMLP --backend-opt wrong_every=4

Options besides numpy-mlp's (``hidden``, ``classes``, ``seed``):

    wrong_every  N: a sample whose index is a multiple of N gets class (right + 1) % classes
    short_every  M: a sample whose index is 1 more than a multiple of M gets a 2-byte answer
                 (a malformed one); 0 (the default) for none

So the expected score of a complete accuracy log is exact and known in advance.
"""

from __future__ import annotations

from collections.abc import Sequence

from sut_server.backends.base import InferRequest, InferResult
from sut_server.backends.numpy_mlp import NumpyMLPBackend


class CorruptingMLP(NumpyMLPBackend):
    """numpy-mlp, except for the samples ``wrong_every`` and ``short_every`` pick."""

    name = "corrupting-mlp"

    def __init__(self, options: dict[str, str]) -> None:
        rest = dict(options)
        self.wrong_every = _whole(rest.pop("wrong_every", "4"), "wrong_every")
        self.short_every = _whole(rest.pop("short_every", "0"), "short_every")
        super().__init__(rest)
        if self.classes < 2:
            raise ValueError("corrupting-mlp needs classes >= 2 to give a wrong class")

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        results = list(super().infer(requests))
        for position, request in enumerate(requests):
            index, answer = request.sample_index, results[position]
            if not isinstance(answer, bytes):
                continue
            if self.short_every and index % self.short_every == 1 % self.short_every:
                results[position] = answer[:2]
            elif self.wrong_every and index % self.wrong_every == 0:
                right = int.from_bytes(answer, "little", signed=True)
                results[position] = ((right + 1) % self.classes).to_bytes(4, "little", signed=True)
        return results


def _whole(text: str, key: str) -> int:
    if not text.isdigit():
        raise ValueError(f"corrupting-mlp option {key}: expected a whole number >= 0, got {text!r}")
    return int(text)
