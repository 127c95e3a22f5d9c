"""What report.html plots, read from a run's logs, whichever LoadGen wrote them.

The per-sample times come from ``mlperf_log_trace.json`` (Chrome-trace JSON): each "Sample"
begin event sits at the sample's scheduled time and carries its issue delay and latency
relative to it. The official LoadGen's trace is not strict JSON (some args are double-quoted),
so it is read a line at a time and lines that do not parse are skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

TRACE_FILE = "mlperf_log_trace.json"


@dataclass(frozen=True)
class SampleTimes:
    """Per-sample times in ns from the test's start: scheduled, issue delay, latency."""

    scheduled_ns: np.ndarray
    issue_delay_ns: np.ndarray
    latency_ns: np.ndarray

    @property
    def issued_ns(self) -> np.ndarray:
        return self.scheduled_ns + self.issue_delay_ns

    @property
    def completed_ns(self) -> np.ndarray:
        return self.scheduled_ns + self.latency_ns

    def __len__(self) -> int:
        return int(self.latency_ns.size)


def read_sample_times(directory: str) -> SampleTimes | None:
    """The samples of the trace in ``directory``; None when there is no (readable) trace."""
    path = os.path.join(directory, TRACE_FILE)
    scheduled: list[float] = []
    delay: list[int] = []
    latency: list[int] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if '"Sample"' not in line or '"ph":"b"' not in line:
                    continue
                try:
                    event = json.loads(line.rstrip().rstrip(","))
                    args = event["args"]
                    scheduled.append(float(event["ts"]) * 1000)
                    delay.append(int(args["issue_start_ns"]))
                    latency.append(int(args["complete_ns"]))
                except (ValueError, KeyError, TypeError):
                    continue
    except OSError:
        return None
    if not latency:
        return None
    return SampleTimes(
        np.asarray(scheduled, dtype=np.float64),
        np.asarray(delay, dtype=np.float64),
        np.asarray(latency, dtype=np.float64),
    )
