"""Watching the Infer streams for silent clients.

Two rules give stream slots back, both ending the stream with DEADLINE_EXCEEDED:

- unused: a stream on which no sample has ever arrived (empty messages are nothing) is ended
  ``--unused-stream-grace`` seconds after it opened, so a stranger who opens streams and sends
  nothing holds them for seconds, not minutes. A LoadGen's stream that is ended this way has
  sent nothing either, and the QDL opens it again.
- idle: a stream that has carried samples, has received none for ``--idle-stream-timeout``
  seconds and is owed nothing is ended.

When the slots run out the node says so in its log, naming who holds them, so one client
hoarding every slot is visible rather than a mystery RESOURCE_EXHAUSTED on the next lon-run.
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


UNUSED_MESSAGE = "Infer stream carried no samples for {grace:g} s"
"""The start of the status message of an unused stream the node ended (the QDL matches it)."""


def idle_streams(streams: Iterable[Stream], idle_ns: int, now: int) -> list[Stream]:
    """The open streams that have received nothing for ``idle_ns`` and owe nothing."""
    return [s for s in streams if not s.closed and not s.pending and now - s.last_ns >= idle_ns]


def unused_streams(streams: Iterable[Stream], grace_ns: int, now: int) -> list[Stream]:
    """The open streams on which no sample has arrived in the ``grace_ns`` since they opened."""
    return [
        s
        for s in streams
        if not s.closed and not s.admitted and not s.refused and now - s.opened_ns >= grace_ns
    ]


def holders(streams: Iterable[Stream]) -> str:
    """Who holds the streams, busiest peer first, e.g. "ipv4:10.0.0.9 x31, ipv4:10.0.0.2 x1"."""
    counts = collections.Counter(s.peer.rsplit(":", 1)[0] or "unknown" for s in streams)
    return ", ".join(f"{peer} x{n}" for peer, n in counts.most_common(5))


class IdleWatch:
    """A daemon thread that ends unused and idle streams; ``stop()`` ends it."""

    def __init__(
        self,
        node: str,
        idle_s: float,
        streams: Callable[[], list[Stream]],
        unused_s: float | None = None,
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self._node = node
        self._idle_s = idle_s
        self._idle_ns = int(idle_s * 1e9)
        self._unused_s = idle_s if unused_s is None else unused_s
        self._unused_ns = int(self._unused_s * 1e9)
        self._streams = streams
        self._clock = clock
        self._stop = threading.Event()
        self._last_log = -_LOG_EVERY_NS
        self._lock = threading.Lock()
        self.ended = 0
        self.unused_ended = 0
        self._thread = threading.Thread(target=self._run, name="sut-idle-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = min(_CHECK_S, self._idle_s / 2, self._unused_s / 4)
        while not self._stop.wait(period):
            streams = self._streams()
            now = self._clock()
            for stream in unused_streams(streams, self._unused_ns, now):
                if stream.end_if_unused(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    UNUSED_MESSAGE.format(grace=self._unused_s) + "; ended to free its slot "
                    "(sut-server --unused-stream-grace)",
                ):
                    self.unused_ended += 1
            for stream in idle_streams(streams, self._idle_ns, now):
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
            f"{limit} stream slots are taken (by {holders(streams)}); unused ones end after "
            f"{self._unused_s:g} s (--unused-stream-grace), idle ones after {self._idle_s:g} s "
            "(--idle-stream-timeout)",
            file=sys.stderr,
            flush=True,
        )

    def stop(self) -> None:
        self._stop.set()
