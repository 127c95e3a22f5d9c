"""The Query Dispatch Library: a LoadGen SUT that forwards every query to SUT nodes.

``issue_query`` never waits for the network: it picks a node for each sample, encodes the
samples into SampleBatch messages, queues them on the node's stream and returns. Answers arrive
on the transports' receiving thread (for gRPC, the shared event-loop thread) and go to
``QuerySamplesComplete`` as soon as each ResponseBatch is read; nothing is held back to be
merged with later answers.

No batching, only dispatch. MLPerf forbids the QDL to batch, i.e. to gather samples of
*separate* queries into one unit of work (which would trade latency for throughput inside the
timed path). Every query is encoded and queued the moment it is issued, and no sample ever
waits for another. The Offline scenario issues a single query holding every sample; splitting
that one query over the nodes and into messages of bounded size (``Limits``) adds no waiting
and combines nothing: it is the load balancing and serialization the rules ask the QDL to do.
How a node schedules its compute is the node's business, timed on the node.

Transport framing is not batching: with ``DispatchConfig.framing`` "opportunistic" (the
default) a stream whose sender finds several messages already queued (queries that arrived
while it was busy sending) sends them as one SampleBatch on the wire, up to the message limits,
and never waits for more; a lone sample still goes out at once. Each sample keeps its own
response id and the node answers each on its own. "per-query" keeps one query per message.

The wire form is chosen per node at connect (``DispatchConfig.wire``): nodes that announce the
columnar form get one ``SampleColumns`` block per unit and may answer in ``ResultColumns``
blocks; the others get (and answer in) the classic per-sample messages. The books are the same.

No timed preprocessing or inference happens here either: samples were converted and (if
configured) compressed by the QSL at load time; nodes decompress inside their timed path.

Every issued sample is completed exactly once: it is on the books (``_pending``) from issue
until its answer arrives or the run fails, and whichever of the two removes it completes it.
On a failure (node gone, backend error, protocol violation, timeout) the first error wins: the
run is ended through the LoadGen binding with a message naming the node and how many samples
were outstanding, the outstanding samples are completed with empty responses, and later
queries are completed at once without being sent.
"""

from __future__ import annotations

import enum
import functools
import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import loadgen
from loadgen.clock import Clock, RealClock
from protos.v1.columns import sample_block

from ._accounting import NodeAccount, NodeCounters, message_histogram
from ._balance import Balancer, make_balancer
from ._completer import Completer, Completion
from ._compression import negotiate
from ._config import DEFAULT_DISPATCH, DispatchConfig
from ._exceptions import (
    AlreadyClosed,
    BackendError,
    ConfigError,
    NotStarted,
    ProtocolError,
    QDLError,
    ResponseTimeout,
    SampleNotLoaded,
)
from ._gil import restore_switch_interval, shorten_switch_interval
from ._naming import ask_names, sut_name
from ._qsl import EncodedSample, SampleSource
from ._redispatch import NodeLoss, find_stuck, is_node_loss
from ._wire import (
    BLOCK_FRAMING,
    COLUMNS_FROM,
    COLUMNS_UP_TO_BYTES,
    FIRST_TOKEN,
    MAX_SAMPLE_FRAMING,
    ResponseBatch,
    ResultRows,
    column_bytes,
    result_rows,
    sample_batch,
)
from .transports import (
    GrpcTransport,
    NodeDescription,
    OutgoingMessage,
    Transport,
    TransportStatistics,
)
from .workers import WorkerPool

_now = time.perf_counter_ns


class State(enum.Enum):
    UNOPENED = "unopened"  # built; connect() not called yet
    OPENED = "opened"  # nodes described, streams open: ready for a run
    CLOSED = "closed"  # closed; build a new QDL to run again


@dataclass(frozen=True)
class NodeStatistics:
    """One node in a ``QDLStatistics`` snapshot."""

    address: str
    name: str
    outstanding: int
    peak_outstanding: int
    counters: NodeCounters
    transport: TransportStatistics


@dataclass(frozen=True)
class QDLStatistics:
    """A snapshot of the QDL's books; ``outstanding`` = issued and not yet completed."""

    state: str
    queries: int
    samples_issued: int
    samples_completed: int
    outstanding: int
    peak_outstanding: int
    failure: str | None
    nodes: tuple[NodeStatistics, ...]


def columns_message(
    response_ids: Sequence[int], sample_indices: Sequence[int], encoded: Sequence[EncodedSample]
) -> bytes:
    """One unit as a serialized SampleBatch holding one columnar block."""
    return sample_block(
        response_ids,
        sample_indices,
        [e.payload_view for e in encoded],
        [e.compression for e in encoded],
        [e.uncompressed_size for e in encoded],
        [e.dtype for e in encoded],
        [e.shape for e in encoded],
    )


def sample_weight(sample: EncodedSample) -> int:
    """A sample's weight for "prompt-tokens" balancing: its element count (a prompt's tokens)."""
    return math.prod(sample.shape) if sample.shape else 1


class _Pending:
    """The books for one issued sample."""

    __slots__ = ("node", "message", "index", "seq", "sent_at")

    def __init__(
        self, node: int, message: OutgoingMessage, index: int, seq: int, sent_at: int
    ) -> None:
        self.node = node
        self.message = message
        self.index = index
        self.seq = seq  # issue order over all nodes
        self.sent_at = sent_at  # the QDL's clock when booked for this node


class QueryDispatchLibrary(loadgen.SystemUnderTest):
    """A LoadGen SUT spreading queries over SUT nodes, one ``Transport`` per node.

    Use it as a context manager (or call ``connect`` and ``close``)::

        with QueryDispatchLibrary.over_grpc(["10.0.0.2:50051"], qsl, OurLoadgen()) as qdl:
            OurLoadgen().run(qdl, qsl, settings, log_settings)
    """

    def __init__(
        self,
        transports: Sequence[Transport],
        samples: SampleSource,
        binding: Completer,
        config: DispatchConfig = DEFAULT_DISPATCH,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not transports:
            raise ConfigError("the QDL needs at least one node")
        addresses = [t.address for t in transports]
        dupes = sorted({a for a in addresses if addresses.count(a) > 1})
        if dupes:
            raise ConfigError(f"node address given more than once: {', '.join(dupes)}")
        self._transports = list(transports)
        self._source = samples
        self._binding = binding
        self._config = config
        self._state = State.UNOPENED
        self._lock = threading.Lock()
        n = len(transports)
        self._descriptions: tuple[NodeDescription, ...] = ()
        self._columnar: list[bool] = []  # per node: it gets the columnar form
        self._accounts: list[NodeAccount] = []
        self._balancer: Balancer | None = None
        self._name: str | None = None
        self._pending: dict[int, _Pending] = {}
        # Token runs only: when each sample's first token arrived (QDL clock), until its final
        # answer, for TPOT; empty (one truthiness test per batch) in runs without tokens.
        self._first_token_at: dict[int, int] = {}
        self._outstanding = [0] * n
        # "prompt-tokens" balancing only: each node's outstanding prompt tokens, and each
        # outstanding sample's (node, tokens); None otherwise, so other policies pay nothing.
        self._tokens: list[int] | None = None
        self._weights: dict[int, tuple[int, int]] = {}
        self._peak_node = [0] * n
        self._clock: Clock = clock if clock is not None else RealClock()
        self._last_progress = [0] * n  # clock time of each node's latest answer (or first owed)
        self._peak = 0
        self._queries = 0
        self._issued = 0
        self._completed = 0
        self._failure: QDLError | None = None
        self._watchdog: threading.Thread | None = None
        self._stop = threading.Event()
        self._helpers: list[threading.Thread] = []
        self._flush_errors: list[str] = []
        self._seq = 0  # samples booked so far (under the lock)
        self._answered_seq = [0] * n  # each node's newest answered sample, in issue order
        self._overtaken: dict[int, tuple[int, int]] = {}  # find_stuck's state
        self._lost: set[int] = set()  # nodes taken out of the run ("redispatch")
        self.losses: list[NodeLoss] = []
        self.samples_resent = 0
        self.late_answers_dropped = 0
        self.workers: WorkerPool | None = None  # the dispatch workers, when it has them

    @classmethod
    def over_grpc(
        cls,
        addresses: Sequence[str],
        samples: SampleSource,
        binding: Completer,
        config: DispatchConfig = DEFAULT_DISPATCH,
        *,
        clock: Clock | None = None,
    ) -> QueryDispatchLibrary:
        """A QDL with a ``GrpcTransport`` per address (``config.streams_per_node`` each), in
        this process or, with ``config.dispatch_workers``, in worker processes."""
        options: dict[str, Any] = dict(
            streams=config.streams_per_node,
            timeouts=config.timeouts,
            limits=config.limits,
            framing=config.framing,
            tls=config.tls,
            wire=config.wire,
        )
        if config.dispatch_workers:
            pool = WorkerPool(config.dispatch_workers, addresses, options, timeouts=config.timeouts)
            qdl = cls(pool.transports, samples, binding, config, clock=clock)
            qdl.workers = pool
            return qdl
        transports: list[Transport] = [GrpcTransport(a, **options) for a in addresses]
        return cls(transports, samples, binding, config, clock=clock)

    # --- lifecycle -------------------------------------------------------------------------

    def connect(self) -> None:
        """Describe every node (in parallel), check compression and policy, open the streams.

        Raises ConnectError naming every node that could not be reached, CompressionError or
        ConfigError; nothing stays open after a failure.
        """
        if self._state is State.CLOSED:
            raise AlreadyClosed()
        if self._state is State.OPENED:
            raise ConfigError("connect() was already called")
        try:
            self._descriptions = tuple(self._describe_all())
            labels = [d.label for d in self._descriptions]
            negotiate(
                self._source.compression,
                {d.label: d.compressions for d in self._descriptions},
            )
            self._balancer = make_balancer(
                self._config.balance, [d.capacity for d in self._descriptions], labels
            )
            if self._balancer.load == "prompt-tokens":
                self._tokens = [0] * len(self._transports)
            self._accounts = [NodeAccount(d) for d in self._descriptions]
            self._columnar = self._choose_wire()
            for i, transport in enumerate(self._transports):
                transport.open(functools.partial(self._on_response, i), self._fail)
            self._name = sut_name([d.name for d in self._descriptions])
        except BaseException:
            self._state = State.CLOSED
            self._close_transports()
            raise
        self._state = State.OPENED
        shorten_switch_interval()
        self._watchdog = threading.Thread(target=self._watch, name="qdl-watchdog", daemon=True)
        self._watchdog.start()

    def _choose_wire(self) -> list[bool]:
        """Which nodes get the columnar form; ConfigError when "columnar" is required of a node
        that does not announce it."""
        wire = self._config.wire
        if wire == "classic":
            return [False] * len(self._descriptions)
        if wire == "columnar":
            old = [d.label for d in self._descriptions if not d.columnar]
            if old:
                raise ConfigError(
                    "wire 'columnar' asked for, but these nodes do not announce the columnar "
                    f"form in Describe: {', '.join(old)} (use wire 'auto' or 'classic')"
                )
        return [d.columnar for d in self._descriptions]

    def _describe_all(self) -> list[NodeDescription]:
        results: list[NodeDescription | BaseException | None] = [None] * len(self._transports)

        def describe(i: int) -> None:
            try:
                results[i] = self._transports[i].connect()
            except BaseException as exc:
                results[i] = exc

        threads = [
            threading.Thread(target=describe, args=(i,), name=f"qdl-connect-{i}", daemon=True)
            for i in range(len(self._transports))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            first = errors[0]
            if len(errors) > 1 and isinstance(first, QDLError):
                every = "; ".join(str(e) for e in errors)
                raise first.chained(f"cannot connect to {len(errors)} nodes: {every}") from first
            raise first
        return [r for r in results if isinstance(r, NodeDescription)]

    def close(self) -> None:
        """Stop the streams and background threads. Samples still outstanding are dropped."""
        with self._lock:
            if self._state is State.CLOSED:
                return
            opened = self._state is State.OPENED
            self._state = State.CLOSED
        if opened:
            restore_switch_interval()
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
        # A failed run is over: nothing owed will be used, so the streams are cancelled at once
        # rather than drained, and Flush helpers stuck on a frozen node are not waited for.
        failed = self._failure is not None
        if not failed:
            for helper in self._helpers:
                helper.join(self._config.timeouts.flush + 1.0)
        self._close_transports(cancel=failed)

    def _close_transports(self, cancel: bool = False) -> None:
        closers = [
            threading.Thread(
                target=t.cancel if cancel else t.close, name=f"qdl-close-{t.address}", daemon=True
            )
            for t in self._transports
        ]
        for c in closers:
            c.start()
        for c in closers:
            c.join()

    def __enter__(self) -> QueryDispatchLibrary:
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._state is not State.OPENED:
            raise AlreadyClosed() if self._state is State.CLOSED else NotStarted()

    # --- the SystemUnderTest interface -----------------------------------------------------

    def name(self) -> str:
        """The SUT's name, "Network SUT: N node(s): ...", from a Describe sent to each node now.

        The LoadGen asks rarely (at the start, and for each summary), so every call goes over
        the network, each node given ``timeouts.describe`` s; one that does not answer is named
        in the name with the reason (see ``_naming``). After ``close``: the last name.
        """
        with self._lock:
            state = self._state
            lost = set(self._lost)
        if state is State.UNOPENED:
            raise NotStarted()
        if state is State.OPENED:
            parts = ask_names(
                self._transports, self._descriptions, self._config.timeouts.describe, lost
            )
            self._name = sut_name(parts)
        if self._name is None:  # connect failed
            raise AlreadyClosed()
        return self._name

    def issue_query(self, samples: list[Any]) -> None:
        """Dispatch one query; returns once its messages are queued (never waits on a node)."""
        self._check_open()
        with self._lock:
            self._queries += 1
            self._issued += len(samples)
        if self._failure is not None:
            self._complete_empty([s.id for s in samples])
            return
        try:
            encoded = [self._source.encoded(s.index) for s in samples]
        except SampleNotLoaded as exc:
            self._fail(exc, [s.id for s in samples])
            return
        if self._tokens is None:
            nodes = self._assign(len(samples))
        else:
            nodes = self._assign_by_tokens(samples, encoded)
        if nodes is None:  # failed meanwhile
            self._complete_empty([s.id for s in samples])
            return
        if len(samples) == 1:  # a Server or SingleStream query: one message, nothing to split
            node = nodes[0]
            self._send(node, self._encode(node, [0], samples, encoded), [0], samples)
            return
        per_node: dict[int, list[int]] = {}
        for pos, node in enumerate(nodes):
            per_node.setdefault(node, []).append(pos)
        chunks = {
            node: self._chunk(node, positions, encoded) for node, positions in per_node.items()
        }
        # Interleave the nodes' messages so every node starts work as early as possible.
        queues = [[(node, chunk) for chunk in node_chunks] for node, node_chunks in chunks.items()]
        order = [item for group in itertools.zip_longest(*queues) for item in group if item]
        for k, (node, chunk) in enumerate(order):
            message = self._encode(node, chunk, samples, encoded)
            if not self._send(node, message, chunk, samples):
                leftover = [samples[p].id for _, c in order[k + 1 :] for p in c]
                self._complete_empty(leftover)
                return

    def flush_queries(self) -> None:
        """Send Flush to every node, in the background: the LoadGen is not held up by it."""
        self._check_open()
        if self._failure is not None:
            return
        helper = threading.Thread(target=self._flush_all, name="qdl-flush-all", daemon=True)
        self._helpers = [h for h in self._helpers if h.is_alive()] + [helper]
        helper.start()

    # --- issue path ------------------------------------------------------------------------

    def _assign(self, n: int) -> list[int] | None:
        assert self._balancer is not None
        choose = self._balancer.choose
        now = self._clock.now_ns()
        with self._lock:
            if self._failure is not None:
                return None
            outstanding = self._outstanding
            nodes = []
            for _ in range(n):
                node = self._choose(outstanding) if self._lost else choose(outstanding)
                if outstanding[node] == 0:
                    self._last_progress[node] = now
                outstanding[node] += 1
                if outstanding[node] > self._peak_node[node]:
                    self._peak_node[node] = outstanding[node]
                nodes.append(node)
            total = self._issued - self._completed
            if total > self._peak:
                self._peak = total
        return nodes

    def _assign_by_tokens(
        self, samples: list[Any], encoded: list[EncodedSample]
    ) -> list[int] | None:
        """``_assign`` for "prompt-tokens": the balancer sees each node's outstanding tokens,
        and a sample's weight is its length (a prompt's token count)."""
        assert self._balancer is not None and self._tokens is not None
        choose = self._balancer.choose
        now = self._clock.now_ns()
        with self._lock:
            if self._failure is not None:
                return None
            outstanding, tokens, weights = self._outstanding, self._tokens, self._weights
            nodes = []
            for s, e in zip(samples, encoded):
                node = self._choose(tokens) if self._lost else choose(tokens)
                weight = sample_weight(e)
                if outstanding[node] == 0:
                    self._last_progress[node] = now
                outstanding[node] += 1
                tokens[node] += weight
                weights[s.id] = (node, weight)
                if outstanding[node] > self._peak_node[node]:
                    self._peak_node[node] = outstanding[node]
                nodes.append(node)
            total = self._issued - self._completed
            if total > self._peak:
                self._peak = total
        return nodes

    def _unweigh(self, node: int, batch: ResponseBatch, blocks: list[ResultRows]) -> None:
        """Take the answered samples' tokens off ``node`` (under the lock; "prompt-tokens")."""
        assert self._tokens is not None
        weights = self._weights
        answered = [r.response_id for r in batch.results if r.kind != FIRST_TOKEN]
        for rows in blocks:
            kinds = rows.kinds
            if kinds is None:
                answered.extend(rows.response_ids)
            else:
                answered.extend(rid for rid, k in zip(rows.response_ids, kinds) if k != FIRST_TOKEN)
        for rid in answered:
            entry = weights.get(rid)
            if entry is not None and entry[0] == node:
                del weights[rid]
                self._tokens[node] -= entry[1]

    def _chunk(
        self, node: int, positions: list[int], encoded: list[EncodedSample]
    ) -> list[list[int]]:
        limits = self._config.limits
        max_bytes = limits.max_message_bytes
        node_max = self._descriptions[node].max_message_bytes
        if node_max:
            max_bytes = min(max_bytes, node_max)
        max_count = limits.max_samples_per_message
        columnar = self._columnar[node]
        start = BLOCK_FRAMING if columnar else 0
        chunks: list[list[int]] = []
        current: list[int] = []
        size = start
        for pos in positions:
            e = encoded[pos]
            if columnar:
                item = column_bytes(e.template, len(e.shape))
            else:
                item = len(e.template) + MAX_SAMPLE_FRAMING
            if current and (size + item > max_bytes or len(current) >= max_count):
                chunks.append(current)
                current, size = [], start
            current.append(pos)
            size += item
        if current:
            chunks.append(current)
        return chunks

    def _encode(
        self, node: int, chunk: list[int], samples: list[Any], encoded: list[EncodedSample]
    ) -> OutgoingMessage:
        if self._columnar[node] and self._as_columns([encoded[p] for p in chunk]):
            data = columns_message(
                [samples[p].id for p in chunk],
                [samples[p].index for p in chunk],
                [encoded[p] for p in chunk],
            )
        else:
            data = sample_batch([(samples[p].id, encoded[p].template) for p in chunk])
        return OutgoingMessage(data, len(chunk), _now())

    def _as_columns(self, unit: list[EncodedSample]) -> bool:
        """Whether a unit for a columnar node goes as columns: always under "columnar"; under
        "auto" when it holds enough small samples for the form to pay (see ``qdl._wire``)."""
        if self._config.wire != "auto":
            return True
        n = len(unit)
        return n >= COLUMNS_FROM and sum(len(e.template) for e in unit) <= n * COLUMNS_UP_TO_BYTES

    def _send(
        self, node: int, message: OutgoingMessage, chunk: list[int], samples: list[Any]
    ) -> bool:
        """Book and queue one message; False if the run failed (its samples are completed)."""
        description = self._descriptions[node]
        if description.max_message_bytes and len(message.data) > description.max_message_bytes:
            s = samples[chunk[0]]
            self._fail(
                ProtocolError(
                    f"node {description.label}: sample index {s.index} makes a "
                    f"{len(message.data)}-byte message, more than the node accepts "
                    f"({description.max_message_bytes} bytes)",
                    node=description.address,
                    response_id=s.id,
                ),
                [samples[p].id for p in chunk],
            )
            return False
        rerouted = False
        with self._lock:
            if self._failure is not None:
                failed = True
            elif node in self._lost:  # lost since this query was assigned: send elsewhere
                failed = False
                rerouted = True  # (its outstanding count was cleared when it was lost)
            else:
                failed = False
                pending = self._pending
                now = self._clock.now_ns()
                for p in chunk:
                    s = samples[p]
                    self._seq += 1
                    pending[s.id] = _Pending(node, message, s.index, self._seq, now)
        if failed:
            self._complete_empty([samples[p].id for p in chunk])
            return False
        if rerouted:
            self._resend([(samples[p].id, samples[p].index) for p in chunk], resent=False)
            return self._failure is None
        self._accounts[node].issued(message.n_samples, len(message.data))
        try:
            self._transports[node].issue(message)
        except QDLError as exc:
            self._fail(exc)  # under "redispatch" the node may be lost and its samples re-sent
            return self._failure is None
        return True

    # --- response path (the transports' receiving thread) ----------------------------------

    def _on_response(self, node: int, batch: ResponseBatch, size: int, t: int) -> None:
        blocks: list[ResultRows] = []
        if batch.columns:
            try:
                blocks = [result_rows(block) for block in batch.columns]
            except ValueError as exc:
                d = self._descriptions[node]
                self._fail(
                    ProtocolError(f"node {d.label}: malformed ResultColumns: {exc}", node=d.address)
                )
                return
        finals: list[Completion] = []
        firsts: list[Completion] = []
        timings = []
        taken: list[tuple[ResultRows, list[int], list[int]]] = []  # (block, rows, round trips)
        ttfts: list[int] = []  # token runs: issue -> first token, per sample (ns)
        tpots: list[float] = []  # token runs: (final - first token) / (n_tokens - 1) (ns)
        errored: list[tuple[_Pending, int, str]] = []
        problem: QDLError | None = None
        now = self._clock.now_ns()
        with self._lock:
            if node in self._lost:  # a lost node's late answers: its samples went elsewhere
                self.late_answers_dropped += sum(1 for r in batch.results if r.kind != FIRST_TOKEN)
                self.late_answers_dropped += sum(
                    len(b) if b.kinds is None else b.kinds.count(0) for b in blocks
                )
                return
            pending = self._pending
            answered_seq = self._answered_seq[node]
            for r in batch.results:
                rid = r.response_id
                rec = pending.get(rid)
                if rec is None or rec.node != node:
                    if problem is None and self._failure is None:
                        problem = self._unexpected(node, rid, rec)
                    continue
                if r.error:
                    del pending[rid]
                    self._outstanding[node] -= 1
                    errored.append((rec, rid, r.error))
                    self._first_token_at.pop(rid, None)
                elif r.kind:  # not KIND_FINAL (0): one comparison per result
                    if r.kind == FIRST_TOKEN:
                        firsts.append((rid, r.payload, r.n_tokens))
                        self._first_token_at[rid] = t
                        ttfts.append(t - (rec.message.sent_ns or rec.message.enqueued_ns))
                    elif problem is None and self._failure is None:
                        problem = self._undefined_kind(node, rid, rec, r.kind)
                else:
                    del pending[rid]
                    self._outstanding[node] -= 1
                    if rec.seq > answered_seq:
                        answered_seq = rec.seq
                    finals.append((rid, r.payload, r.n_tokens))
                    timings.append((t - (rec.message.sent_ns or rec.message.enqueued_ns), r.timing))
                    if self._first_token_at:
                        first = self._first_token_at.pop(rid, None)
                        if first is not None and r.n_tokens > 1:
                            tpots.append((t - first) / (r.n_tokens - 1))
            for rows in blocks:
                kinds, tokens, payloads = rows.kinds, rows.n_tokens, rows.payloads
                errors = rows.errors
                done: list[int] = []
                trips: list[int] = []
                for k, rid in enumerate(rows.response_ids):
                    rec = pending.get(rid)
                    if rec is None or rec.node != node:
                        if problem is None and self._failure is None:
                            problem = self._unexpected(node, rid, rec)
                        continue
                    kind = kinds[k] if kinds is not None else 0
                    n_tokens = tokens[k] if tokens is not None else 0
                    if errors and errors.get(k):
                        del pending[rid]
                        self._outstanding[node] -= 1
                        errored.append((rec, rid, errors[k]))
                        self._first_token_at.pop(rid, None)
                    elif kind:
                        if kind == FIRST_TOKEN:
                            firsts.append((rid, payloads[k], n_tokens))
                            self._first_token_at[rid] = t
                            ttfts.append(t - (rec.message.sent_ns or rec.message.enqueued_ns))
                        elif problem is None and self._failure is None:
                            problem = self._undefined_kind(node, rid, rec, kind)
                    else:
                        del pending[rid]
                        self._outstanding[node] -= 1
                        if rec.seq > answered_seq:
                            answered_seq = rec.seq
                        finals.append((rid, payloads[k], n_tokens))
                        done.append(k)
                        trips.append(t - (rec.message.sent_ns or rec.message.enqueued_ns))
                        if self._first_token_at:
                            first = self._first_token_at.pop(rid, None)
                            if first is not None and n_tokens > 1:
                                tpots.append((t - first) / (n_tokens - 1))
                if done:
                    taken.append((rows, done, trips))
            self._completed += len(finals)
            if self._tokens is not None:
                self._unweigh(node, batch, blocks)
            self._last_progress[node] = now
            self._answered_seq[node] = answered_seq
        if firsts:
            self._binding.first_token(firsts)
        if finals:
            self._binding.complete(finals)
        account = self._accounts[node]
        account.received(size, timings)
        for rows, done, trips in taken:
            account.received_rows(rows, done, trips)
        if ttfts or tpots:
            account.token_times(ttfts, tpots)
        if errored:
            rec, rid, text = errored[0]
            label = self._descriptions[node].label
            self._fail(
                BackendError(
                    f"node {label}: backend failed on sample index {rec.index} "
                    f"(response id {rid}): {text}",
                    node=self._descriptions[node].address,
                    response_id=rid,
                ),
                [e[1] for e in errored],
            )
        if problem is not None:
            self._fail(problem)

    def _undefined_kind(self, node: int, rid: int, rec: _Pending, kind: int) -> ProtocolError:
        d = self._descriptions[node]
        return ProtocolError(
            f"node {d.label}: answered sample index {rec.index} (response id {rid}) with result "
            f"kind {kind}, which the protocol does not define (lon.v1.SampleResult.Kind)",
            node=d.address,
            response_id=rid,
        )

    def _unexpected(self, node: int, rid: int, rec: _Pending | None) -> ProtocolError:
        d = self._descriptions[node]
        if rec is None:
            why = "which is not outstanding (answered twice, or never issued)"
        else:
            why = f"which was sent to node {self._descriptions[rec.node].label}"
        return ProtocolError(
            f"node {d.label}: answered response id {rid} {why}", node=d.address, response_id=rid
        )

    # --- losing a node ("redispatch", see qdl._redispatch) ----------------------------------

    def _choose(self, outstanding: list[int]) -> int:
        """The balancer's choice among the nodes not lost (called under the lock)."""
        assert self._balancer is not None
        lost = self._lost
        view = [1 << 62 if i in lost else o for i, o in enumerate(outstanding)]
        node = self._balancer.choose(view)
        for _ in range(len(outstanding)):  # round-robin and weighted ignore the loads
            if node not in lost:
                break
            node = self._balancer.choose(view)
        return node

    def _lose_node(self, error: QDLError) -> bool:
        """Take ``error``'s node out and send what it owed elsewhere; False when it is the last
        node (or the run already failed), so the run must fail."""
        index = next((i for i, d in enumerate(self._descriptions) if d.address == error.node), None)
        if index is None:
            return False
        with self._lock:
            if self._failure is not None or self._state is not State.OPENED:
                return False
            if index in self._lost:
                return True  # already handled: a second symptom of the same loss
            if len(self._lost) + 1 >= len(self._transports):
                return False
            self._lost.add(index)
            owed = [(rid, rec.index) for rid, rec in self._pending.items() if rec.node == index]
            self._outstanding[index] = 0
            if self._tokens is not None:
                self._tokens[index] = 0  # its samples' weights move with them (_resend)
            loss = NodeLoss(
                self._descriptions[index].label,
                self._descriptions[index].address,
                error.message,
                len(owed),
                self._clock.now_ns(),
                time.time(),
            )
            self.losses.append(loss)
        helper = threading.Thread(
            target=self._after_loss, args=(index, owed), name="qdl-redispatch", daemon=True
        )
        self._helpers = [h for h in self._helpers if h.is_alive()] + [helper]
        helper.start()
        return True

    def _after_loss(self, index: int, owed: list[tuple[int, int]]) -> None:
        """Re-send what a lost node owed, then cancel its streams (off the loop thread: both
        may block); nothing more is wanted from it, so its streams are not drained."""
        self._resend(owed)
        self._transports[index].cancel()

    def _resend(self, owed: list[tuple[int, int]], resent: bool = True) -> None:
        """Send samples (response id, sample index) again, to nodes not lost; ``resent``:
        count them as re-sent (False: assigned to the node but never sent to it)."""
        if not owed:
            return
        try:
            encoded = [self._source.encoded(index) for _, index in owed]
        except SampleNotLoaded as exc:
            self._fail(exc)
            return
        with self._lock:
            if self._failure is not None:
                return
            pending = self._pending
            nodes = []
            now = self._clock.now_ns()
            tokens = self._tokens
            for k, (rid, _) in enumerate(owed):
                node = self._choose(self._outstanding if tokens is None else tokens)
                if self._outstanding[node] == 0:
                    self._last_progress[node] = now  # owed from now, as in _assign
                self._outstanding[node] += 1
                if tokens is not None:
                    weight = sample_weight(encoded[k])
                    tokens[node] += weight
                    self._weights[rid] = (node, weight)
                pending.pop(rid, None)  # booked again below, at the end (booking order)
                nodes.append(node)
            if resent:
                self.samples_resent += len(owed)
        per_node: dict[int, list[int]] = {}
        for pos, node in enumerate(nodes):
            per_node.setdefault(node, []).append(pos)
        for node, positions in per_node.items():
            for chunk in self._chunk(node, positions, encoded):
                if self._columnar[node] and self._as_columns([encoded[p] for p in chunk]):
                    data = columns_message(
                        [owed[p][0] for p in chunk],
                        [owed[p][1] for p in chunk],
                        [encoded[p] for p in chunk],
                    )
                else:
                    data = sample_batch([(owed[p][0], encoded[p].template) for p in chunk])
                message = OutgoingMessage(data, len(chunk), _now())
                with self._lock:
                    if self._failure is not None:
                        return
                    now = self._clock.now_ns()
                    for p in chunk:
                        self._seq += 1
                        pending[owed[p][0]] = _Pending(node, message, owed[p][1], self._seq, now)
                self._accounts[node].issued(message.n_samples, len(data))
                try:
                    self._transports[node].issue(message)
                except QDLError as exc:
                    self._fail(exc)

    # --- failure ---------------------------------------------------------------------------

    def _fail(self, error: BaseException, extra_ids: Sequence[int] = ()) -> None:
        """End the run because of ``error`` (first error wins) and complete what is owed."""
        if not isinstance(error, QDLError):
            cause = error
            error = QDLError(f"internal error: {cause!r}")
            error.__cause__ = cause
        if (
            self._config.on_node_loss == "redispatch"
            and is_node_loss(error)
            and self._lose_node(error)
        ):
            if extra_ids:
                self._complete_empty(extra_ids)
            return
        with self._lock:
            first = self._failure is None and self._state is State.OPENED
            if first:
                ids = list(self._pending) + list(extra_ids)
                # A new error that adds the books to the message, caused by the one reported.
                error = error.chained(self._failure_text(error, len(self._pending)))
                self._failure = error
                self._completed += len(ids)
                self._pending.clear()
                self._first_token_at.clear()
                self._outstanding = [0] * len(self._outstanding)
            else:
                ids = list(extra_ids)
        if first:
            self._binding.abort(error.message, ids)
        elif ids:
            self._complete_empty(ids)

    def _failure_text(self, error: QDLError, total: int) -> str:
        """The error's text plus how many samples were outstanding (called under the lock)."""
        for i, d in enumerate(self._descriptions):
            if error.node == d.address:
                return (
                    f"{error.message}; {self._outstanding[i]} samples were outstanding on it "
                    f"({total} on all nodes)"
                )
        return f"{error.message}; {total} samples were outstanding"

    def _complete_empty(self, ids: Sequence[int]) -> None:
        """Complete samples that were never answered, unless the run is over (closed)."""
        if ids and self._state is State.OPENED:
            with self._lock:
                self._completed += len(ids)
            self._binding.complete([(rid, b"", 0) for rid in ids])

    @property
    def failure(self) -> QDLError | None:
        """The error that ended the run, or None."""
        return self._failure

    @property
    def failure_message(self) -> str | None:
        return None if self._failure is None else self._failure.message

    # --- background work -------------------------------------------------------------------

    def _flush_all(self) -> None:
        """Flush every node at once. Flush is a hint (no more work is coming soon), so a node
        that cannot take it is noted, never failed: a dead or stuck node is found from the
        progress of its answers (``_watch``) and from its stream."""

        def flush(transport: Transport) -> None:
            try:
                transport.flush()
            except QDLError as exc:
                with self._lock:
                    self._flush_errors.append(exc.message)

        with self._lock:
            live = [t for i, t in enumerate(self._transports) if i not in self._lost]
        threads = [
            threading.Thread(target=flush, args=(t,), name=f"qdl-flush-{t.address}", daemon=True)
            for t in live
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    @property
    def flush_errors(self) -> list[str]:
        """Flush calls that failed (each is harmless on its own; see ``_flush_all``)."""
        with self._lock:
            return list(self._flush_errors)

    def _watch(self) -> None:
        """Check the nodes' progress a few times a second until the QDL closes."""
        limit = self._config.timeouts.response
        while not self._stop.wait(min(0.25, limit / 4)):
            if self.check_progress() is not None and self._failure is not None:
                return  # (under "redispatch" a lost node need not end the run)

    def check_progress(self) -> ResponseTimeout | None:
        """Fail the run when a node owing answers has sent none for ``Timeouts.response``.

        Progress is measured on the QDL's clock (the real one unless given), from the node's
        latest answer or, if it owed nothing before, from the first sample it was then given.
        Returns the error that ended the run, or None. The watchdog thread calls it; tests may
        call it directly on a virtual clock.
        """
        timeouts = self._config.timeouts
        limit = timeouts.response
        limit_ns = int(limit * 1e9)
        now = self._clock.now_ns()
        stalled = None
        stuck = None
        with self._lock:
            if self._failure is not None or self._state is not State.OPENED:
                return None
            for i, n in enumerate(self._outstanding):
                if n and now - self._last_progress[i] > limit_ns:
                    stalled = i
                    break
            if stalled is not None:
                owed = self._outstanding[stalled]
                oldest = next((r for r in self._pending.values() if r.node == stalled), None)
            elif timeouts.sample is not None:
                found = find_stuck(
                    self._pending.values(),
                    self._outstanding,
                    self._answered_seq,
                    self._overtaken,
                    now,
                    int(timeouts.sample * 1e9),
                )
                if found is not None:
                    stuck = (found.node, found.index, self._rid_of(found))
        if stuck is not None:
            node, index, rid = stuck
            d = self._descriptions[node]
            error = ResponseTimeout(
                f"node {d.label}: sample index {index} still not answered {timeouts.sample:g} s "
                "after the node answered a sample sent after it: a hung or dropped sample (the "
                "per-sample deadline, lon-run --sample-timeout)",
                node=d.address,
                response_id=rid,
            )
        elif stalled is not None:
            d = self._descriptions[stalled]
            answered = self._accounts[stalled].counters().samples_answered
            first = f"; the oldest is sample index {oldest.index}" if oldest is not None else ""
            error = ResponseTimeout(
                f"node {d.label}: answered nothing for {limit:g} s while it owed {owed} "
                f"samples{first} (it had answered {answered} before; the response timeout, "
                "lon-run --response-timeout)",
                node=d.address,
            )
        else:
            return None
        self._fail(error)
        return error

    def _rid_of(self, rec: _Pending) -> int | None:
        """The response id booked for ``rec`` (called under the lock; only on a failure)."""
        return next((rid for rid, r in self._pending.items() if r is rec), None)

    # --- introspection ---------------------------------------------------------------------

    @property
    def descriptions(self) -> tuple[NodeDescription, ...]:
        """What each node said in Describe, in node order (empty before connect)."""
        return self._descriptions

    def live_counts(self) -> tuple[int, int, list[int]]:
        """(samples issued, completed, outstanding per node), read WITHOUT the lock, for a live
        display polling a few times a second: it never holds up the issue or completion path,
        and the figures may be a moment apart. ``statistics`` gives a consistent snapshot."""
        return self._issued, self._completed, list(self._outstanding)

    @property
    def accounts(self) -> tuple[NodeAccount, ...]:
        """Each node's counters and timing samples, in node order (empty before connect)."""
        return tuple(self._accounts)

    def statistics(self) -> QDLStatistics:
        with self._lock:
            outstanding = list(self._outstanding)
            peaks = list(self._peak_node)
            snapshot = (self._queries, self._issued, self._completed, self._peak)
        nodes = tuple(
            NodeStatistics(
                address=d.address,
                name=d.name,
                outstanding=outstanding[i],
                peak_outstanding=peaks[i],
                counters=self._accounts[i].counters(),
                transport=self._transports[i].statistics(),
            )
            for i, d in enumerate(self._descriptions)
        )
        queries, issued, completed, peak = snapshot
        return QDLStatistics(
            state=self._state.value,
            queries=queries,
            samples_issued=issued,
            samples_completed=completed,
            outstanding=issued - completed,
            peak_outstanding=peak,
            failure=self.failure_message,
            nodes=nodes,
        )

    def node_reports(self) -> list[dict[str, Any]]:
        """Per-node traffic and timing breakdown (see ``qdl._accounting``), JSON-ready."""
        reports = []
        for i, account in enumerate(self._accounts):
            report = account.report()
            transport = self._transports[i].statistics()
            report["streams"] = transport.streams
            report["framing"] = self._config.framing
            report["wire"] = "columnar" if self._columnar[i] else "classic"
            report["samples_per_message"] = message_histogram(transport.samples_per_message)
            report["results_per_message"] = message_histogram(transport.results_per_message)
            reports.append(report)
        return reports

    def __repr__(self) -> str:
        return f"QueryDispatchLibrary({len(self._transports)} nodes, {self._state.value})"
