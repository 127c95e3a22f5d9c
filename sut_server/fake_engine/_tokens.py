"""The reference engine's answers: token j of a request depends only on its prompt and j."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from ._config import OutputLength

_STRIDE = 7919  # a prime: consecutive tokens of one answer differ


def prompt_seed(prompt: Sequence[int]) -> int:
    """A 32-bit digest of the prompt's token ids (what every answer is derived from)."""
    return zlib.crc32(np.asarray(prompt, dtype="<i4").tobytes())


def output_length(prompt: Sequence[int], lengths: OutputLength) -> int:
    """How many tokens the engine answers ``prompt`` with before its end of sequence."""
    span = lengths.high - lengths.low + 1
    return lengths.low + (prompt_seed(prompt) // 7) % span


def output_tokens(prompt: Sequence[int], count: int, vocab_size: int = 32000) -> list[int]:
    """The first ``count`` output token ids for ``prompt``."""
    seed = prompt_seed(prompt)
    return [(seed + _STRIDE * j) % vocab_size for j in range(count)]


def token_text(token: int) -> str:
    """The text of one token: ``" t<id>"`` (a word-level tokenizer maps it back)."""
    return f" t{token}"
