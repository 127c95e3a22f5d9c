"""Watching the Infer streams for silent clients.

A stream that has sent nothing and is owed nothing for ``--idle-stream-timeout`` seconds holds a
stream slot for no work; it is ended with DEADLINE_EXCEEDED so slots come back. When the slots
run out the node says so in its log, naming who holds them, so one client hoarding every slot is
visible rather than a mystery RESOURCE_EXHAUSTED on the next lon-run.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Callable, Iterable

import grpc

from ._stream import Stream
from ._work import now_ns

_CHECK_S = 1.0
_LOG_EVERY_NS = 10_000_000_000  # at most one "slots exhausted" line per 10 s


def idle_streams(streams: Iterable[Stream], idle_ns: int, now: int) -> list[Stream]:
    """The open streams that have received nothing for ``idle_ns`` and owe nothing."""
    return [s for s in streams if not s.closed and not s.pending and now - s.last_ns >= idle_ns]


def holders(streams: Iterable[Stream]) -> str:
    """Who holds the streams, busiest peer first, e.g. "ipv4:10.0.0.9 x31, ipv4:10.0.0.2 x1"."""
    counts = collections.Counter(s.peer.rsplit(":", 1)[0] or "unknown" for s in streams)
    return ", ".join(f"{peer} x{n}" for peer, n in counts.most_common(5))


class IdleWatch:
    """A daemon thread that ends idle streams every second; ``stop()`` ends it."""

    def __init__(self, node: str, idle_s: float, streams: Callable[[], list[Stream]]) -> None:
        self._node = node
        self._idle_s = idle_s
        self._idle_ns = int(idle_s * 1e9)
        self._streams = streams
        self._stop = threading.Event()
        self._last_log = -_LOG_EVERY_NS
        self._lock = threading.Lock()
        self.ended = 0
        self._thread = threading.Thread(target=self._run, name="sut-idle-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(min(_CHECK_S, self._idle_s / 2)):
            for stream in idle_streams(self._streams(), self._idle_ns, now_ns()):
                self.ended += 1
                stream.fail(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"Infer stream idle for {self._idle_s:g} s (nothing sent, nothing owed); "
                    "ended to free its slot (sut-server --idle-stream-timeout)",
                )

    def slots_exhausted(self, limit: int, refused_peer: str, streams: Iterable[Stream]) -> None:
        """Log (rate-limited) that a stream from ``refused_peer`` found every slot taken by
        ``streams``."""
        now = now_ns()
        with self._lock:
            if now - self._last_log < _LOG_EVERY_NS:
                return
            self._last_log = now
        print(
            f"sut-server: node {self._node}: refused an Infer stream from {refused_peer}: all "
            f"{limit} stream slots are taken (by {holders(streams)}); idle ones end after "
            f"{self._idle_s:g} s (--idle-stream-timeout)",
            file=sys.stderr,
            flush=True,
        )

    def stop(self) -> None:
        self._stop.set()
