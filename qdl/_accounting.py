"""Per-node accounting: traffic counters and where each sample's time went.

For every answered sample the QDL measures the *round trip* (its message handed to gRPC ->
the ResponseBatch holding its answer read back), and the node reports four timestamps on its
own clock (``lon.v1.NodeTiming``). Only differences of timestamps from the same clock are used:

- node          = sent - received            (time the sample spent on the node)
- network       = round trip - node          (wire, gRPC and both hosts' stacks)
- queueing      = picked - received          (waiting on the node for a worker)
- decompression = decompressed - picked      (timed, on the node)
- compute       = computed - decompressed    (the backend, for the batch the sample was in)
- sending       = sent - computed            (the answer waiting to go out)

A node that leaves the timestamps at zero only gets round-trip figures; one that does not stamp
``picked_ns`` gets no queueing figure, and its decompression counts from ``received``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._wire import NodeTiming
from .transports import NodeDescription

TIMING_PARTS = (
    "round_trip", "network", "node", "queueing", "decompression", "compute", "sending"
)  # fmt: skip


@dataclass(frozen=True)
class NodeCounters:
    """A snapshot of one node's counters."""

    samples_issued: int
    samples_answered: int
    messages_issued: int
    bytes_issued: int
    responses_received: int
    bytes_received: int


class NodeAccount:
    """Counters and timing samples of one node; safe to update from several threads."""

    def __init__(self, description: NodeDescription) -> None:
        self.description = description
        self._lock = threading.Lock()
        self._samples_issued = 0
        self._messages_issued = 0
        self._bytes_issued = 0
        self._answered = 0
        self._responses = 0
        self._bytes_received = 0
        self._times: dict[str, list[int]] = {part: [] for part in TIMING_PARTS}

    def issued(self, n_samples: int, n_bytes: int) -> None:
        with self._lock:
            self._samples_issued += n_samples
            self._messages_issued += 1
            self._bytes_issued += n_bytes

    def received(self, n_bytes: int, answered: list[tuple[int, NodeTiming]]) -> None:
        """One ResponseBatch of ``n_bytes``; ``answered`` holds (round trip ns, node timing)."""
        with self._lock:
            self._responses += 1
            self._bytes_received += n_bytes
            self._answered += len(answered)
            times = self._times
            for round_trip, t in answered:
                times["round_trip"].append(round_trip)
                if t.sent_ns and t.received_ns:
                    node = t.sent_ns - t.received_ns
                    times["node"].append(node)
                    times["network"].append(round_trip - node)
                    if t.decompressed_ns and t.computed_ns:
                        picked = t.picked_ns
                        if picked:
                            times["queueing"].append(picked - t.received_ns)
                        else:
                            picked = t.received_ns
                        times["decompression"].append(t.decompressed_ns - picked)
                        times["compute"].append(t.computed_ns - t.decompressed_ns)
                        times["sending"].append(t.sent_ns - t.computed_ns)

    @property
    def answered(self) -> int:
        """Samples answered so far, read without the lock (for a live display)."""
        return self._answered

    def round_trips_since(self, start: int) -> list[int]:
        """Round trips (ns) recorded from position ``start`` on, without the lock: one slice,
        which CPython copies whole while appends go on, so a reader never holds up a writer."""
        return self._times["round_trip"][start:]

    def counters(self) -> NodeCounters:
        with self._lock:
            return NodeCounters(
                self._samples_issued,
                self._answered,
                self._messages_issued,
                self._bytes_issued,
                self._responses,
                self._bytes_received,
            )

    def report(self) -> dict[str, Any]:
        """A JSON-ready summary: description, counters and per-part median/p99/mean in ms."""
        d = self.description
        c = self.counters()
        with self._lock:
            timing = {part: _summary_ms(values) for part, values in self._times.items()}
        return {
            "address": d.address,
            "name": d.name,
            "backend": d.backend,
            "backend_options": dict(d.backend_options),
            "version": d.version,
            "capacity": d.capacity,
            "samples_issued": c.samples_issued,
            "samples": c.samples_answered,
            "messages_sent": c.messages_issued,
            "bytes_sent": c.bytes_issued,
            "responses_received": c.responses_received,
            "bytes_received": c.bytes_received,
            "timing_ms": timing,
        }


def _summary_ms(values: list[int]) -> dict[str, float | int] | None:
    if not values:
        return None
    a = np.asarray(values, dtype=np.float64) / 1e6
    return {
        "count": int(a.size),
        "median": round(float(np.median(a)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "mean": round(float(a.mean()), 4),
    }


def format_table(reports: list[dict[str, Any]]) -> str:
    """A short fixed-width table of per-node samples, traffic and median/p99 times."""
    labels = [f"{r['name']} ({r['address']})" for r in reports]
    width = max([4, *(len(label) for label in labels)])
    header = (
        f"{'node':<{width}} {'samples':>8} {'MB sent':>8} {'MB recv':>8} "
        f"{'rtt ms':>15} {'network ms':>15} {'queueing ms':>15} {'compute ms':>15}"
    )
    lines = [header, "-" * len(header)]

    def cell(part: dict[str, Any] | None) -> str:
        text = "-" if part is None else f"{part['median']:.2f}/{part['p99']:.2f}"
        return f"{text:>15}"

    for label, r in zip(labels, reports):
        t = r["timing_ms"]
        lines.append(
            f"{label:<{width}} {r['samples']:>8} {r['bytes_sent'] / 1e6:>8.2f} "
            f"{r['bytes_received'] / 1e6:>8.2f} {cell(t['round_trip'])} "
            f"{cell(t['network'])} {cell(t.get('queueing'))} {cell(t['compute'])}"
        )
    lines.append(
        "(times: median/p99 per sample; network = round trip minus time on the node; "
        "queueing = waiting on the node for a worker)"
    )
    return "\n".join(lines)
