"""The minimal interface the QDL uses to talk to one SUT node, and the values it passes.

A transport is one node: ``connect`` reaches it and returns its ``NodeDescription`` (which
``describe`` asks again later, with a deadline: the SUT's name comes from the nodes), ``open``
starts its Infer stream(s) and delivers every ResponseBatch to a callback, ``issue`` hands over
one serialized SampleBatch without waiting for the network (a transport may send several queued
ones as one merged SampleBatch), ``flush`` runs the Flush RPC and
``close`` ends it. ``GrpcTransport`` is the real one; ``MockTransport`` answers in-process.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass, field

from .._compression import names_of
from .._wire import NodeInfo, ResponseBatch


@dataclass(frozen=True)
class NodeDescription:
    """What a node said about itself in Describe, plus the address it was reached at."""

    address: str
    name: str
    backend: str = ""
    version: str = ""
    compressions: frozenset[str] = frozenset({"none"})
    capacity: float = 0.0
    workers: int = 0
    max_batch: int = 0
    max_message_bytes: int = 0
    backend_options: tuple[tuple[str, str], ...] = ()  # sorted (key, value) pairs
    engine: tuple[
        tuple[str, str], ...
    ] = ()  # the serving engine behind it (url, model, version, api)
    columnar: bool = False  # it reads SampleColumns (NodeInfo.columnar)

    @classmethod
    def from_proto(cls, address: str, info: NodeInfo) -> NodeDescription:
        return cls(
            address=address,
            name=info.name or address,
            backend=info.backend,
            version=info.version,
            compressions=names_of(list(info.compressions)),
            capacity=info.capacity,
            workers=info.workers,
            max_batch=info.max_batch,
            max_message_bytes=info.max_message_bytes,
            backend_options=tuple(sorted(info.backend_options.items())),
            engine=tuple(sorted(info.engine.items())),
            columnar=info.columnar,
        )

    @property
    def label(self) -> str:
        """How messages name the node: its name and address."""
        return f"{self.name} at {self.address}" if self.name != self.address else self.address


class OutgoingMessage:
    """One serialized SampleBatch on its way out; ``sent_ns`` is stamped when it leaves."""

    __slots__ = ("data", "n_samples", "enqueued_ns", "sent_ns")

    def __init__(self, data: bytes, n_samples: int, enqueued_ns: int) -> None:
        self.data = data
        self.n_samples = n_samples
        self.enqueued_ns = enqueued_ns
        self.sent_ns = 0


@dataclass(frozen=True)
class TransportStatistics:
    """A snapshot of one transport's queues and traffic."""

    address: str
    streams: int
    queued_messages: int
    queued_bytes: int
    peak_queued_bytes: int
    messages_sent: int
    bytes_sent: int
    messages_received: int
    bytes_received: int
    samples_per_message: dict[int, int] = field(default_factory=dict)
    """{samples in one SampleBatch sent: how many such messages}."""
    results_per_message: dict[int, int] = field(default_factory=dict)
    """{results in one ResponseBatch received: how many such messages}."""


ResponseCallback = Callable[[ResponseBatch, int, int], None]
"""Called with (batch, its size in bytes, receive time in perf_counter ns) on the transport's
receiving thread (for gRPC, the shared event-loop thread): it must not block."""

BrokenCallback = Callable[[Exception], None]
"""Called once when the transport fails mid-run (the exception is a QDLError)."""


class Transport(abc.ABC):
    """One SUT node, as the QDL sees it."""

    address: str

    @abc.abstractmethod
    def connect(self) -> NodeDescription:
        """Reach the node and ask it to describe itself; raise ConnectError naming it."""

    @abc.abstractmethod
    def describe(self, timeout: float) -> NodeDescription:
        """Ask the connected node to describe itself again, waiting at most ``timeout`` s.

        Raise a QDLError whose one-line message names the node when it does not answer in
        time or fails; NotStarted before ``connect``, AlreadyClosed after ``close``.
        """

    @abc.abstractmethod
    def open(self, on_response: ResponseCallback, on_broken: BrokenCallback) -> None:
        """Start the Infer stream(s); responses and failures arrive on the callbacks."""

    @abc.abstractmethod
    def issue(self, message: OutgoingMessage) -> None:
        """Queue one serialized SampleBatch; block only while the bounded queue is full."""

    @abc.abstractmethod
    def flush(self) -> int:
        """Run Flush on the node; return how many samples it still had pending."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the streams (waiting up to the drain timeout) and release the connection."""

    def cancel(self) -> None:
        """Like ``close`` without waiting for the streams to drain (the run has failed)."""
        self.close()

    @abc.abstractmethod
    def statistics(self) -> TransportStatistics: ...
