"""The SutNode gRPC service: Describe, Flush, and admission of Infer streams."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator, Mapping

import grpc

from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc
from protos.v1.columns import READS_COLUMNS

from ._codec import SUPPORTED
from ._config import DEFAULT_CAPACITY_PER_WORKER, NodeConfig
from ._engine import Engine
from ._idle import IdleWatch, holders
from ._metrics import StreamObserver
from ._stream import Stream
from ._unary import unary

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SutNode"].full_name
"""The gRPC service name, "lon.v1.SutNode"; health is reported for it and for ""."""

_COALESCE_BYTES = 2 * 1024 * 1024
"""Results ready together share a ResponseBatch until their payloads reach this many bytes: well
under gRPC's default 4 MiB receive limit, and large enough to amortise the per-message cost."""


class SutNodeServicer(pb_grpc.SutNodeServicer):
    """Serves one node; keeps the books of its open streams for Flush, draining and statistics."""

    def __init__(self, config: NodeConfig, engine: Engine, info: pb.NodeInfo) -> None:
        self._config = config
        self._engine = engine
        self._info = info
        self._name = info.name
        self._lock = threading.Lock()
        self._streams: set[Stream] = set()
        self._readers: list[threading.Thread] = []
        self._numbers = itertools.count(1)
        self.draining = False
        self.observer: StreamObserver | None = None  # set for --metrics-port before serving
        # Totals of streams that have ended.
        self.streams_served = 0
        self._ended_received = 0
        self._ended_answered = 0
        self._ended_refused = 0
        self._ended_dropped = 0
        self.idle = IdleWatch(
            self._name, config.idle_stream_s, self._open_streams, config.unused_stream_grace_s
        )

    # --- RPCs ------------------------------------------------------------------------------

    def Describe(self, request: pb.DescribeRequest, context: grpc.ServicerContext) -> pb.NodeInfo:
        return self._info

    def Flush(self, request: pb.FlushRequest, context: grpc.ServicerContext) -> pb.FlushReply:
        """A hint that no more work is coming soon, answered at once (never held until drained).

        Batches stop waiting to fill up; the reply says how many samples are still pending.
        How long the answers take depends on the work queued, so no deadline may hang on it.
        """
        self._engine.queue.flush()
        return pb.FlushReply(pending=self.pending())

    def Infer(
        self, request_iterator: Iterator[bytes], context: grpc.ServicerContext
    ) -> Iterator[bytes]:
        stream = self._admit(context)
        try:
            if not context.add_callback(stream.close):
                return  # the call ended before it started
            # Admitted: say so at once (the QDL waits for it at start, and retries a refusal).
            context.send_initial_metadata(())
            reader = threading.Thread(
                target=stream.read,
                args=(request_iterator,),
                name=f"sut-stream-{stream.number}-reader",
                daemon=True,
            )
            stream.reader = reader
            reader.start()
            yield from stream.responses(context)
        finally:
            stream.close()
            self._forget(stream)

    # --- books -----------------------------------------------------------------------------

    def _admit(self, context: grpc.ServicerContext) -> Stream:
        with self._lock:
            if self.draining:
                context.abort(grpc.StatusCode.UNAVAILABLE, f"node {self._name} is shutting down")
            if len(self._streams) >= self._config.streams_limit:
                self.idle.slots_exhausted(self._config.streams_limit, context.peer(), self._streams)
                context.abort(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"node {self._name} already serves {self._config.streams_limit} Infer "
                    f"streams (its --streams-limit), held by {holders(self._streams)}",
                )
            stream = Stream(
                next(self._numbers),
                self._name,
                self._engine.limit,
                self._engine.submit,
                self._is_draining,
                min(_COALESCE_BYTES, self._config.max_message_bytes // 2),
                self.observer,
                columnar=self._config.wire == "columnar",
            )
            stream.peer = context.peer()
            if READS_COLUMNS in context.invocation_metadata():
                stream.columnar = stream.reads_columns  # the client reads ResultColumns
            self._streams.add(stream)
            self._readers = [t for t in self._readers if t.is_alive()]
            return stream

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            self._streams.discard(stream)
            if stream.reader is not None:
                self._readers.append(stream.reader)
            self.streams_served += 1
            self._ended_received += stream.admitted + stream.refused
            self._ended_answered += stream.answered
            self._ended_refused += stream.refused
            self._ended_dropped += stream.admitted - stream.answered

    def _open_streams(self) -> list[Stream]:
        with self._lock:
            return list(self._streams)

    def _is_draining(self) -> bool:
        return self.draining

    def pending(self) -> int:
        """Samples received and not yet answered, over all open streams."""
        with self._lock:
            streams = list(self._streams)
        return sum(s.pending for s in streams)

    def begin_drain(self) -> None:
        """Refuse new streams and new samples; let open streams end once their work is sent."""
        self.idle.stop()
        with self._lock:
            self.draining = True
            streams = list(self._streams)
        for stream in streams:
            stream.wake()

    def wait_streams_ended(self, deadline: float) -> bool:
        """Wait (until the ``time.monotonic()`` deadline) for every Infer stream to end."""
        while True:
            with self._lock:
                if not self._streams:
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def join_readers(self, timeout: float) -> None:
        with self._lock:
            readers = list(self._readers) + [s.reader for s in self._streams if s.reader]
        deadline = time.monotonic() + timeout
        for reader in readers:
            reader.join(max(0.0, deadline - time.monotonic()))

    def totals(self) -> dict[str, int]:
        with self._lock:
            streams = list(self._streams)
            totals = {
                "streams_open": len(streams),
                "streams_served": self.streams_served,
                "samples_received": self._ended_received,
                "samples_answered": self._ended_answered,
                "samples_refused": self._ended_refused,
                "samples_cancelled": self._ended_dropped,
            }
        for s in streams:
            totals["samples_received"] += s.admitted + s.refused
            totals["samples_answered"] += s.answered
            totals["samples_refused"] += s.refused
        return totals


def node_info(
    config: NodeConfig,
    name: str,
    backend_label: str,
    capacity: float | None,
    version: str,
    backend_options: Mapping[str, str] | None = None,
    engine: Mapping[str, str] | None = None,
) -> pb.NodeInfo:
    """What Describe answers; the capacity falls back to workers x DEFAULT_CAPACITY_PER_WORKER,
    the options in effect to the options given."""
    if capacity is None or not math.isfinite(capacity) or capacity <= 0:
        capacity = config.workers * DEFAULT_CAPACITY_PER_WORKER
    if not isinstance(backend_options, Mapping):
        backend_options = config.backend_options
    return pb.NodeInfo(
        backend_options={str(k): str(v) for k, v in backend_options.items()},
        engine=dict(engine or {}),
        name=name,
        backend=backend_label,
        version=version,
        compressions=list(SUPPORTED),
        capacity=float(capacity),
        workers=config.workers,
        max_batch=config.max_batch,
        max_message_bytes=config.max_message_bytes,
        columnar=config.wire == "columnar",
    )


def add_servicer_to_server(servicer: SutNodeServicer, server: grpc.Server) -> None:
    """Register the service like the generated code does, except that Infer carries bytes both
    ways: the stream reader parses requests itself (and so knows their size on the wire), and the
    writer encodes responses itself (``_encode``)."""
    handlers = {
        # Requests parsed inside the call: see ``_unary`` for why not by grpcio.
        "Describe": unary(
            servicer.Describe, pb.DescribeRequest.FromString, pb.NodeInfo.SerializeToString
        ),
        "Flush": unary(servicer.Flush, pb.FlushRequest.FromString, pb.FlushReply.SerializeToString),
        "Infer": grpc.stream_stream_rpc_method_handler(
            servicer.Infer, request_deserializer=None, response_serializer=None
        ),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
