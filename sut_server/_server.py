"""run_server(): bind, start and own one SUT node; NodeServer: its lifecycle and statistics."""

from __future__ import annotations

import dataclasses
import enum
import socket
import threading
import time
from concurrent import futures
from types import TracebackType

import grpc
from grpc_health.v1 import health, health_pb2

from protos.v1 import keepalive

from ._config import NodeConfig, parse_listen
from ._engine import Engine
from ._errors import BindError
from ._metrics import MetricsServer, StreamObserver
from ._servicer import SERVICE_NAME, SutNodeServicer, add_servicer_to_server, node_info
from ._tls import server_credentials
from ._unary import CallBudget, add_health_to_server
from .backends import load_backend

_RESERVED_RPCS = 8  # handler threads kept for Describe and Flush beside the Infer streams
_WORKER_JOIN_S = 5.0  # how long stop() waits for a busy backend after the grace period


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lon")
    except Exception:
        return "0.0.0"


class State(enum.Enum):
    SERVING = "serving"  # bound, health SERVING, accepting Infer streams
    DRAINING = "draining"  # stop() called: health NOT_SERVING, finishing in-flight samples
    STOPPED = "stopped"  # gRPC server stopped, workers joined, backend closed


@dataclasses.dataclass(frozen=True)
class NodeStatistics:
    """A snapshot of one node's books.

    samples_received:  samples that arrived on Infer streams
    samples_answered:  final results sent
    samples_refused:   samples that arrived after their stream had closed (never run)
    samples_cancelled: admitted samples left unanswered because their stream ended early
    samples_computed:  samples given to the backend
    samples_failed:    samples answered with an error (decoding or backend)
    samples_skipped:   queued samples not run because their stream had ended
    in_flight_*:       received and unanswered right now (the bounded part), with peaks
    queued:            waiting for a worker (messages, or samples when batching)
    """

    state: State
    streams_open: int
    streams_served: int
    samples_received: int
    samples_answered: int
    samples_refused: int
    samples_cancelled: int
    samples_computed: int
    samples_failed: int
    samples_skipped: int
    batches: int
    peak_batch: int
    in_flight_samples: int
    in_flight_bytes: int
    peak_in_flight_samples: int
    peak_in_flight_bytes: int
    queued: int


class NodeServer:
    """A running SUT node; made by ``run_server``. Use it as a context manager or call ``stop``."""

    def __init__(
        self,
        config: NodeConfig,
        name: str,
        host: str,
        port: int,
        server: grpc.Server,
        executor: futures.ThreadPoolExecutor,
        servicer: SutNodeServicer,
        health_servicer: health.HealthServicer,
        engine: Engine,
    ) -> None:
        self.config = config
        self.name = name
        self.host = host
        self.port = port
        self._server = server
        self._executor = executor
        self._servicer = servicer
        self._health = health_servicer
        self._engine = engine
        self._state = State.SERVING
        self._lock = threading.Lock()
        self._stopping = False
        self._stopped = threading.Event()
        self.metrics: MetricsServer | None = None  # --metrics-port

    @property
    def address(self) -> str:
        """HOST:PORT with the real bound port (a client may dial it when HOST is not a wildcard)."""
        return f"{self.host}:{self.port}"

    @property
    def state(self) -> State:
        return self._state

    @property
    def backend(self) -> str:
        return self._engine.label

    def ready_line(self) -> str:
        """The one line ``sut-server`` prints once serving; other tools parse it."""
        line = f"sut-server ready: name={self.name} listen={self.address} backend={self.backend}"
        engine = self._engine.describe()
        if engine:
            line += " engine=" + ",".join(f"{k}={v}" for k, v in sorted(engine.items()) if v)
        return line

    def statistics(self) -> NodeStatistics:
        totals = self._servicer.totals()
        engine = self._engine.statistics()
        limit = self._engine.limit.statistics()
        return NodeStatistics(
            state=self._state,
            streams_open=totals["streams_open"],
            streams_served=totals["streams_served"],
            samples_received=totals["samples_received"],
            samples_answered=totals["samples_answered"],
            samples_refused=totals["samples_refused"],
            samples_cancelled=totals["samples_cancelled"],
            samples_computed=engine.samples_computed,
            samples_failed=engine.samples_failed,
            samples_skipped=engine.samples_skipped,
            batches=engine.batches,
            peak_batch=engine.peak_batch,
            in_flight_samples=limit.samples,
            in_flight_bytes=limit.bytes,
            peak_in_flight_samples=limit.peak_samples,
            peak_in_flight_bytes=limit.peak_bytes,
            queued=engine.queued,
        )

    def stop(self, grace: float | None = None) -> None:
        """Drain and stop: refuse new streams (health NOT_SERVING), finish and send the work
        already received, end the streams, then stop gRPC and the workers.

        Whatever is still running after ``grace`` seconds (default ``config.grace_s``) is
        cancelled. Safe to call more than once and from several threads.
        """
        with self._lock:
            if self._stopping:
                already = True
            else:
                already = False
                self._stopping = True
                self._state = State.DRAINING
        if already:
            self._stopped.wait()
            return
        grace = self.config.grace_s if grace is None else max(0.0, grace)
        deadline = time.monotonic() + grace
        try:
            self._health.enter_graceful_shutdown()
            self._servicer.begin_drain()
            self._servicer.wait_streams_ended(deadline)
            # Unary calls and health watchers get what is left of the grace, at most a second.
            remaining = max(0.0, min(1.0, deadline - time.monotonic()))
            self._server.stop(remaining).wait()
            self._engine.close(max(0.0, deadline - time.monotonic()) + _WORKER_JOIN_S)
            self._servicer.join_readers(1.0)
            self._executor.shutdown(wait=True)
            close = getattr(self._engine.backend, "close", None)
            if callable(close):
                close()
        finally:
            if self.metrics is not None:
                self.metrics.close()
            self._state = State.STOPPED
            self._stopped.set()
        if self._engine.failure is not None:
            raise RuntimeError(
                f"node {self.name}: a worker failed while serving"
            ) from self._engine.failure

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the node has stopped (True) or ``timeout`` seconds pass (False)."""
        return self._stopped.wait(timeout)

    def __enter__(self) -> NodeServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"NodeServer(name={self.name!r}, address={self.address!r}, {self._state.value})"


def run_server(config: NodeConfig) -> NodeServer:
    """Build the backend, bind ``config.listen``, start serving; returns once ready.

    Raises BackendError (unknown backend, bad option) or BindError (cannot listen) before anything
    is left running.
    """
    host, port = parse_listen(config.listen)
    credentials = (
        server_credentials(config.tls_cert, config.tls_key, config.tls_client_ca)
        if config.tls_cert is not None and config.tls_key is not None
        else None
    )
    backend = load_backend(config.backend, config.backend_options)
    engine = Engine(backend, config.backend, config)
    # Infer streams, the unary calls and health each have their own share of the threads.
    rpcs = config.streams_limit + _RESERVED_RPCS + config.health_calls
    executor = futures.ThreadPoolExecutor(max_workers=rpcs, thread_name_prefix="sut-rpc")
    server = grpc.server(
        executor,
        maximum_concurrent_rpcs=rpcs,
        options=[
            ("grpc.so_reuseport", 0),  # a port already in use must be an error, not shared
            ("grpc.max_receive_message_length", config.max_message_bytes),
            ("grpc.max_send_message_length", -1),
            # Clients ping every few seconds to notice a frozen node quickly; allow it rather
            # than answer with GOAWAY "too many pings".
            *keepalive.NODE_OPTIONS,
        ],
    )
    servicer: SutNodeServicer | None = None
    try:
        try:
            if credentials is None:
                bound = server.add_insecure_port(f"{host}:{port}")
            else:
                bound = server.add_secure_port(f"{host}:{port}", credentials)
        except RuntimeError as exc:
            raise BindError(f"cannot listen on {config.listen}: {exc}") from None
        if not bound:
            raise BindError(f"cannot listen on {config.listen}")
        name = config.name or f"{socket.gethostname()}-{bound}"
        engine.start()  # an engine backend waits here for its engine, before anything is served
        capacity = getattr(backend, "capacity", None)
        options = getattr(backend, "options", None)
        info = node_info(
            config, name, config.backend, capacity, _version(), options, engine.describe()
        )
        servicer = SutNodeServicer(config, engine, info)
        observer = servicer.observer = StreamObserver() if config.metrics_port is not None else None
        add_servicer_to_server(servicer, server)
        health_servicer = health.HealthServicer()
        add_health_to_server(health_servicer, server, CallBudget("health", config.health_calls))
        server.start()
    except BaseException:
        server.stop(0)
        if servicer is not None:
            servicer.idle.stop()
        engine.close(_WORKER_JOIN_S)
        executor.shutdown(wait=False)
        close = getattr(backend, "close", None)
        if callable(close):
            close()
        raise
    node = NodeServer(
        config, name, host, bound, server, executor, servicer, health_servicer, engine
    )
    if observer is not None and config.metrics_port is not None:
        try:
            node.metrics = MetricsServer(
                host, config.metrics_port, node.statistics, observer,
                {"name": name, "backend": config.backend, "version": _version()},
            )  # fmt: skip
        except BaseException:
            node.stop(0)
            raise
    for service in ("", SERVICE_NAME):
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    return node
