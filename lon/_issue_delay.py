"""The LoadGen's issue delay (actual issue time minus scheduled time) as lon-run reports it.

In the Server scenario latency counts from the scheduled time, so a LoadGen that falls behind
its schedule never hides latency, but the nodes then see the load later and burstier than
scheduled. lon-run prints the delay after every Server run and warns when it is a noticeable
share of the latency bound, so such a run says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

WARN_SHARE = 0.10
"""Warn when the p99 issue delay exceeds this share of the latency bound."""


def summarize(delays_ns: Any) -> dict[str, float | int] | None:
    """Count, median, p99 and max of the delays in ms; None when there are none."""
    a = np.asarray(delays_ns if delays_ns is not None else [], dtype=np.float64)
    if a.size == 0:
        return None
    ms = a / 1e6
    return {
        "queries": int(a.size),
        "median": round(float(np.median(ms)), 4),
        "p99": round(float(np.percentile(ms, 99)), 4),
        "max": round(float(ms.max()), 4),
    }


def describe(summary: dict[str, float | int]) -> str:
    return (
        f"issue delay (actual - scheduled issue) over {summary['queries']:,} queries: "
        f"p50 {summary['median']:.3f} ms, p99 {summary['p99']:.3f} ms, "
        f"max {summary['max']:.3f} ms"
    )


def behind_schedule(summary: dict[str, float | int], latency_bound_ns: int) -> str | None:
    """A warning when the LoadGen fell noticeably behind its schedule, else None."""
    bound_ms = latency_bound_ns / 1e6
    p99 = float(summary["p99"])
    if bound_ms <= 0 or p99 <= WARN_SHARE * bound_ms:
        return None
    return (
        f"the LoadGen fell behind its schedule: p99 issue delay {p99:.3f} ms is "
        f"{p99 / bound_ms:.0%} of the {bound_ms:g} ms latency bound, so the nodes saw the load "
        "later than scheduled (the latencies include the delay); this process is short of CPU"
    )
