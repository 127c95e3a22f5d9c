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

Memory per sample stays small however long the run: five ``_Column`` s of float32 nanoseconds
(round trip, node, queueing, decompression, compute: 20 bytes a sample, exact to 7 significant
digits, NaN where the node gave no stamps), each filled from a short Python list spilled into a
numpy block every few thousand values; network and sending are derived from them for the report.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._wire import NodeTiming, ResultRows
from .transports import NodeDescription

TIMING_PARTS = (
    "round_trip", "network", "node", "queueing", "decompression", "compute", "sending"
)  # fmt: skip
_STORED = ("round_trip", "node", "queueing", "decompression", "compute")  # the others are derived
_NAN = float("nan")
# Token latency histograms in lon_node_stats.json: log-spaced bins 2% wide, 1 us to 1000 s.
TOKEN_BIN_EDGES_NS = np.geomspace(1e3, 1e12, int(np.log(1e9) / np.log(1.02)) + 1)


class _Column:
    """A growing series of durations in ns: float32 blocks plus a short list being filled.

    A spill replaces the list rather than clearing it, so a reader without the lock (``since``)
    sees either the old list or the new one, never a half-moved one."""

    SPILL = 4096

    __slots__ = ("_blocks", "_fill", "append")

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._fill: list[float] = []
        self.append = self._fill.append

    def spill_if_full(self) -> None:
        if len(self._fill) >= self.SPILL:
            self._blocks.append(np.asarray(self._fill, dtype=np.float32))
            self._fill = []
            self.append = self._fill.append

    def values(self) -> np.ndarray:
        return np.concatenate([*self._blocks, np.asarray(self._fill, dtype=np.float32)])

    def since(self, start: int) -> np.ndarray:
        """The values from position ``start`` on; safe to call while another thread appends."""
        while True:
            blocks = list(self._blocks)
            fill = self._fill
            if len(self._blocks) == len(blocks):
                break
        parts = []
        at = 0
        for block in blocks:
            if at + len(block) > start:
                parts.append(block[max(0, start - at) :])
            at += len(block)
        parts.append(np.asarray(fill[max(0, start - at) :], dtype=np.float32))
        return np.concatenate(parts)

    def __len__(self) -> int:
        return len(self._fill) + sum(len(b) for b in self._blocks)


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
        self._columns = [_Column() for _ in _STORED]
        self._ttft = _Column()  # token runs: issue -> first token (ns), in arrival order
        self._tpot = _Column()  # token runs: time per output token after the first (ns)

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
            add_round_trip, add_node, add_queueing, add_decompression, add_compute = (
                c.append for c in self._columns
            )
            nan = _NAN
            for round_trip, t in answered:
                add_round_trip(round_trip)
                sent, received = t.sent_ns, t.received_ns
                if sent and received:
                    add_node(sent - received)
                    decompressed, computed = t.decompressed_ns, t.computed_ns
                    if decompressed and computed:
                        picked = t.picked_ns
                        if picked:
                            add_queueing(picked - received)
                        else:
                            add_queueing(nan)
                            picked = received
                        add_decompression(decompressed - picked)
                        add_compute(computed - decompressed)
                        continue
                else:
                    add_node(nan)
                add_queueing(nan)
                add_decompression(nan)
                add_compute(nan)
            for column in self._columns:
                column.spill_if_full()

    def received_rows(self, rows: ResultRows, done: list[int], round_trips: list[int]) -> None:
        """Final answers from a columnar block (its rows ``done``, with their round trips), on
        top of ``received`` for their message: the same figures, read from the columns."""
        sent = rows.sent_ns
        received, picked = rows.received_ns, rows.picked_ns
        decompressed, computed = rows.decompressed_ns, rows.computed_ns
        with self._lock:
            self._answered += len(done)
            add_round_trip, add_node, add_queueing, add_decompression, add_compute = (
                c.append for c in self._columns
            )
            nan = _NAN
            for k, round_trip in zip(done, round_trips):
                add_round_trip(round_trip)
                start = received[k]
                if sent and start:
                    add_node(sent - start)
                    d, c = decompressed[k], computed[k]
                    if d and c:
                        p = picked[k]
                        if p:
                            add_queueing(p - start)
                            start = p
                        else:
                            add_queueing(nan)
                        add_decompression(d - start)
                        add_compute(c - d)
                        continue
                else:
                    add_node(nan)
                add_queueing(nan)
                add_decompression(nan)
                add_compute(nan)
            for column in self._columns:
                column.spill_if_full()

    def token_times(self, ttfts: list[int], tpots: list[float]) -> None:
        """First tokens' times from issue, and finished samples' time per output token (ns):
        called only in token runs, so runs without tokens pay nothing per sample."""
        with self._lock:
            for column, values in ((self._ttft, ttfts), (self._tpot, tpots)):
                for value in values:
                    column.append(value)
                column.spill_if_full()

    def ttfts_since(self, start: int) -> np.ndarray:
        """Times to first token (ns) from position ``start`` on, without the lock."""
        return self._ttft.since(start)

    def tpots_since(self, start: int) -> np.ndarray:
        """Times per output token (ns) from position ``start`` on, without the lock."""
        return self._tpot.since(start)

    @property
    def answered(self) -> int:
        """Samples answered so far, read without the lock (for a live display)."""
        return self._answered

    def round_trips_since(self, start: int) -> np.ndarray:
        """Round trips (ns) recorded from position ``start`` on, without the lock, so a reader
        never holds up a writer."""
        return self._columns[0].since(start)

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
            round_trip, node, queueing, decompression, compute = (c.values() for c in self._columns)
        parts = {
            "round_trip": round_trip,
            "network": round_trip.astype(np.float64) - node,
            "node": node,
            "queueing": queueing,
            "decompression": decompression,
            "compute": compute,
            "sending": (
                node.astype(np.float64) - np.nan_to_num(queueing) - decompression - compute
            ),
        }
        timing = {part: _summary_ms(parts[part]) for part in TIMING_PARTS}
        with self._lock:
            ttft, tpot = self._ttft.values(), self._tpot.values()
        tokens = {}
        if ttft.size or tpot.size:  # token runs only
            tokens["token_histograms"] = {
                "ttft": _log_histogram(ttft),
                "tpot": _log_histogram(tpot),
            }
        return {
            "address": d.address,
            "name": d.name,
            "backend": d.backend,
            "backend_options": dict(d.backend_options),
            **({"engine": dict(d.engine)} if d.engine else {}),
            "version": d.version,
            "capacity": d.capacity,
            "samples_issued": c.samples_issued,
            "samples": c.samples_answered,
            "messages_sent": c.messages_issued,
            "bytes_sent": c.bytes_issued,
            "responses_received": c.responses_received,
            "bytes_received": c.bytes_received,
            "timing_ms": timing,
            **tokens,
        }


def _log_histogram(values: np.ndarray) -> dict[str, list[float] | list[int]] | None:
    """Per-sample values (ns) as counts in ``TOKEN_BIN_EDGES_NS`` bins, the occupied span only:
    ``edges_ms`` has one more entry than ``counts``. None when there are no values."""
    if not values.size:
        return None
    edges = TOKEN_BIN_EDGES_NS
    clipped = np.clip(values.astype(np.float64), edges[0] * 1.000001, edges[-1])
    index = np.searchsorted(edges, clipped)  # bin i holds (edges[i-1], edges[i]]
    lo, hi = int(index.min()), int(index.max())
    counts = np.bincount(index - lo, minlength=hi - lo + 1)
    return {
        "edges_ms": [round(float(e) / 1e6, 6) for e in edges[lo - 1 : hi + 1]],
        "counts": [int(c) for c in counts],
    }


def _summary_ms(values: np.ndarray) -> dict[str, float | int] | None:
    values = values[~np.isnan(values)]
    if not values.size:
        return None
    a = values.astype(np.float64) / 1e6
    return {
        "count": int(a.size),
        "median": round(float(np.median(a)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
        "mean": round(float(a.mean()), 4),
    }


def message_histogram(counts: dict[int, int]) -> dict[str, Any]:
    """A JSON-ready summary of a {samples in a message: messages} histogram: totals, mean,
    the largest, and the counts in power-of-two buckets ("1", "2-3", "4-7", ...)."""
    messages = sum(counts.values())
    samples = sum(n * c for n, c in counts.items())
    buckets: dict[str, int] = {}
    for n, c in sorted(counts.items()):
        low = 1 << max(0, n.bit_length() - 1) if n else 0
        high = 2 * low - 1 if low else 0
        key = str(low) if high <= low else f"{low}-{high}"
        buckets[key] = buckets.get(key, 0) + c
    return {
        "messages": messages,
        "samples": samples,
        "mean": round(samples / messages, 3) if messages else 0.0,
        "max": max(counts, default=0),
        "buckets": buckets,
        "counts": {str(n): c for n, c in sorted(counts.items())},
    }


def format_histogram(histogram: dict[str, Any]) -> str:
    """One line: mean, max, and the share of messages in each bucket."""
    messages = histogram.get("messages", 0)
    if not messages:
        return "no messages"
    shares = ", ".join(
        f"{key}: {count / messages:.0%}" for key, count in histogram["buckets"].items()
    )
    return f"{messages} messages, mean {histogram['mean']:.2f}, max {histogram['max']} ({shares})"


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
    for label, r in zip(labels, reports):
        if "samples_per_message" in r:
            lines.append(
                f"{label} samples per SampleBatch ({r.get('framing', '?')} framing): "
                f"{format_histogram(r['samples_per_message'])}"
            )
        if "results_per_message" in r:
            lines.append(
                f"{label} results per ResponseBatch: {format_histogram(r['results_per_message'])}"
            )
    return "\n".join(lines)
