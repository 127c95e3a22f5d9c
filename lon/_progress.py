"""lon-run's live progress: what a long run is doing while it runs.

A thread polls the QDL's counters a few times a second (``QueryDispatchLibrary.live_counts``
and each node's round trips, both read without the QDL's lock, so the issue and completion
paths never wait for it) and shows elapsed time against the minimum duration, samples issued,
completed and outstanding, the completion rate against the target, the running percentile of
the QDL's round trips against the latency bound, and per node its outstanding count and rate.
Token runs add the running TTFT (the QDL's issue -> first token) and TPOT (final answer less
first token, over n_tokens - 1) at the same percentile against ttft_latency/tpot_latency.
It works the same under either LoadGen because it reads only what the QDL counts.

On a terminal the display is a ``rich`` live table; otherwise one plain line every
``PLAIN_EVERY_S`` seconds (and one at the end). A FindPeakPerformance search gets a line per
probe, read from the detail log as the LoadGen writes it (``FindPeakTracker``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from loadgen.clock import Clock, RealClock

from ._token_latencies import BOUND_SCENARIOS as TOKEN_BOUND_SCENARIOS

POLL_S = 0.25
DRAW_EVERY_S = 0.5  # the terminal table (drawing it costs the run's process more than polling)
PLAIN_EVERY_S = 5.0
RATE_WINDOW_S = 2.0
# Round-trip histogram: log-spaced bins from 1 us to 1000 s, 2% wide.
_EDGES = np.geomspace(1e3, 1e12, int(np.log(1e9) / np.log(1.02)) + 1)


class LatencyHistogram:
    """A cumulative histogram of latencies (ns) whose percentiles cost O(bins), so a poll
    handles only the samples new since the last one, however long the run."""

    def __init__(self) -> None:
        self.counts = np.zeros(len(_EDGES) + 1, dtype=np.int64)
        self.total = 0

    def add(self, values_ns: Sequence[float] | np.ndarray) -> None:
        if len(values_ns):
            idx = np.searchsorted(_EDGES, np.asarray(values_ns, dtype=np.float64))
            self.counts += np.bincount(idx, minlength=len(self.counts))
            self.total += len(values_ns)

    def percentile_ns(self, pct: float) -> float | None:
        """The upper edge of the bin holding the percentile (within 2%); None when empty."""
        if not self.total:
            return None
        rank = np.searchsorted(np.cumsum(self.counts), pct / 100 * self.total)
        return float(_EDGES[min(int(rank), len(_EDGES) - 1)])


@dataclass(frozen=True)
class Target:
    """What the run aims at, from its settings, for the display to compare against."""

    scenario: str
    min_duration_s: float
    target_qps: float | None  # Server and Offline; None otherwise
    latency_bound_ms: float | None  # Server only (the other scenarios have no bound)
    percentile: float
    tokens: bool = False  # use_token_latencies: show TTFT and TPOT
    ttft_bound_ms: float | None = None  # token runs, Server only
    tpot_bound_ms: float | None = None  # token runs, Server only


def target_of(settings: Any, scenario: str) -> Target:
    """The display's targets from a ``loadgen.TestSettings``."""
    target = _target_of(settings, scenario)
    if not getattr(settings, "use_token_latencies", False):
        return target
    bounds = scenario in TOKEN_BOUND_SCENARIOS
    return dataclasses.replace(
        target,
        tokens=True,
        ttft_bound_ms=settings.ttft_latency / 1e6 if bounds else None,
        tpot_bound_ms=settings.tpot_latency / 1e6 if bounds else None,
    )


def _target_of(settings: Any, scenario: str) -> Target:
    if scenario == "Server":
        return Target(
            scenario,
            settings.min_duration_ms / 1000,
            float(settings.server_target_qps),
            settings.server_target_latency_ns / 1e6,
            float(settings.server_target_latency_percentile) * 100,
        )
    if scenario == "Offline":
        return Target(
            scenario,
            settings.min_duration_ms / 1000,
            float(settings.offline_expected_qps),
            None,
            90.0,
        )
    if scenario == "MultiStream":
        return Target(
            scenario,
            settings.min_duration_ms / 1000,
            None,
            None,
            float(settings.multi_stream_target_latency_percentile) * 100,
        )
    return Target(
        scenario,
        settings.min_duration_ms / 1000,
        None,
        None,
        float(settings.single_stream_target_latency_percentile) * 100,
    )


@dataclass
class NodeView:
    label: str
    outstanding: int = 0
    rate: float = 0.0


@dataclass
class View:
    """One poll's figures, as the display shows them."""

    elapsed_s: float = 0.0
    issued: int = 0
    completed: int = 0
    outstanding: int = 0
    rate: float = 0.0
    percentile_ms: float | None = None
    nodes: list[NodeView] = field(default_factory=list)
    ttft_ms: float | None = None  # token runs: the QDL's issue -> first token, at the percentile
    tpot_ms: float | None = None  # token runs: time per output token, at the percentile


class Sampler:
    """Turns successive counter readings into a ``View`` (rates over ``RATE_WINDOW_S``)."""

    def __init__(self, qdl: Any, target: Target, clock: Clock) -> None:
        self._qdl = qdl
        self._target = target
        self._clock = clock
        self._start = self._now()
        self._accounts = list(qdl.accounts)
        self._labels = [f"{a.description.name} ({a.description.address})" for a in self._accounts]
        self._seen = [0] * len(self._accounts)
        self.histogram = LatencyHistogram()
        self.ttft = LatencyHistogram()
        self.tpot = LatencyHistogram()
        self._tokens_seen = [[0, 0] for _ in self._accounts]
        self._history: list[tuple[float, int, list[int]]] = []

    def _now(self) -> float:
        return self._clock.now_ns() / 1e9

    def poll(self) -> View:
        now = self._now()
        issued, completed, outstanding = self._qdl.live_counts()
        answered = [a.answered for a in self._accounts]
        for i, account in enumerate(self._accounts):
            new = account.round_trips_since(self._seen[i])
            self._seen[i] += len(new)
            self.histogram.add(new)
            if self._target.tokens:
                self._poll_tokens(i, account)
        history = self._history
        history.append((now, completed, answered))
        while len(history) > 2 and now - history[1][0] >= RATE_WINDOW_S:
            history.pop(0)
        t0, c0, a0 = history[0]
        span = now - t0
        rate = (completed - c0) / span if span > 0 else 0.0
        nodes = [
            NodeView(
                label,
                outstanding[i] if i < len(outstanding) else 0,
                (answered[i] - a0[i]) / span if span > 0 else 0.0,
            )
            for i, label in enumerate(self._labels)
        ]
        pct = self._target.percentile
        return View(
            now - self._start,
            issued,
            completed,
            max(issued - completed, 0),
            rate,
            _to_ms(self.histogram.percentile_ns(pct)),
            nodes,
            _to_ms(self.ttft.percentile_ns(pct)),
            _to_ms(self.tpot.percentile_ns(pct)),
        )

    def _poll_tokens(self, i: int, account: Any) -> None:
        seen = self._tokens_seen[i]
        for j, (since, histogram) in enumerate(
            ((account.ttfts_since, self.ttft), (account.tpots_since, self.tpot))
        ):
            new = since(seen[j])
            seen[j] += len(new)
            histogram.add(new)


def _to_ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


def plain_line(view: View, target: Target) -> str:
    """The one-line form, for logs and pipes."""
    parts = [f"progress: {view.elapsed_s:.1f}/{target.min_duration_s:g} s"]
    parts.append(f"issued {view.issued} completed {view.completed} outstanding {view.outstanding}")
    rate = f"rate {view.rate:.1f}/s"
    if target.target_qps:
        rate += f" (target {target.target_qps:g})"
    parts.append(rate)
    parts.append(f"p{target.percentile:g} rtt {_ms(view.percentile_ms)}" + _bound(target))
    if target.tokens:
        parts.append(
            f"p{target.percentile:g} TTFT {_ms(view.ttft_ms)}"
            + _bound_of(target.ttft_bound_ms)
            + f" TPOT {_ms(view.tpot_ms)}"
            + _bound_of(target.tpot_bound_ms)
        )
    parts.append(
        "nodes "
        + " ".join(f"{n.label.split(' ')[0]}:{n.outstanding}@{n.rate:.0f}/s" for n in view.nodes)
    )
    return " | ".join(parts)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


def _bound(target: Target) -> str:
    return _bound_of(target.latency_bound_ms)


def _bound_of(bound_ms: float | None) -> str:
    return "" if bound_ms is None else f" (bound {bound_ms:g} ms)"


def _over(value: float | None, bound: float | None) -> bool:
    return bound is not None and value is not None and value > bound


def rich_table(view: View, target: Target) -> Any:
    """The terminal form: a rich table of the run and one row per node."""
    from rich.table import Table

    table = Table(title="lon-run", show_header=True, header_style="bold", expand=False)
    table.add_column("")
    table.add_column("now", justify="right")
    table.add_column("target", justify="right")
    table.add_row("elapsed", f"{view.elapsed_s:.1f} s", f"{target.min_duration_s:g} s min")
    table.add_row("issued / completed", f"{view.issued} / {view.completed}", "")
    table.add_row("outstanding", str(view.outstanding), "")
    table.add_row(
        "rate", f"{view.rate:.1f} /s", f"{target.target_qps:g} /s" if target.target_qps else "-"
    )
    over = (
        target.latency_bound_ms is not None
        and view.percentile_ms is not None
        and view.percentile_ms > target.latency_bound_ms
    )
    p = _ms(view.percentile_ms)
    table.add_row(
        f"p{target.percentile:g} round trip",
        f"[red]{p}[/red]" if over else p,
        "-" if target.latency_bound_ms is None else f"{target.latency_bound_ms:g} ms",
    )
    if target.tokens:
        for name, value, bound in (
            ("TTFT", view.ttft_ms, target.ttft_bound_ms),
            ("TPOT", view.tpot_ms, target.tpot_bound_ms),
        ):
            shown = _ms(value)
            table.add_row(
                f"p{target.percentile:g} {name}",
                f"[red]{shown}[/red]" if _over(value, bound) else shown,
                "-" if bound is None else f"{bound:g} ms",
            )
    for n in view.nodes:
        table.add_row(f"node {n.label}", f"{n.outstanding} out, {n.rate:.1f} /s", "")
    return table


class Progress:
    """The live display around one run: ``with Progress(...): binding.run(...)``.

    ``tty`` picks the rich table (a terminal) or plain lines; ``quiet`` shows nothing.
    """

    def __init__(
        self,
        qdl: Any,
        target: Target,
        out: TextIO,
        *,
        tty: bool | None = None,
        quiet: bool = False,
        detail_path: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._qdl = qdl
        self._target = target
        self._out = out
        self._tty = _is_tty(out) if tty is None else tty
        self._quiet = quiet
        self._clock: Clock = clock if clock is not None else RealClock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampler: Sampler | None = None
        self._live: Any = None
        self._peak = (
            FindPeakTracker(detail_path, target.percentile) if detail_path is not None else None
        )

    def __enter__(self) -> Progress:
        if self._quiet:
            return self
        self._sampler = Sampler(self._qdl, self._target, self._clock)
        if self._tty:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self._out, force_terminal=True)
            # Drawn only from the poll thread, DRAW_EVERY_S apart: no refresh thread of its own.
            self._live = Live(console=console, auto_refresh=False, transient=False)
            self._live.start()
        self._thread = threading.Thread(target=self._loop, name="lon-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._show(final=True)
        if self._live is not None:
            self._live.stop()
        self._out.flush()

    def _loop(self) -> None:
        clock = self._clock
        every = int((DRAW_EVERY_S if self._tty else PLAIN_EVERY_S) * 1e9)
        last = clock.now_ns()
        while not clock.wait(self._stop, clock.now_ns() + int(POLL_S * 1e9)):
            draw = clock.now_ns() - last >= every
            if draw:
                last = clock.now_ns()
            self._show(draw)

    def _show(self, draw: bool = True, final: bool = False) -> None:
        """Poll the counters (and the search's probes); draw when asked."""
        assert self._sampler is not None
        view = self._sampler.poll()
        lines = self._peak.poll(self._sampler.histogram) if self._peak is not None else []
        if self._live is not None:
            for line in lines:
                self._live.console.print(line, markup=False, highlight=False)
            if draw or lines:
                self._live.update(rich_table(view, self._target), refresh=True)
            return
        for line in lines:
            self._out.write(line + "\n")
        if draw:
            self._out.write(plain_line(view, self._target) + ("  (done)" if final else "") + "\n")
        self._out.flush()


def _is_tty(out: TextIO) -> bool:
    try:
        return out.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


_BASE = "FindPeakPerformance: Check validity of the base settings field: "
_BOUNDS = "FindBoundaries: Checking fields ["
_FOUND_BOUNDS = "FindPeakPerformance: Found boundaries: ["
_MID = "FindPeakPerformanceBinarySearch: Testing the mid value of bounds ["
_PEAK = "FindPeakPerformance: Found peak performance field: "
_LOWER_FAILED = "Initial lower bound does not satisfy performance constraints"


@dataclass
class _Probe:
    qps: str
    base: np.ndarray  # the run's histogram counts when the probe started


class FindPeakTracker:
    """FindPeakPerformance probes read from the detail log as it grows.

    The LoadGen logs a line as each probe starts; whether the previous probe met the latency
    bound follows from the next line, as the search moves its bounds (spec §3.8): a passing
    upper bound becomes the next lower bound, a passing mid value the next lower bound, and
    the peak is the last passing value. Each probe's percentile is the QDL's round trips over
    the probe's time (the run's histogram less its counts when the probe started).
    """

    def __init__(self, detail_path: str, percentile: float) -> None:
        self._path = detail_path
        self._percentile = percentile
        self._offset = 0
        self._partial = ""
        self._current: _Probe | None = None
        self._histogram = LatencyHistogram()
        self.peak: str | None = None
        self.lines: list[str] = []

    def poll(self, histogram: LatencyHistogram) -> list[str]:
        """Probe lines for what the detail log says since the last poll."""
        self._histogram = histogram
        out: list[str] = []
        for value in self._new_values():
            out.extend(self._on(value))
        return out

    def _new_values(self) -> list[str]:
        try:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk.decode("utf-8", errors="replace")).split("\n")
        self._partial = lines.pop()
        values = []
        for line in lines:
            if "FindPeak" not in line and "FindBoundaries" not in line:
                continue
            start = line.find('"value": "')
            end = line.find('", "time_ms"')
            if 0 <= start < end:
                values.append(line[start + len('"value": "') : end])
        return values

    def _on(self, value: str) -> list[str]:
        previous = self._current
        verdict: bool | None = None
        if value.startswith(_BASE):
            self._start(value[len(_BASE) :])
        elif value.startswith(_BOUNDS):
            lower, upper = value[len(_BOUNDS) :].rstrip(")").split(", ")
            verdict = previous is not None and previous.qps == lower
            self._start(upper)
        elif value.startswith(_FOUND_BOUNDS) or _LOWER_FAILED in value:
            verdict = False
            self._current = None
        elif value.startswith(_MID):
            bounds, _, middle = value[len(_MID) :].partition("): ")
            verdict = previous is not None and previous.qps == bounds.split(", ")[0]
            self._start(middle)
        elif value.startswith(_PEAK):
            self.peak = value[len(_PEAK) :]
            verdict = previous is not None and previous.qps == self.peak
            self._current = None
        if previous is None or verdict is None or previous is self._current:
            return []
        line = self._line(previous, verdict)
        self.lines.append(line)
        return [line]

    def _start(self, qps: str) -> None:
        self._current = _Probe(qps, self._histogram.counts.copy())

    def _line(self, probe: _Probe, passed: bool) -> str:
        h = LatencyHistogram()
        h.counts = self._histogram.counts - probe.base
        h.total = int(h.counts.sum())
        p = h.percentile_ns(self._percentile)
        return (
            f"probe {len(self.lines) + 1}: {float(probe.qps):.2f} QPS, "
            f"p{self._percentile:g} rtt {_ms(None if p is None else p / 1e6)}, "
            f"{'VALID' if passed else 'INVALID'}"
        )
