"""NodeConfig: everything a SUT node needs to start, as one frozen value with named defaults."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping

from ._errors import ConfigError
from ._tls import check_tls_flags

DEFAULT_LISTEN = "127.0.0.1:0"
DEFAULT_BACKEND = "echo"
DEFAULT_WORKERS = 1
DEFAULT_MAX_BATCH = 0
"""0 means no node-side batching: each incoming SampleBatch is one backend call."""
DEFAULT_BATCH_TIMEOUT_US = 0
DEFAULT_STREAMS_LIMIT = 32
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_INFLIGHT_BYTES = 256 * 1024 * 1024
DEFAULT_MAX_INFLIGHT_SAMPLES = 65536
DEFAULT_GRACE_S = 10.0
DEFAULT_IDLE_STREAM_S = 300.0
DEFAULT_UNUSED_STREAM_GRACE_S = 2.0
"""Under the QDL's 3 s connect timeout, so a LoadGen that finds every slot held by streams
that carry nothing gets one while it is still retrying."""
DEFAULT_HEALTH_CALLS = 8
MAX_MESSAGE_BYTES = 1024 * 1024 * 1024
"""--max-message-bytes above this is refused: gRPC cannot take messages of 2 GiB or more, and a
node that buffers one such message per stream would not survive many."""
MAX_STREAMS_LIMIT = 4096
MAX_HEALTH_CALLS = 1024
MAX_WORKERS = 1024
MAX_BATCH = 1_000_000
MAX_BATCH_TIMEOUT_US = 3_600_000_000
DEFAULT_CAPACITY_PER_WORKER = 1000.0
"""Capacity (samples/s) reported per worker when the backend does not know its own."""

_LISTEN = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")
_NAME = re.compile(r"[A-Za-z0-9_.@:+-]{1,128}")


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``HOST:PORT`` (IPv6 hosts in brackets); port 0 asks the OS for a free port."""
    match = _LISTEN.fullmatch(listen)
    if not match or int(match.group(2)) > 65535:
        raise ConfigError(
            f"--listen {listen!r} is not HOST:PORT with a port in 0..65535 "
            "(e.g. 0.0.0.0:50051, [::]:50051, 127.0.0.1:0)"
        )
    return match.group(1), int(match.group(2))


WIRES = ("columnar", "classic")
"""The forms of SampleBatch a node may read (see sut_node.proto)."""


@dataclasses.dataclass(frozen=True)
class NodeConfig:
    """How to run one SUT node; ``run_server(NodeConfig(...))`` starts it.

    listen:               HOST:PORT to bind; port 0 picks a free port (see ``NodeServer.port``).
    backend:              a built-in backend name (echo, synthetic, numpy-mlp, synthetic-llm) or
                          ``module:Class`` naming any class implementing ``backends.base.Backend``.
    backend_options:      string options handed to the backend's constructor.
    name:                 the node's name in Describe and logs; default ``<host>-<port>``.
    workers:              backend worker threads (concurrent backend calls).
    max_batch:            0: each incoming message is one backend call; N > 0: samples from all
                          streams are regrouped into backend batches of up to N samples.
    batch_timeout_us:     with max_batch > 0, a batch starts once full or once its oldest
                          sample has waited this long since it was received.
    streams_limit:        Infer streams served at once; more are refused (RESOURCE_EXHAUSTED).
    max_message_bytes:    largest SampleBatch accepted (reported in Describe).
    max_inflight_bytes:   received-but-unanswered bytes (on the wire plus the decoded size the
    max_inflight_samples: samples declare) and samples before the node stops reading (and so
                          pushes back on senders through gRPC flow control); a message that
                          alone declares more bytes is answered with errors, never decoded.
    grace_s:              default grace period of ``NodeServer.stop()``.
    metrics_port:         serve Prometheus metrics on this port (0: any free), on the listen
                          host; None: no metrics (see ``_metrics``).
    tls_cert, tls_key:    PEM certificate chain and private key: serve TLS instead of plaintext.
    tls_client_ca:        PEM CA bundle: require client certificates signed by it (mTLS).
    idle_stream_s:        an Infer stream that sends nothing and is owed nothing for this long is
                          ended (DEADLINE_EXCEEDED), so silent clients cannot hold the slots.
    unused_stream_grace_s: an Infer stream on which no sample has arrived this long after it
                          opened is ended (DEADLINE_EXCEEDED): strangers hold slots for seconds.
    health_calls:         health Check and Watch calls served at once, beside (never instead
                          of) the Infer streams; more are refused (RESOURCE_EXHAUSTED).
    wire:                 "columnar": announce the columnar form in Describe and read it;
                          "classic": neither (a node from before it), refusing columnar samples.
    """

    listen: str = DEFAULT_LISTEN
    backend: str = DEFAULT_BACKEND
    backend_options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    name: str | None = None
    workers: int = DEFAULT_WORKERS
    max_batch: int = DEFAULT_MAX_BATCH
    batch_timeout_us: int = DEFAULT_BATCH_TIMEOUT_US
    streams_limit: int = DEFAULT_STREAMS_LIMIT
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    max_inflight_bytes: int = DEFAULT_MAX_INFLIGHT_BYTES
    max_inflight_samples: int = DEFAULT_MAX_INFLIGHT_SAMPLES
    grace_s: float = DEFAULT_GRACE_S
    metrics_port: int | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_client_ca: str | None = None
    idle_stream_s: float = DEFAULT_IDLE_STREAM_S
    unused_stream_grace_s: float = DEFAULT_UNUSED_STREAM_GRACE_S
    health_calls: int = DEFAULT_HEALTH_CALLS
    wire: str = "columnar"

    def __post_init__(self) -> None:
        parse_listen(self.listen)
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"--metrics-port must be 0..65535, not {self.metrics_port}")
        if not self.backend:
            raise ConfigError("--backend must not be empty")
        if self.name is not None and not _NAME.fullmatch(self.name):
            raise ConfigError(
                f"--name {self.name!r} must be 1-128 characters of letters, digits and _.@:+-"
            )
        _within("--workers", self.workers, 1, MAX_WORKERS)
        _within("--max-batch", self.max_batch, 0, MAX_BATCH)
        _within("--batch-timeout-us", self.batch_timeout_us, 0, MAX_BATCH_TIMEOUT_US)
        if self.batch_timeout_us and not self.max_batch:
            raise ConfigError("--batch-timeout-us needs --max-batch N (N >= 1)")
        _within("--streams-limit", self.streams_limit, 1, MAX_STREAMS_LIMIT)
        _within("--max-message-bytes", self.max_message_bytes, 1024, MAX_MESSAGE_BYTES)
        _within("--max-inflight-bytes", self.max_inflight_bytes, 1024, 1 << 40)
        _at_least("max_inflight_samples", self.max_inflight_samples, 1)
        _seconds("--grace", self.grace_s, 0.0)
        _seconds("--idle-stream-timeout", self.idle_stream_s, 0.001)
        _seconds("--unused-stream-grace", self.unused_stream_grace_s, 0.001)
        _within("--health-calls", self.health_calls, 1, MAX_HEALTH_CALLS)
        if self.wire not in WIRES:
            raise ConfigError(f"--wire must be one of {', '.join(WIRES)}, not {self.wire!r}")
        check_tls_flags(self.tls_cert, self.tls_key, self.tls_client_ca)
        object.__setattr__(self, "backend_options", dict(self.backend_options))


def _within(label: str, value: int, minimum: int, maximum: int) -> None:
    _at_least(label, value, minimum)
    if value > maximum:
        raise ConfigError(f"{label} must be an integer in {minimum}..{maximum}, got {value!r}")


def _seconds(label: str, value: float, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < minimum
        or value > 86400 * 365
    ):
        raise ConfigError(f"{label} must be a number of seconds >= {minimum:g}, got {value!r}")


def _at_least(label: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{label} must be an integer >= {minimum}, got {value!r}")
