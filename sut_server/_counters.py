"""What each worker (a thread, or the async backend's loop) counts; summed for statistics.

Each instance is written by one thread only, so counting takes no lock.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class WorkerCounters:
    batches: int = 0  # backend calls (one per sample for a per-request backend)
    samples: int = 0  # samples given to the backend
    failed: int = 0  # samples answered with an error
    skipped: int = 0  # samples not run because their stream had ended
    peak_batch: int = 0
