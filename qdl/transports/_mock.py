"""An in-process transport for tests: a handler function plays the node.

``MockTransport(handler)`` parses each SampleBatch the QDL issues and calls
``handler(batch)`` on the issuing thread; whatever ResponseBatch (or list of them) it returns
is delivered at once, like a node answering instantly. Returning None leaves the samples
outstanding; answer them later with ``respond``, or fail the node with ``break_stream``.
``describe`` answers with ``description`` as it is at the time, or fails while ``reachable`` is
False.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from .._exceptions import AlreadyClosed, ConnectError, NotStarted, StreamBroken
from .._wire import ResponseBatch, SampleBatch, SampleResult, parse_sample_batch
from ._base import (
    BrokenCallback,
    NodeDescription,
    OutgoingMessage,
    ResponseCallback,
    Transport,
    TransportStatistics,
)

Handler = Callable[[SampleBatch], "ResponseBatch | Iterable[ResponseBatch] | None"]


def echo_handler(batch: SampleBatch) -> ResponseBatch:
    """Answer every sample at once with its own payload (still compressed, if it was)."""
    return ResponseBatch(
        results=[SampleResult(response_id=s.response_id, payload=s.payload) for s in batch.samples]
    )


class MockTransport(Transport):
    def __init__(
        self,
        handler: Handler = echo_handler,
        *,
        description: NodeDescription | None = None,
        address: str = "mock:1",
        reachable: bool = True,
        pending_on_flush: int = 0,
    ) -> None:
        self.address = address
        self.handler = handler
        self.description = description or NodeDescription(address=address, name=f"mock-{address}")
        self.reachable = reachable
        self.pending_on_flush = pending_on_flush
        self.received: list[SampleBatch] = []
        self.flushes = 0
        self._on_response: ResponseCallback | None = None
        self._on_broken: BrokenCallback | None = None
        self._connected = False
        self._opened = False
        self._closed = False
        self._broken: StreamBroken | None = None
        self._lock = threading.Lock()
        self._bytes_sent = 0
        self._bytes_received = 0
        self._messages_received = 0

    def connect(self) -> NodeDescription:
        if not self.reachable:
            raise ConnectError(
                f"node {self.address}: cannot connect (mock unreachable)", node=self.address
            )
        self._connected = True
        return self.description

    def describe(self, timeout: float) -> NodeDescription:
        """``description`` as it is now (a test may replace it); unreachable: a failure."""
        if self._closed:
            raise AlreadyClosed(f"transport to {self.address}")
        if not self._connected:
            raise NotStarted(f"transport to {self.address}")
        if not self.reachable:
            raise StreamBroken(
                f"node {self.description.label}: Describe failed (mock unreachable)",
                node=self.address,
            )
        return self.description

    def open(self, on_response: ResponseCallback, on_broken: BrokenCallback) -> None:
        self._on_response = on_response
        self._on_broken = on_broken
        self._opened = True

    def issue(self, message: OutgoingMessage) -> None:
        if self._closed:
            raise AlreadyClosed(f"transport to {self.address}")
        if not self._opened:
            raise NotStarted(f"transport to {self.address}")
        if self._broken is not None:
            raise self._broken.chained() from self._broken
        message.sent_ns = time.perf_counter_ns()
        batch = parse_sample_batch(message.data)
        with self._lock:
            self.received.append(batch)
            self._bytes_sent += len(message.data)
        answer = self.handler(batch)
        if answer is None:
            return
        if isinstance(answer, ResponseBatch):
            answer = [answer]
        for response in answer:
            self.respond(response)

    def respond(self, batch: ResponseBatch) -> None:
        """Deliver ``batch`` to the QDL as if the node had just sent it."""
        assert self._on_response is not None, "open() first"
        size = batch.ByteSize()
        with self._lock:
            self._bytes_received += size
            self._messages_received += 1
        self._on_response(batch, size, time.perf_counter_ns())

    def break_stream(self, reason: str = "connection reset") -> None:
        """Fail the node as a dead peer would: the QDL's broken callback fires once."""
        self._broken = StreamBroken(f"node {self.description.label}: {reason}", node=self.address)
        if self._on_broken is not None:
            self._on_broken(self._broken)

    def flush(self) -> int:
        self.flushes += 1
        if self._broken is not None:
            raise self._broken.chained() from self._broken
        return self.pending_on_flush

    def close(self) -> None:
        self._closed = True

    def statistics(self) -> TransportStatistics:
        with self._lock:
            return TransportStatistics(
                address=self.address,
                streams=1,
                queued_messages=0,
                queued_bytes=0,
                peak_queued_bytes=0,
                messages_sent=len(self.received),
                bytes_sent=self._bytes_sent,
                messages_received=self._messages_received,
                bytes_received=self._bytes_received,
            )
