"""What the reference engine is told to do: timing, answer lengths, capacity and faults."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class OutputLength:
    """Answer lengths: a fixed ``low`` (``low == high``) or uniform in [low, high] per prompt."""

    low: int
    high: int

    def __str__(self) -> str:
        return str(self.low) if self.low == self.high else f"uniform:{self.low}:{self.high}"


def parse_output_length(text: str) -> OutputLength:
    """``N`` or ``uniform:LO:HI`` (1 <= LO <= HI); ValueError with the accepted forms otherwise."""
    form = "N or uniform:LO:HI with 1 <= LO <= HI"
    parts = text.split(":")
    try:
        if len(parts) == 1:
            low = high = int(parts[0])
        elif len(parts) == 3 and parts[0] == "uniform":
            low, high = int(parts[1]), int(parts[2])
        else:
            raise ValueError
    except ValueError:
        raise ValueError(f"--output-tokens {text!r}: expected {form}") from None
    if not 1 <= low <= high <= 1_000_000:
        raise ValueError(f"--output-tokens {text!r}: expected {form} (at most 1000000)")
    return OutputLength(low, high)


@dataclasses.dataclass(frozen=True)
class EngineConfig:
    """The reference engine's settings (the command-line flags, one field each)."""

    model: str = "reference-engine"
    ttft_ms: float = 0.0
    tpot_ms: float = 0.0
    output_tokens: OutputLength = OutputLength(16, 16)
    vocab_size: int = 32000
    max_concurrency: int = 1024
    sglang_incremental: bool = False
    fail_every: int = 0
    drop_stream_after: int = -1
    stall_after: int = -1
    malformed_after: int = -1
    overcount_usage: int = 0
    startup_delay_s: float = 0.0
    text_only: bool = False
    api_key: str = ""
