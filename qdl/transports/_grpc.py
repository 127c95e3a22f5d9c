"""The real transport: one gRPC channel per node, with one or more long-lived Infer streams.

Messages travel as bytes in both directions (the QDL serializes each SampleBatch itself, so it
knows its exact size before queueing it, and parses each ResponseBatch as it arrives).

The Infer streams run on gRPC's asyncio API, on one event loop thread shared by every open
transport (``_SharedLoop``); Describe (at connect, and again whenever the SUT's name is asked)
and Flush use an ordinary blocking channel. Why: with the
blocking API every message costs several thread wake-ups (a thread per stream pulling from the
request iterator and waiting for each write, the channel's polling thread, a reader thread),
and on a small machine those context switches, not the bytes, are what limits the rate. On the
loop, each stream is a writer task fed from our bounded send queue (woken only when it ran
dry) and a reader task that hands every ResponseBatch to the QDL the moment it arrives.

Opportunistic framing: whenever a writer task gets to run it takes everything queued for its
stream at that moment (up to the message limits) and sends it as ONE SampleBatch, the queued
messages' bytes joined (a serialized protobuf message followed by another of the same type is
the merged message, so nothing is re-encoded). It never waits for more: a lone message goes out
at once, exactly as it would alone. Under load this turns many small gRPC messages, each costing
a fixed amount of Python and C on both sides, into few; idle, it changes nothing. Samples keep
their own response ids. ``framing="per-query"`` sends each queued message on its own.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import re
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import grpc
from grpc import aio

from protos.v1 import keepalive
from protos.v1 import sut_node_pb2_grpc as pb_grpc

from .._config import DEFAULT_LIMITS, DEFAULT_TIMEOUTS, FRAMINGS, Limits, Timeouts, TlsConfig
from .._exceptions import (
    AlreadyClosed,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    IssueTimeout,
    NotStarted,
    ProtocolError,
    QDLError,
    SecurityRefused,
    StreamBroken,
)
from .._wire import STREAM_METADATA, describe_request, flush_request, parse_response_batch
from ._base import (
    BrokenCallback,
    NodeDescription,
    OutgoingMessage,
    ResponseCallback,
    Transport,
    TransportStatistics,
)
from ._grpc_credentials import channel_security
from ._grpc_errors import map_grpc_exceptions
from ._queue import SendQueue

_now = time.perf_counter_ns

SentCallback = Callable[[list[OutgoingMessage], int], None]
"""Called with the messages of one write and the time they left (perf_counter ns)."""

INFER_METHOD = "/lon.v1.SutNode/Infer"

_ADDRESS = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):[0-9]{1,5}")

_CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", -1),
    ("grpc.max_receive_message_length", -1),
    # Retry a refused connection quickly during the connect window instead of backing off 1 s+.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    # HTTP/2 keepalive pings: a node that stops answering at the transport level (a frozen
    # process, a host or link gone without a reset) fails its stream within about 6 s instead
    # of waiting for the response timeout.
    *keepalive.CLIENT_OPTIONS,
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


_T = TypeVar("_T")


class _SharedLoop:
    """One asyncio event loop on a daemon thread, shared by the open transports (ref-counted:
    the first ``acquire`` starts it, the last ``release`` stops and joins it)."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _users = 0

    @classmethod
    def acquire(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(
                    target=cls._serve, args=(loop, started), name="qdl-grpc-loop", daemon=True
                )
                thread.start()
                started.wait()
                cls._loop, cls._thread = loop, thread
            cls._users += 1
            return cls._loop

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users or cls._loop is None:
                return
            loop, thread = cls._loop, cls._thread
            cls._loop = cls._thread = None
        loop.call_soon_threadsafe(loop.stop)
        assert thread is not None
        thread.join()
        loop.close()

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(started.set)
        loop.run_forever()


def _wake(loop: asyncio.AbstractEventLoop, event: asyncio.Event) -> None:
    """Set ``event`` on ``loop`` from any thread (nothing to do once the loop has stopped)."""
    try:
        loop.call_soon_threadsafe(event.set)
    except RuntimeError:
        pass


def _set_when_done(event: asyncio.Event, call: object) -> None:
    event.set()


def _refuse_on_loop_thread(loop: asyncio.AbstractEventLoop) -> None:
    """Waiting for ``loop`` from its own thread would block the loop that has to do the work."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        return
    if running is loop:
        raise RuntimeError(
            "a GrpcTransport was opened or closed from a callback on its own gRPC loop thread "
            "(e.g. a response callback); do it from another thread"
        )


def _run_on(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, _T], timeout: float) -> _T:
    """Run ``coro`` on ``loop`` (another thread's) and wait for its result."""
    try:
        _refuse_on_loop_thread(loop)
    except RuntimeError:
        coro.close()
        raise
    return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)


_ADMISSION_RETRY_S = 0.2  # between tries of a stream the node refused because its slots are busy
_UNUSED_ENDED = "Infer stream carried no samples for"
_CORE_WRITE_ERROR = "Internal error from Core"
"""What grpc.aio reports instead of the node's status when a write of ours crossed the end of
the call (grpc/grpc#36066): it may stand for the node ending the stream as unused."""
_BLIND_REOPENS = 3
"""How many calls in a row, answered never, may end that way and be reopened before the stream
counts as broken."""
"""How a node's status message starts when it ended a stream that never carried a sample
(sut_server._idle.UNUSED_MESSAGE); such a stream, with nothing sent on it, is opened again."""


class _Stream:
    """One Infer stream: its send queue, its gRPC call and its writer and reader tasks."""

    def __init__(self, index: int, max_queued_bytes: int, on_sent: SentCallback | None) -> None:
        self.index = index
        self.queue = SendQueue(max_queued_bytes)
        self.on_sent = on_sent  # told of each message as it leaves (a dispatch worker's relay)
        # What one SampleBatch on the wire may hold; merging is off while max_samples is 0.
        self.max_bytes = 0
        self.max_samples = 0
        self.call: aio.StreamStreamCall | None = None
        self.task: asyncio.Future[None] | None = None  # the reader: ends when the call does
        self.writer: asyncio.Future[None] | None = None
        self.wakeup: asyncio.Event | None = None
        # Each counter has a single writer (the loop thread), so no lock is needed.
        self.messages_sent = 0
        self.bytes_sent = 0
        self.messages_received = 0
        self.bytes_received = 0
        # Histograms {samples in a message: messages}, for SampleBatches sent and
        # ResponseBatches received: a few dozen keys at most, however long the run.
        self.samples_per_message: dict[int, int] = {}
        self.results_per_message: dict[int, int] = {}
        # What was sent on the current call before its first answer (None once answered): a
        # node that ends a stream as unused has admitted none of it, so it is sent again.
        self.unanswered: list[OutgoingMessage] | None = []
        self.resend: list[OutgoingMessage] = []  # for the next writer, before the queue
        self.blind_reopens = 0  # calls in a row reopened after an unexplained end (see below)

    async def write(self) -> None:
        """Send what is queued, stamped as it leaves (all of it in one SampleBatch unless
        merging is off); half-close once the queue is closed."""
        assert self.call is not None and self.wakeup is not None
        call, queue, wakeup = self.call, self.queue, self.wakeup
        take = queue.take_all_nowait
        max_bytes, max_samples = self.max_bytes, self.max_samples
        merge = max_samples > 0
        histogram = self.samples_per_message
        try:
            resend, self.resend = self.resend, []
            for message in resend:
                message.sent_ns = _now()
                if self.unanswered is not None:
                    self.unanswered.append(message)
                if self.on_sent is not None:
                    self.on_sent([message], message.sent_ns)
                await call.write(message.data)
            while True:
                wakeup.clear()
                if merge:
                    batch = take(max_bytes, max_samples)
                else:
                    one = queue.take_nowait()
                    batch = [one] if one is not None else []
                if not batch:
                    if queue.closed:
                        await call.done_writing()
                        return
                    await wakeup.wait()
                    continue
                now = _now()
                if len(batch) == 1:
                    message = batch[0]
                    message.sent_ns = now
                    data = message.data
                    n = message.n_samples
                else:
                    n = 0
                    for message in batch:
                        message.sent_ns = now
                        n += message.n_samples
                    data = b"".join([m.data for m in batch])
                self.messages_sent += 1
                self.bytes_sent += len(data)
                histogram[n] = histogram.get(n, 0) + 1
                if self.unanswered is not None:
                    self.unanswered.extend(batch)
                if self.on_sent is not None:
                    self.on_sent(batch, now)
                await call.write(data)
        except (grpc.RpcError, asyncio.InvalidStateError):
            return  # the call ended; the reader reports why


class GrpcTransport(Transport):
    """One SUT node over gRPC: plaintext, or TLS/mTLS with ``tls``."""

    def __init__(
        self,
        address: str,
        *,
        streams: int = 1,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        limits: Limits = DEFAULT_LIMITS,
        framing: str = "opportunistic",
        tls: TlsConfig | None = None,
        wire: str = "auto",
        raw_responses: bool = False,
        on_sent: SentCallback | None = None,
    ) -> None:
        """``raw_responses``: hand each ResponseBatch to the callback as the bytes read, not
        parsed (a dispatch worker relays them; the process that completes samples parses).
        ``on_sent``: called on the loop thread with the messages of each write as it leaves."""
        self.address = check_address(address)
        self._raw_responses = raw_responses
        self._credentials, extra_options = channel_security(tls)
        self._options = _CHANNEL_OPTIONS + extra_options
        if streams < 1:
            raise ConfigError(f"streams per node must be >= 1, got {streams}")
        if framing not in FRAMINGS:
            raise ConfigError(f"unknown framing {framing!r}; expected one of {', '.join(FRAMINGS)}")
        self._framing = framing
        self._wire = wire
        self._timeouts = timeouts
        self._limits = limits
        self._streams = [_Stream(i, limits.max_queued_bytes, on_sent) for i in range(streams)]
        self._next_stream = itertools.cycle(self._streams)
        self._lock = threading.Lock()
        self._state = State.UNOPENED
        self._channel: grpc.Channel | None = None
        self._stub: pb_grpc.SutNodeStub | None = None
        self._label = address
        self._broken: QDLError | None = None
        self._closing = False
        self._on_broken: BrokenCallback | None = None
        self._columnar = False  # the node reads columns and we speak them (known at connect)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._aio_channel: aio.Channel | None = None
        self._infer: Any = None  # the Infer method on the aio channel, once opened

    # --- lifecycle -------------------------------------------------------------------------

    def connect(self) -> NodeDescription:
        if self._state is State.CLOSED:
            raise AlreadyClosed(f"transport to {self.address}")
        timeout = self._timeouts.connect
        deadline = time.monotonic() + timeout
        if self._credentials is None:
            channel = grpc.insecure_channel(self.address, options=self._options)
        else:
            channel = grpc.secure_channel(self.address, self._credentials, options=self._options)
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
                    with map_grpc_exceptions(
                        self.address, "connect", timeout=timeout, tls=self._credentials is not None
                    ):
                        info = stub.Describe(describe_request(), timeout=remaining)
                    break
                except (ConnectTimeout, SecurityRefused):
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
        self._columnar = description.columnar and self._wire != "classic"
        if self._framing == "opportunistic":
            max_bytes = self._limits.max_message_bytes
            if description.max_message_bytes:
                max_bytes = min(max_bytes, description.max_message_bytes)
            for s in self._streams:
                s.max_bytes, s.max_samples = max_bytes, self._limits.max_samples_per_message
        self._state = State.CONNECTED
        return description

    def describe(self, timeout: float) -> NodeDescription:
        """Describe again on the blocking channel (the Infer streams are not touched)."""
        stub = self._stub
        if self._state is State.CLOSED:
            raise AlreadyClosed(f"transport to {self.address}")
        if stub is None:
            raise NotStarted(f"transport to {self.address}")
        with map_grpc_exceptions(self.address, "Describe", label=self._label, timeout=timeout):
            try:
                info = stub.Describe(describe_request(), timeout=timeout)
            except ValueError as exc:  # grpc refuses a call on a channel closed meanwhile
                raise AlreadyClosed(f"transport to {self.address}") from exc
        return NodeDescription.from_proto(self.address, info)

    def open(self, on_response: ResponseCallback, on_broken: BrokenCallback) -> None:
        if self._state is not State.CONNECTED:
            if self._state is State.CLOSED:
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        self._on_broken = on_broken
        self._loop = _SharedLoop.acquire()
        try:
            # Admission may be retried for the whole connect timeout; the margin is for the loop.
            _run_on(self._loop, self._start_streams(on_response), self._timeouts.connect + 5.0)
        except BaseException:
            try:
                _run_on(self._loop, self._end_streams(0.0), 5.0)
            finally:
                self._release_loop()
            raise
        self._state = State.OPENED

    async def _start_streams(self, on_response: ResponseCallback) -> None:
        loop = asyncio.get_running_loop()
        if self._credentials is None:
            self._aio_channel = aio.insecure_channel(self.address, options=self._options)
        else:
            self._aio_channel = aio.secure_channel(
                self.address, self._credentials, options=self._options
            )
        infer = self._aio_channel.stream_stream(INFER_METHOD)
        if self._columnar:  # ask the node to answer in ResultColumns
            infer = functools.partial(infer, metadata=STREAM_METADATA)
        self._infer = infer
        deadline = loop.time() + self._timeouts.connect
        await asyncio.gather(*(self._admit(stream, deadline) for stream in self._streams))
        for stream in self._streams:
            stream.wakeup = wakeup = asyncio.Event()
            stream.queue.set_waker(functools.partial(_wake, loop, wakeup))
            stream.writer = asyncio.ensure_future(stream.write())
            stream.task = asyncio.ensure_future(self._read(stream, on_response))

    async def _admit(self, stream: _Stream, deadline: float) -> None:
        """Open ``stream``'s call and wait until the node admits it (its initial metadata).

        A node whose stream slots are all taken refuses with RESOURCE_EXHAUSTED; slots come
        back (unused streams end within seconds), so refusals are retried until ``deadline``
        (the connect timeout), then ConnectError quotes the node, which names the holders.
        Any other ending is left to the reader to report. A node that sends no initial
        metadata until its first answer is taken as admitted at the deadline.
        """
        loop = asyncio.get_running_loop()
        while True:
            stream.call = call = self._infer()
            ended = asyncio.Event()
            call.add_done_callback(functools.partial(_set_when_done, ended))
            waiters = [
                asyncio.ensure_future(call.initial_metadata()),
                asyncio.ensure_future(ended.wait()),
            ]
            await asyncio.wait(
                waiters, timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )  # fmt: skip
            for waiter in waiters:
                waiter.cancel()
            if not call.done() or await call.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                return
            details = await call.details()
            if loop.time() + _ADMISSION_RETRY_S >= deadline:
                raise ConnectError(
                    f"node {self._label}: Infer stream {stream.index} refused for "
                    f"{self._timeouts.connect:g} s (the connect timeout): {details}",
                    node=self.address,
                )
            await asyncio.sleep(_ADMISSION_RETRY_S)

    async def _reopen(self, stream: _Stream) -> aio.StreamStreamCall:
        """A new call for ``stream`` after the node ended one as unused: what was sent on the
        old call (none of it admitted) goes first on the new one."""
        if stream.writer is not None:
            stream.writer.cancel()
        stream.resend = stream.unanswered or []
        stream.unanswered = []
        stream.call = call = self._infer()
        stream.writer = asyncio.ensure_future(stream.write())
        return call

    def _ended_unused(self, stream: _Stream, exc: grpc.RpcError) -> bool:
        """Whether the node ended ``stream`` for never having taken in a sample (whatever was
        sent on it crossed the node's decision and was refused whole, never run).

        When a write of ours crossed that end, grpc.aio reports INTERNAL "Internal error from
        Core" instead of the node's status; a call never answered that ends so is taken for
        the same, a few times in a row at most. Resending is safe either way: the call is over,
        so nothing sent on it can be answered on it.
        """
        if self._closing or stream.unanswered is None or not isinstance(exc, aio.AioRpcError):
            return False
        details = exc.details() or ""
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED and _UNUSED_ENDED in details:
            return True
        if exc.code() == grpc.StatusCode.INTERNAL and _CORE_WRITE_ERROR in details:
            stream.blind_reopens += 1
            return stream.blind_reopens <= _BLIND_REOPENS
        return False

    def close(self) -> None:
        self._shut(self._timeouts.drain)

    def cancel(self) -> None:
        self._shut(0.0)

    def _shut(self, drain: float) -> None:
        if self._loop is not None:
            _refuse_on_loop_thread(self._loop)
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
                assert self._loop is not None
                _run_on(self._loop, self._end_streams(drain), 2 * drain + 5.0)
        finally:
            self._release_loop()
            if self._channel is not None:
                self._channel.close()

    async def _end_streams(self, drain: float) -> None:
        """Wait up to ``drain`` s for the node to end the streams, cancel the rest, close."""
        tasks = [t for s in self._streams for t in (s.task, s.writer) if t is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=drain)
            if pending:
                for stream in self._streams:
                    if stream.call is not None:
                        stream.call.cancel()
                await asyncio.wait(pending, timeout=max(drain, 1.0))  # cancelled: quick
        if self._aio_channel is not None:
            await self._aio_channel.close()

    def _release_loop(self) -> None:
        if self._loop is not None:
            self._loop = None
            _SharedLoop.release()

    # --- traffic ---------------------------------------------------------------------------

    def issue(self, message: OutgoingMessage) -> None:
        if self._state is not State.OPENED:
            if self._state is State.CLOSED:
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        self._raise_if_broken()
        stream = next(self._next_stream)
        if stream.queue.put(message, self._timeouts.issue):
            return
        self._raise_if_broken()
        if self._closing:
            raise AlreadyClosed(f"transport to {self.address}")
        queued = stream.queue.statistics().bytes
        raise IssueTimeout(
            f"node {self._label}: send queue full ({queued} bytes queued) and nothing sent "
            f"for {self._timeouts.issue:g} s",
            node=self.address,
        )

    def _raise_if_broken(self) -> None:
        broken = self._broken
        if broken is not None:
            raise broken.chained() from broken

    def flush(self) -> int:
        if self._stub is None:
            raise NotStarted(f"transport to {self.address}")
        timeout = self._timeouts.flush
        with map_grpc_exceptions(self.address, "flush", label=self._label, timeout=timeout):
            reply = self._stub.Flush(flush_request(), timeout=timeout)
        return int(reply.pending)

    async def _read(self, stream: _Stream, on_response: ResponseCallback) -> None:
        """Hand each ResponseBatch to ``on_response`` (on the loop thread) until the call ends."""
        assert stream.call is not None
        call = stream.call
        parse = parse_response_batch
        raw_only = self._raw_responses
        eof = aio.EOF
        results = stream.results_per_message
        error: QDLError | None = None
        try:
            with map_grpc_exceptions(
                self.address, f"Infer stream {stream.index}", label=self._label
            ):
                while True:
                    try:
                        raw = await call.read()
                    except grpc.RpcError as exc:
                        if not self._ended_unused(stream, exc):
                            raise
                        call = await self._reopen(stream)
                        continue
                    if raw is eof:
                        break
                    t = _now()
                    if stream.unanswered is not None:
                        stream.unanswered = None  # admitted: the node cannot call it unused
                        stream.blind_reopens = 0
                    stream.messages_received += 1
                    stream.bytes_received += len(raw)
                    if raw_only:
                        on_response(raw, len(raw), t)
                        continue
                    try:
                        batch = parse(raw)
                    except ValueError as exc:
                        raise ProtocolError(
                            f"node {self._label}: {exc}", node=self.address
                        ) from exc
                    n = len(batch.results)
                    if batch.columns:
                        n += sum(len(c.response_ids) // 8 for c in batch.columns)
                    results[n] = results.get(n, 0) + 1
                    on_response(batch, len(raw), t)
            if not self._closing:
                error = StreamBroken(
                    f"node {self._label}: the node ended Infer stream {stream.index}",
                    node=self.address,
                )
        except QDLError as exc:
            if not self._closing:
                error = exc
        except asyncio.CancelledError:
            if not self._closing:
                raise
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
            samples_per_message=_merged(s.samples_per_message for s in self._streams),
            results_per_message=_merged(s.results_per_message for s in self._streams),
        )

    def __repr__(self) -> str:
        return f"GrpcTransport({self.address!r}, streams={len(self._streams)}, {self._state.value})"


def _merged(histograms: Iterable[dict[int, int]]) -> dict[int, int]:
    """The sum of ``{value: count}`` histograms (copied: the loop thread keeps counting)."""
    total: dict[int, int] = {}
    for histogram in histograms:
        for value, count in list(histogram.items()):
            total[value] = total.get(value, 0) + count
    return dict(sorted(total.items()))
