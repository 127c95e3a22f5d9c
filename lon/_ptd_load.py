"""The load the stand-in's power model may follow: the nodes' answered samples per second.

sut-server ``--metrics-port`` serves Prometheus text with the counter
``lon_node_samples_answered_total``. A poller reads it from every node every ``period_s`` and
keeps (time, sum) points; a sample's load is the rate over the interval the sample covers, so a
model like ``watts=200+0.05*load`` rises and falls with the run as an analyzer's figures would.
"""

from __future__ import annotations

import bisect
import threading
import urllib.request
from collections.abc import Callable, Sequence

COUNTER = "lon_node_samples_answered_total"
Fetch = Callable[[str], str]


def fetch_text(url: str) -> str:
    """The metrics page at ``url`` (a short timeout: a node that does not answer counts 0)."""
    with urllib.request.urlopen(url, timeout=2) as response:
        return str(response.read().decode("utf-8", errors="replace"))


def answered(text: str) -> float:
    """The sum of ``lon_node_samples_answered_total`` in one metrics page."""
    total = 0.0
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name.split("{", 1)[0] == COUNTER:
            total += float(value.split()[0])
    return total


class LoadMeter:
    """(time, answered samples summed over the nodes) points, and rates between them."""

    def __init__(
        self, urls: Sequence[str], clock: Callable[[], float], fetch: Fetch = fetch_text
    ) -> None:
        self._urls = tuple(urls)
        self._clock = clock
        self._fetch = fetch
        self._lock = threading.Lock()
        self._times: list[float] = []
        self._totals: list[float] = []

    def poll(self) -> None:
        """Read every node once; a node that cannot be read adds nothing this time."""
        total = 0.0
        for url in self._urls:
            try:
                total += answered(self._fetch(url))
            except (OSError, ValueError):
                pass
        with self._lock:
            self._times.append(self._clock())
            self._totals.append(total)

    def rate(self, start: float, end: float) -> float:
        """Answered samples per second between the last point at or before ``start`` and the
        first at or after ``end`` (the nearest points where none lie beyond); 0 without two."""
        with self._lock:
            if len(self._times) < 2:
                return 0.0
            i = max(0, bisect.bisect_right(self._times, start) - 1)
            j = min(len(self._times) - 1, bisect.bisect_left(self._times, end))
            if j <= i:
                i, j = max(0, j - 1), max(1, j)
            span = self._times[j] - self._times[i]
            return max(0.0, (self._totals[j] - self._totals[i]) / span) if span > 0 else 0.0

    def run(self, stopped: threading.Event, period_s: float) -> None:
        """Poll every ``period_s`` until ``stopped`` is set (the caller owns the thread)."""
        while True:
            self.poll()
            if stopped.wait(period_s):
                return
