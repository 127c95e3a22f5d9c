"""echo: answers every sample with its own (decompressed) payload; the transport benchmark."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Backend, InferRequest, InferResult


class EchoBackend(Backend):
    """Returns each request's decompressed bytes unchanged; takes no options."""

    name = "echo"

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        return [request.data for request in requests]
