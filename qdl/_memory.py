"""Whether a synthetic data set fits in memory, checked before anything is allocated.

Without the check an absurd ``--synthetic`` shape ends deep in numpy with an allocation
traceback; with it the run stops at once with one line saying what it needs and what is there.
"""

from __future__ import annotations

from ._exceptions import ConfigError

MEMINFO = "/proc/meminfo"


def available_bytes(meminfo: str = MEMINFO) -> int | None:
    """MemAvailable from ``meminfo`` in bytes; None where the file or the line is missing."""
    try:
        with open(meminfo, encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    fields = line.split()
                    return int(fields[1]) * 1024 if fields[2:3] == ["kB"] else int(fields[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(what: str, sample_bytes: int, loaded: int, available: int | None) -> None:
    """ConfigError when ``loaded`` samples of ``sample_bytes`` each need more than
    ``available`` bytes (nothing is checked when the available memory is unknown)."""
    needed = sample_bytes * loaded
    if available is not None and needed > available:
        raise ConfigError(
            f"{what}: needs {needed:,} bytes ({sample_bytes:,} bytes per sample x {loaded:,} "
            f"samples loaded at once) but only {available:,} bytes of memory are available "
            f"(MemAvailable in {MEMINFO})"
        )
