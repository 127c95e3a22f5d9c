"""How big a run may get: the caps on what the LoadGen pre-generates and on how long it runs.

Before a performance series starts, the LoadGen generates every query of it in memory (as the
official one does): Offline one query of ``max(min_query_count, 1.1 x min_duration x QPS)``
samples; Server ``max(min_query_count, min_duration x QPS)`` queries; SingleStream and
MultiStream ``max(min_query_count, 2 x min_duration x QPS)`` queries (times
``samples_per_query``). Measured on this LoadGen, a run holds about 230 bytes per sample
(Offline) to 400 bytes per query (Server, SingleStream) while it runs, so a typo such as
``server_target_qps = 1e9`` (6e11 queries over 600 s) would need terabytes.

Two tiers:

- ``MAX_PREGENERATED_SAMPLES`` and ``MAX_RUN_SECONDS``: what the strict settings check
  (``loadgen.config.check_settings``, used by ``lon-run`` before anything starts) accepts.
  1e9 samples is 230-400 GB, more than a run can hold on any ordinary machine; a Server
  schedule or a min_duration longer than a day is far beyond any MLPerf run (600 s). The
  sample cap is lowered to what this machine's memory holds at ``BYTES_PER_SAMPLE``.
- ``UNRUNNABLE_SAMPLES``: what ``run_test`` itself refuses with a ValueError. 2**36 samples
  need over 1 TiB even at 16 bytes a sample; the official LoadGen dies on such settings too
  (``std::bad_alloc``), so refusing them keeps its behaviour for every run that can happen.
"""

from __future__ import annotations

import os

from ._enums import TestScenario

MAX_PREGENERATED_SAMPLES = 1_000_000_000
MAX_RUN_SECONDS = 24 * 3600
UNRUNNABLE_SAMPLES = 1 << 36
BYTES_PER_SAMPLE = 230  # the measured lower end, for the messages


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def generated_samples(
    scenario: TestScenario,
    target_qps: float,
    min_duration_ms: float,
    min_query_count: float,
    samples_per_query: float,
) -> float:
    """About how many samples one performance series pre-generates (a float: may be huge)."""
    seconds = min_duration_ms / 1000.0
    if scenario == TestScenario.Offline:
        return max(min_query_count, 1.1 * seconds * target_qps)
    span = seconds if scenario == TestScenario.Server else 2.0 * seconds
    return max(min_query_count, span * target_qps) * max(samples_per_query, 1)


def describe_samples(samples: float) -> str:
    """``6e+11 samples (about 138,000 GB)``: a count with the memory it would take."""
    gigabytes = samples * BYTES_PER_SAMPLE / 1e9
    count = f"{samples:,.0f}" if samples < 1e15 else f"{samples:.3g}"
    return f"{count} samples (about {gigabytes:,.0f} GB)"
