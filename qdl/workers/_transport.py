"""A node served by a dispatch worker, as the QDL sees it: a ``Transport`` like any other.

Its calls go to the worker over the control connection; its messages go out on the worker's
issue ring, each with a number, and come back as a send stamp (``SENT``) so the QDL's trips
and first-token times are measured from when the message left, as without workers. Responses
are parsed here, on the completion thread, so the QDL gets what a ``GrpcTransport`` gives it.
"""

from __future__ import annotations

import itertools
import pickle
import threading
from typing import TYPE_CHECKING

from .._exceptions import (
    AlreadyClosed,
    ConfigError,
    IssueTimeout,
    NotStarted,
    ProtocolError,
    QDLError,
    StreamBroken,
)
from .._wire import parse_response_batch
from ..transports import (
    BrokenCallback,
    NodeDescription,
    OutgoingMessage,
    ResponseCallback,
    Transport,
    TransportStatistics,
)
from ..transports._grpc import check_address
from ._protocol import BROKEN, RESPONSE, SENT, SEQUENCES, decode_error
from ._ring import Record, RingClosed, RingFull

if TYPE_CHECKING:
    from ._pool import WorkerPool

_CALL_MARGIN_S = 10.0  # beyond the node's own timeout, for the worker to answer


class WorkerTransport(Transport):
    """Node ``node`` of a ``WorkerPool``."""

    def __init__(self, pool: WorkerPool, node: int, address: str) -> None:
        self.address = check_address(address)
        self._pool = pool
        self._node = node
        self._label = address
        self._lock = threading.Lock()
        self._state = "unopened"
        self._seq = itertools.count()
        self._unsent: dict[int, OutgoingMessage] = {}  # waiting for their SENT stamp
        self._on_response: ResponseCallback | None = None
        self._on_broken: BrokenCallback | None = None
        self._broken: QDLError | None = None
        self._results_per_message: dict[int, int] = {}
        self._last_statistics: TransportStatistics | None = None
        self._timeouts = pool.timeouts

    def _call(self, op: str, *args: object, timeout: float) -> object:
        return self._pool.call(self._node, op, args, timeout + _CALL_MARGIN_S, self._label)

    # --- lifecycle -------------------------------------------------------------------------

    def connect(self) -> NodeDescription:
        if self._state == "closed":
            raise AlreadyClosed(f"transport to {self.address}")
        self._pool.start()
        description = self._call("connect", timeout=self._timeouts.connect)
        assert isinstance(description, NodeDescription)
        self._label = description.label
        self._state = "connected"
        return description

    def describe(self, timeout: float) -> NodeDescription:
        if self._state == "closed":
            raise AlreadyClosed(f"transport to {self.address}")
        if self._state == "unopened":
            raise NotStarted(f"transport to {self.address}")
        description = self._call("describe", timeout, timeout=timeout)
        assert isinstance(description, NodeDescription)
        return description

    def open(self, on_response: ResponseCallback, on_broken: BrokenCallback) -> None:
        if self._state != "connected":
            if self._state == "closed":
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        self._on_response, self._on_broken = on_response, on_broken
        self._call("open", timeout=self._timeouts.connect)
        self._state = "opened"

    def close(self) -> None:
        self._shut("close", 2 * self._timeouts.drain)

    def cancel(self) -> None:
        self._shut("cancel", 0.0)

    def _shut(self, op: str, timeout: float) -> None:
        with self._lock:
            if self._state == "closed":
                return
            was, self._state = self._state, "closed"
        try:
            if was != "unopened":
                try:
                    self._last_statistics = self.statistics(closing=True)
                    self._call(op, timeout=timeout)
                except StreamBroken:
                    pass  # its worker is gone, and the streams with it
        finally:
            self._pool.release(self._node)

    # --- traffic ---------------------------------------------------------------------------

    def issue(self, message: OutgoingMessage) -> None:
        if self._state != "opened":
            if self._state == "closed":
                raise AlreadyClosed(f"transport to {self.address}")
            raise NotStarted(f"transport to {self.address}")
        broken = self._broken
        if broken is not None:
            raise broken.chained() from broken
        seq = next(self._seq)
        self._unsent[seq] = message
        try:
            self._pool.put(self._node, message.data, message.n_samples, seq, self._timeouts.issue)
        except RingFull:
            self._unsent.pop(seq, None)
            raise IssueTimeout(
                f"node {self._label}: its dispatch worker took nothing from its ring for "
                f"{self._timeouts.issue:g} s",
                node=self.address,
            ) from None
        except RingClosed:
            self._unsent.pop(seq, None)
            raise self._broken or StreamBroken(
                f"node {self._label}: its dispatch worker is gone", node=self.address
            ) from None
        except ValueError as exc:
            self._unsent.pop(seq, None)
            raise ConfigError(
                f"node {self._label}: {exc}: a sample this large needs --dispatch-workers 0",
                node=self.address,
            ) from None

    def flush(self) -> int:
        if self._state == "unopened":
            raise NotStarted(f"transport to {self.address}")
        pending = self._call("flush", timeout=self._timeouts.flush)
        assert isinstance(pending, int)
        return pending

    # --- what the worker sent back (the pool's completion thread) ---------------------------

    def on_record(self, record: Record, t: int) -> None:
        kind = record.kind
        if kind == RESPONSE:
            self._deliver(record.data, t)
        elif kind == SENT:
            unsent = self._unsent
            for (seq,) in SEQUENCES.iter_unpack(record.data):
                message = unsent.pop(seq, None)
                if message is not None:
                    message.sent_ns = record.stamp
        elif kind == BROKEN:
            self._break(decode_error(pickle.loads(record.data)))

    def _deliver(self, raw: bytes, t: int) -> None:
        if self._broken is not None or self._on_response is None:
            return
        try:
            batch = parse_response_batch(raw)
        except ValueError as exc:
            self._break(ProtocolError(f"node {self._label}: {exc}", node=self.address))
            return
        n = len(batch.results)
        if batch.columns:
            n += sum(len(c.response_ids) // 8 for c in batch.columns)
        results = self._results_per_message
        results[n] = results.get(n, 0) + 1
        try:
            self._on_response(batch, len(raw), t)
        except QDLError as exc:
            self._break(exc)
        except Exception as exc:  # a bug in a callback: report it rather than lose it
            error = QDLError(
                f"node {self._label}: handling a response failed: {exc!r}", node=self.address
            )
            error.__cause__ = exc
            self._break(error)

    def worker_lost(self, message: str) -> None:
        if self._state == "opened":
            self._break(StreamBroken(f"node {self._label}: its {message}", node=self.address))

    def _break(self, error: QDLError) -> None:
        with self._lock:
            if self._broken is not None or self._state == "closed":
                return
            self._broken = error
        if self._on_broken is not None:
            self._on_broken(error)

    # --- introspection ---------------------------------------------------------------------

    def statistics(self, closing: bool = False) -> TransportStatistics:
        if self._state == "closed" and not closing and self._last_statistics is not None:
            return self._last_statistics
        try:
            stats = self._call("statistics", timeout=self._timeouts.describe)
        except QDLError:
            if self._last_statistics is not None:
                return self._last_statistics
            stats = TransportStatistics(self.address, 0, 0, 0, 0, 0, 0, 0, 0)
        assert isinstance(stats, TransportStatistics)
        stats = TransportStatistics(
            **{
                **stats.__dict__,
                "results_per_message": dict(sorted(self._results_per_message.items())),
            }
        )
        self._last_statistics = stats
        return stats

    def __repr__(self) -> str:
        return f"WorkerTransport({self.address!r}, worker {self._pool.worker_of(self._node)})"
