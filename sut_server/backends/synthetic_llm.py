"""synthetic-llm: an LLM stand-in that streams a first token, then the full answer.

Options (flags ``--ttft-ms``, ``--tpot-ms``, ``--output-tokens`` or ``--backend-opt``):

    ttft_ms        time to the first token; default 10
    tpot_ms        time per further output token; default 1
    output_tokens  tokens per answer (N >= 1); default 16
    concurrency    requests in flight at once; default 1024 (the node queues the rest)

A per-request backend (``AsyncBackend``): each request gets its first token ``ttft_ms`` after it
starts and its final result ``tpot_ms x (N - 1)`` later, on the node's event loop, so hundreds are
in flight at once and each first token goes out on its own, as from a serving engine.

Token j (0-based) of sample s is ``(s + j) % 32000``; payloads are token ids as int32
little-endian. The KIND_FIRST_TOKEN result carries token 0 (4 bytes); the final
result carries all N tokens with ``n_tokens = N``.
"""

from __future__ import annotations

import asyncio

import numpy as np

from .base import AsyncBackend, InferRequest, InferResult, OptionReader

VOCABULARY = 32000


def tokens_for(sample_index: int, count: int) -> bytes:
    """The ``count`` token ids answered for ``sample_index``, as int32 little-endian bytes."""
    ids = (np.arange(count, dtype=np.int64) + sample_index % VOCABULARY) % VOCABULARY
    return ids.astype("<i4").tobytes()


class SyntheticLLMBackend(AsyncBackend):
    """Per request: waits ttft, emits the first token, waits tpot x (N - 1), answers."""

    name = "synthetic-llm"

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.ttft_s = opts.number("ttft_ms", 10.0, minimum=0.0, maximum=60e3) / 1e3
        self.tpot_s = opts.number("tpot_ms", 1.0, minimum=0.0, maximum=60e3) / 1e3
        self.output_tokens = opts.integer("output_tokens", 16, minimum=1, maximum=1_000_000)
        self.concurrency = opts.integer("concurrency", 1024, minimum=1, maximum=1_000_000)
        self.options = opts.finish()

    async def generate(self, request: InferRequest) -> InferResult:
        answer = tokens_for(request.sample_index, self.output_tokens)
        await asyncio.sleep(self.ttft_s)
        request.first_token(answer[:4])
        await asyncio.sleep(self.tpot_s * (self.output_tokens - 1))
        return InferResult(payload=answer, n_tokens=self.output_tokens)
