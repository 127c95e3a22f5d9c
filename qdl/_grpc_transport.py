"""The real transport: one gRPC channel per node, with one or more long-lived Infer streams.

Messages travel as bytes in both directions (the QDL serializes each SampleBatch itself, so it
knows its exact size before queueing it, and parses each ResponseBatch on the reader thread).
Per stream there are two threads: gRPC's own, pulling from our bounded send queue, and our
reader, which hands every ResponseBatch to the QDL the moment it arrives.
"""

from __future__ import annotations

import enum
import itertools
import re
import threading
import time
from collections.abc import Iterator

import grpc

from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc

from ._config import DEFAULT_LIMITS, DEFAULT_TIMEOUTS, Limits, Timeouts
from ._exceptions import (
    AlreadyClosed,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    IssueTimeout,
    NotStarted,
    ProtocolError,
    QDLError,
    StreamBroken,
    map_grpc_exceptions,
)
from ._queue import SendQueue
from ._transport import (
    BrokenCallback,
    NodeDescription,
    OutgoingMessage,
    ResponseCallback,
    Transport,
    TransportStatistics,
)

_now = time.perf_counter_ns

INFER_METHOD = "/lon.v1.SutNode/Infer"

_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Retry a refused connection quickly during the connect window instead of backing off 1 s+.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
]


def check_address(address: str) -> str:
    """Return ``address`` if it is HOST:PORT with a port in 1..65535, else raise ConfigError."""
    if not _ADDRESS.fullmatch(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
        raise ConfigError(f"node address {address!r} is not HOST:PORT (e.g. 10.0.0.2:50051)")
    return address


class State(enum.Enum):
    UNOPENED = "unopened"  # built; connect() not called or not yet successful
    CONNECTED = "connected"  # Describe answered; no streams yet
    OPENED = "opened"  # streams running
    CLOSED = "closed"  # closed; cannot be reopened


class _Stream:
    """One Infer stream: its send queue, its gRPC call and its reader thread."""

    def __init__(self, index: int, max_queued_bytes: int) -> None:
        self.index = index
        self.queue = SendQueue(max_queued_bytes)
        self.call: grpc.Future | None = None
        self.reader: threading.Thread | None = None
        # Each counter has a single writer thread, so no lock is needed.
        self.messages_sent = 0
        self.bytes_sent = 0
        self.messages_received = 0
        self.bytes_received = 0

    def requests(self) -> Iterator[bytes]:
        """The request stream gRPC consumes: queued messages, stamped as they leave."""
        queue = self.queue
        while True:
            message = queue.get()
            if message is None:
                return
            message.sent_ns = _now()
            self.messages_sent += 1
            self.bytes_sent += len(message.data)
            yield message.data


class GrpcTransport(Transport):
    """One SUT node over gRPC (insecure channel; the benchmark network is private)."""

    def __init__(
        self,
        address: str,
        *,
        streams: int = 1,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.address = check_address(address)
        if streams < 1:
            raise ConfigError(f"streams per node must be >= 1, got {streams}")
        self._timeouts = timeouts
        self._limits = limits
        self._streams = [_Stream(i, limits.max_queued_bytes) for i in range(streams)]
        self._next_stream = itertools.cycle(self._streams)
        self._lock = threading.Lock()
        self._state = State.UNOPENED
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.SutNodeStub | None = None
        self._label = address
        self._broken: QDLError | None = None
        self._closing = False
        self._on_broken: BrokenCallback | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def connect(self) -> NodeDescription:
        if self._state is State.CLOSED:
            raise AlreadyClosed(f"transport to {self.address}")
        timeout = self._timeouts.connect
        deadline = time.monotonic() + timeout
        channel = grpc.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
        stub = pb_grpc.SutNodeStub(channel)
        last_error: ConnectError | None = None
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    text = (
                        f"{last_error}; gave up after {timeout:g} s"
                        if last_error is not None
                        else f"node {self.address}: not reachable within {timeout:g} s"
                    )
                    raise ConnectTimeout(text, node=self.address) from last_error
                try:
                    with map_grpc_exceptions(self.address, "connect", timeout=timeout):
                        info = stub.Describe(pb.DescribeRequest(), timeout=remaining)
                    break
                except ConnectTimeout:
                    raise
                except ConnectError as exc:
                    # Refused or not resolvable (yet): the node may still be starting; retry.
                    last_error = exc
                    time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        except BaseException:
            channel.close()
            raise
        self._channel = channel
        self._stub = stub
        description = NodeDescription.from_proto(self.address, info)
        self._label = description.label
        self._state = State.CONNECTED
        return description

    def open(self, on_response: ResponseCallback, on_broken: BrokenCallback) -> None:
        if self._state is not State.CONNECTED:
            if self._state is State.CLOSED:
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        assert self._channel is not None
        self._on_broken = on_broken
        infer = self._channel.stream_stream(INFER_METHOD)
        for stream in self._streams:
            stream.call = infer(stream.requests())
            stream.reader = threading.Thread(
                target=self._read,
                args=(stream, on_response),
                name=f"qdl-reader-{self.address}-{stream.index}",
                daemon=True,
            )
            stream.reader.start()
        self._state = State.OPENED

    def close(self) -> None:
        with self._lock:
            if self._state is State.CLOSED:
                return
            was = self._state
            self._state = State.CLOSED
            self._closing = True
        try:
            if was is State.OPENED:
                for stream in self._streams:
                    stream.queue.clear()
                    stream.queue.close()
                deadline = time.monotonic() + self._timeouts.drain
                for stream in self._streams:
                    assert stream.reader is not None
                    stream.reader.join(max(0.0, deadline - time.monotonic()))
                for stream in self._streams:
                    assert stream.reader is not None and stream.call is not None
                    if stream.reader.is_alive():
                        stream.call.cancel()
                        stream.reader.join(self._timeouts.drain)
        finally:
            if self._channel is not None:
                self._channel.close()

    # --- traffic ---------------------------------------------------------------------------

    def issue(self, message: OutgoingMessage) -> None:
        if self._state is not State.OPENED:
            if self._state is State.CLOSED:
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        if self._broken is not None:
            raise self._broken
        stream = next(self._next_stream)
        if stream.queue.put(message, self._timeouts.issue):
            return
        if self._broken is not None:
            raise self._broken
        if self._closing:
            raise AlreadyClosed(f"transport to {self.address}")
        queued = stream.queue.statistics().bytes
        raise IssueTimeout(
            f"node {self._label}: send queue full ({queued} bytes queued) and nothing sent "
            f"for {self._timeouts.issue:g} s",
            node=self.address,
        )

    def flush(self) -> int:
        if self._stub is None:
            raise NotStarted(f"transport to {self.address}")
        timeout = self._timeouts.flush
        with map_grpc_exceptions(self.address, "flush", label=self._label, timeout=timeout):
            reply = self._stub.Flush(pb.FlushRequest(), timeout=timeout)
        return int(reply.pending)

    def _read(self, stream: _Stream, on_response: ResponseCallback) -> None:
        assert stream.call is not None
        parse = pb.ResponseBatch.FromString
        error: QDLError | None = None
        try:
            with map_grpc_exceptions(
                self.address, f"Infer stream {stream.index}", label=self._label
            ):
                for raw in stream.call:
                    t = _now()
                    stream.messages_received += 1
                    stream.bytes_received += len(raw)
                    try:
                        batch = parse(raw)
                    except Exception as exc:  # protobuf's DecodeError
                        raise ProtocolError(
                            f"node {self._label}: unparsable ResponseBatch ({exc})",
                            node=self.address,
                        ) from exc
                    on_response(batch, len(raw), t)
            if not self._closing:
                error = StreamBroken(
                    f"node {self._label}: the node ended Infer stream {stream.index}",
                    node=self.address,
                )
        except QDLError as exc:
            if not self._closing:
                error = exc
        except Exception as exc:  # a bug in a callback: report it rather than dying silently
            error = QDLError(
                f"node {self._label}: handling a response failed: {exc!r}", node=self.address
            )
            error.__cause__ = exc
        if error is not None:
            self._break(error)

    def _break(self, error: QDLError) -> None:
        with self._lock:
            first = self._broken is None
            if first:
                self._broken = error
        if not first:
            return
        for stream in self._streams:
            stream.queue.clear()
            stream.queue.close()
        if self._on_broken is not None:
            self._on_broken(error)

    # --- introspection ---------------------------------------------------------------------

    def statistics(self) -> TransportStatistics:
        queues = [s.queue.statistics() for s in self._streams]
        return TransportStatistics(
            address=self.address,
            streams=len(self._streams),
            queued_messages=sum(q.messages for q in queues),
            queued_bytes=sum(q.bytes for q in queues),
            peak_queued_bytes=sum(q.peak_bytes for q in queues),
            messages_sent=sum(s.messages_sent for s in self._streams),
            bytes_sent=sum(s.bytes_sent for s in self._streams),
            messages_received=sum(s.messages_received for s in self._streams),
            bytes_received=sum(s.bytes_received for s in self._streams),
        )

    def __repr__(self) -> str:
        return f"GrpcTransport({self.address!r}, streams={len(self._streams)}, {self._state.value})"
