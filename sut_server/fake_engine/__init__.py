"""A reference LLM engine: a stand-in HTTP server for tests, demos and benchmarks, NOT a model.

It speaks the two HTTP dialects the ``openai`` and ``sglang`` backends use (OpenAI completions
with token-id prompts, SGLang's native ``/generate``), streams deterministic token ids on a
configurable schedule, batches continuously up to ``--max-concurrency`` requests, and can inject
the faults real engines show (HTTP 500s, dropped or stalled streams, slow start-up, text without
token ids). Every place it names itself says it is a stand-in::

    python -m sut_server.fake_engine --listen 127.0.0.1:0 --ttft-ms 20 --tpot-ms 5

See ``sut_server/README.md`` (LLM engines) for every flag.
"""

from __future__ import annotations

from ._config import EngineConfig, OutputLength, parse_output_length
from ._tokens import output_length, output_tokens, prompt_seed, token_text

__all__ = [
    "EngineConfig",
    "OutputLength",
    "output_length",
    "output_tokens",
    "parse_output_length",
    "prompt_seed",
    "token_text",
]
