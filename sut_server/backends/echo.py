"""echo: answers every sample with its own (decompressed) payload; the transport benchmark."""

from __future__ import annotations

from collections.abc import Sequence

from .base import Backend, InferRequest, InferResult


class EchoBackend(Backend):
    """Returns each request's decompressed bytes unchanged; takes no options."""

    name = "echo"
    inline = True  # nothing to compute: run on the receiving thread, no hand-off to a worker

    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        return [request.data for request in requests]
