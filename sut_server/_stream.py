"""One Infer stream: a reader thread taking SampleBatches in, the gRPC handler thread sending
ResponseBatches out, and the books that say when the stream may end.

Threads: gRPC's handler thread runs ``responses()`` (the only place results can be sent from in a
synchronous gRPC server); ``read()`` runs on a reader thread the servicer starts; workers call
``deliver()``; gRPC calls ``close()`` when the RPC ends for any reason (including cancellation).

The stream ends (status OK) once the client has half-closed, or the node is draining, and every
admitted sample has had its final result sent. Results ready at the same time are coalesced into
one ResponseBatch.

A columnar block (SampleBatch.columns) becomes a Work of its own (one unit). A client that reads
ResultColumns (it said so in the stream's metadata, or sent columns) gets those of its messages
that hold ``COLUMNS_FROM`` results or more as ResultColumns, the smaller ones classic.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

import grpc

from protos.v1 import sut_node_pb2 as pb
from protos.v1.columns import SampleRows, read_samples

from ._codec import declared_bytes
from ._encode import COLUMNS_FROM, COLUMNS_UP_TO_BYTES, encode_columns, encode_response
from ._limit import InflightLimit
from ._metrics import StreamObserver
from ._work import FINAL, Result, Samples, Work, error_result, now_ns, response_ids


def _declared(samples: Samples) -> int:
    """The decoded bytes the samples declare (``declared_bytes``, summed)."""
    if isinstance(samples, SampleRows):
        return samples.declared_bytes()
    return sum(map(declared_bytes, samples))


class StreamFailure(Exception):
    """The client broke the protocol; the stream ends with this status and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class Stream:
    """The state of one Infer call; see the module docstring for who calls what."""

    def __init__(
        self,
        number: int,
        node_name: str,
        limit: InflightLimit,
        submit: Callable[[Work], None],
        draining: Callable[[], bool],
        coalesce_bytes: int,
        observer: StreamObserver | None = None,
        columnar: bool = True,
    ) -> None:
        self.number = number
        self.node_name = node_name
        # Results for the writer, or None: re-check whether the stream should end.
        self.outbox: queue.SimpleQueue[list[Result] | None] = queue.SimpleQueue()
        self.reader: threading.Thread | None = None
        self.closed = False  # no more results will be sent: ended or cancelled
        self.reader_done = False  # the request side is finished (half-close, cancel or failure)
        self.failure: StreamFailure | None = None
        # Counters, each written by one thread only.
        self.admitted = 0  # samples accepted (reader)
        self.answered = 0  # final results sent (writer)
        self.refused = 0  # samples that arrived after the stream closed (reader)
        self.peer = ""  # the client's address, as gRPC gives it
        self.last_ns = now_ns()  # when the latest samples arrived (reader): idle streams end
        self.opened_ns = self.last_ns  # unused streams end a grace period after this
        self._limit = limit
        self._submit = submit
        self._draining = draining
        self._coalesce_bytes = coalesce_bytes
        self._observer = observer  # sut-server --metrics-port; None: nothing is recorded
        self.reads_columns = columnar  # False: sut-server --wire classic refuses them
        # The client reads ResultColumns (it said so at the start, or sent columns).
        self.columnar = False
        self._lock = threading.Lock()  # guards closed, the admitted/answered check, credit
        self._held_samples = 0
        self._held_bytes = 0

    # --- reader thread ---------------------------------------------------------------------

    def read(self, requests: Iterator[bytes]) -> None:
        """Take SampleBatches in until the client half-closes or the call ends."""
        parse = pb.SampleBatch.FromString
        limit = self._limit
        gave_up = self._gave_up
        observer = self._observer
        try:
            for raw in requests:
                received = now_ns()
                try:
                    batch = parse(raw)
                except Exception as exc:  # protobuf's DecodeError
                    self.fail(grpc.StatusCode.INVALID_ARGUMENT, f"unparsable SampleBatch: {exc}")
                    return
                parts = self._parts(batch)
                if parts is None:
                    return
                count = sum(len(p) for p in parts)
                if not count:
                    continue  # an empty message is nothing: it keeps no stream alive
                self.last_ns = received
                # Credit for the wire bytes and for what decoding will make, as the samples
                # declare it, before anything is decompressed; a message that cannot fit the
                # node's whole budget is answered with errors, never decoded.
                declared = [_declared(p) for p in parts]
                decoded = sum(declared)
                nbytes = len(raw)
                if observer is not None:
                    observer.received(nbytes)  # wire bytes, before the decoded credit
                oversized = nbytes + decoded > limit.max_bytes
                if not oversized:
                    nbytes += decoded
                if not limit.acquire(count, nbytes, gave_up):
                    self.refused += count
                    return
                with self._lock:
                    if self.closed:
                        limit.release(count, nbytes)
                        self.refused += count
                        return
                    self.admitted += count
                    self._held_samples += count
                    self._held_bytes += nbytes
                # Each part's credit is what it declares; the first one also holds the wire bytes
                # (an oversized message holds only those), so the parts add up to ``nbytes``.
                shares = [0] * len(parts) if oversized else declared
                works = [
                    Work(self, p, received, share + (nbytes - sum(shares) if i == 0 else 0))
                    for i, (p, share) in enumerate(zip(parts, shares))
                ]
                for work in works:
                    if self._draining():
                        why = f"node {self.node_name} is shutting down; sample not run"
                        self._refuse(work, why)
                    elif oversized:
                        self._refuse(
                            work,
                            f"the message's samples declare {decoded} decoded bytes, more than "
                            f"node {self.node_name}'s in-flight budget of {limit.max_bytes}; not "
                            "decoded",
                        )
                    else:
                        self._submit(work)
        except grpc.RpcError:
            pass  # the call was cancelled or ended; close() does the cleanup
        except Exception as exc:  # a bug: end the stream loudly rather than hang it
            self.fail(grpc.StatusCode.INTERNAL, f"reading the stream failed: {exc!r}")
        finally:
            self.reader_done = True
            self.outbox.put(None)

    def _parts(self, batch: pb.SampleBatch) -> list[Samples] | None:
        """The message's classic samples (if any) and each columnar block's rows; None after
        failing the stream for a malformed block, or a block this node does not read."""
        if not batch.columns:
            return [batch.samples]
        if not self.reads_columns:
            self.fail(
                grpc.StatusCode.INVALID_ARGUMENT,
                "columnar samples sent to a node that does not announce them (sut-server "
                "--wire classic)",
            )
            return None
        try:
            blocks: list[Samples] = [read_samples(b) for b in batch.columns]
        except ValueError as exc:
            self.fail(grpc.StatusCode.INVALID_ARGUMENT, f"malformed SampleColumns: {exc}")
            return None
        self.columnar = True
        return [batch.samples, *blocks] if batch.samples else blocks

    def wake(self) -> None:
        """Make the writer re-check whether the stream should end (e.g. the node is draining)."""
        self.outbox.put(None)

    def _gave_up(self) -> bool:
        return self.closed

    def _refuse(self, work: Work, message: str) -> None:
        self.outbox.put([error_result(work, rid, message) for rid in response_ids(work.samples)])

    def fail(self, code: grpc.StatusCode, message: str) -> None:
        """End the stream with ``code``: the writer aborts the call."""
        if self.failure is None:
            self.failure = StreamFailure(code, message)
        self.outbox.put(None)

    def end_if_unused(self, code: grpc.StatusCode, message: str) -> bool:
        """End the stream with ``code`` if no sample has ever arrived on it; atomic with the
        reader's admission, so a sample is never taken in by a stream being ended."""
        with self._lock:
            if self.closed or self.admitted or self.refused:
                return False
            self.closed = True  # from here on the reader refuses samples
        self.fail(code, message)
        return True

    # --- workers ---------------------------------------------------------------------------

    def deliver(self, results: list[Result]) -> None:
        """Hand results to the writer; they are discarded if the stream has closed."""
        if not self.closed:
            self.outbox.put(results)

    # --- gRPC ------------------------------------------------------------------------------

    def close(self) -> None:
        """The call is over (or over for us): give back its credit and wake everyone."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            samples, nbytes = self._held_samples, self._held_bytes
            self._held_samples = self._held_bytes = 0
        self._limit.release(samples, nbytes)
        self._limit.wake()
        self.outbox.put(None)

    @property
    def pending(self) -> int:
        """Samples admitted and not yet answered (0 once closed)."""
        return 0 if self.closed else self.admitted - self.answered

    # --- gRPC handler thread: the writer ---------------------------------------------------

    def responses(self, context: grpc.ServicerContext) -> Iterator[bytes]:
        """Serialized ResponseBatches until the stream should end (runs on gRPC's thread)."""
        outbox = self.outbox
        get = outbox.get
        empty = outbox.empty
        coalesce_bytes = self._coalesce_bytes
        observer = self._observer
        while True:
            items = get()
            if items is None:
                if self._should_end(context):
                    return
                continue
            check = False
            if not empty():  # more is ready: send it in the same message, up to a size
                size = sum([len(r.payload) for r in items])
                while size < coalesce_bytes and not empty():
                    more = get()
                    if more is None:
                        check = True
                        continue
                    items.extend(more)
                    size += sum([len(r.payload) for r in more])
            finals = 0
            finished: list[Work] = []
            for r in items:
                if r.kind == FINAL:
                    finals += 1
                    work = r.work
                    work.remaining -= 1
                    if not work.remaining:
                        finished.append(work)
            sent = now_ns()
            n = len(items)
            if (
                self.columnar
                and n >= COLUMNS_FROM
                and sum([len(r.payload) for r in items]) <= n * COLUMNS_UP_TO_BYTES
            ):
                message = encode_columns(items, sent)
            else:
                message = encode_response(items, sent)
            # Counted before gRPC takes the message: the generator resumes only when gRPC asks
            # for the next one, by which time the client may have its answers and ask Flush.
            self.answered += finals
            yield message
            if observer is not None:
                observer.sent(items, sent, len(message))
            if finished:
                self._give_back(finished)
            if (check or self.reader_done or self._draining()) and self._should_end(context):
                return

    def _give_back(self, finished: list[Work]) -> None:
        samples = sum(len(w.samples) for w in finished)
        nbytes = sum(w.nbytes for w in finished)
        with self._lock:
            if self.closed:
                return
            self._held_samples -= samples
            self._held_bytes -= nbytes
        self._limit.release(samples, nbytes)

    def _should_end(self, context: grpc.ServicerContext) -> bool:
        if self.failure is not None:
            self.close()
            context.abort(self.failure.code, f"node {self.node_name}: {self.failure}")
        if self.closed:
            return True
        if not (self.reader_done or self._draining()):
            return False
        with self._lock:
            if self.admitted != self.answered:
                return False
            self.closed = True  # from here on the reader refuses new samples
        return True
