"""The QDL's knobs as explicit, frozen value objects with named defaults.

Each object checks its values when built, so a bad setting fails before any node is contacted.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._exceptions import CompressionError, ConfigError

COMPRESSIONS = ("none", "zstd")
"""Compression algorithm names, as given to ``CompressionConfig`` and ``lon-run --compression``."""

ZSTD_LEVELS = range(1, 23)
"""zstd levels accepted: 1 (fastest) to 22 (smallest)."""

BALANCE_POLICIES = ("least-outstanding", "prompt-tokens", "round-robin", "weighted")
"""Load-balancing policies; see ``qdl._balance`` for what each one does."""

FRAMINGS = ("opportunistic", "per-query")
"""How queued SampleBatches go on the wire: "opportunistic" sends everything queued for a stream
when its sender runs as one message (never waiting for more); "per-query" sends each alone."""
WIRES = ("auto", "columnar", "classic")
"""Which form of SampleBatch/ResponseBatch to speak (see sut_node.proto): "auto" the columnar
form with nodes that announce it and the classic one with the others; "columnar" requires every
node to announce it; "classic" never uses it (what a QDL before the columnar form did)."""
NODE_LOSS_POLICIES = ("fail", "redispatch")
"""What a lost node does to the run; see ``qdl._redispatch``."""


def _positive(owner: str, **values: float | None) -> None:
    for name, value in values.items():
        if value is not None and not value > 0:
            raise ConfigError(f"{owner}.{name} must be > 0, got {value!r}")


@dataclass(frozen=True)
class Timeouts:
    """How long each phase may take, in seconds, before the run ends with a QDLTimeout.

    connect:  reaching a node and getting its Describe answer at start.
    issue:    a full send queue (backpressure) sending nothing at all for this long.
    response: a node answering nothing while samples are outstanding on it: how a dead or stuck
              node is found, from progress, however long the run or the work queued on it.
    sample:   one sample still unanswered this long after its node answered a sample sent after
              it: a hung or dropped sample, named with its index (lon-run --sample-timeout).
              None: off (lon-run derives a default from the latency bound).
    drain:    closing: waiting for streams to end cleanly before cancelling them.
    flush:    a Flush RPC, which nodes answer at once (it is a hint, not a wait for the work
              queued); one that fails is noted, never a reason to fail the run.
    describe: each node's Describe when the LoadGen asks the SUT's name (at the start and for
              each summary); a node that does not answer in time is named in the name instead.
    """

    connect: float = 3.0
    issue: float = 30.0
    response: float = 60.0
    drain: float = 5.0
    flush: float = 10.0
    sample: float | None = None
    describe: float = 2.0

    def __post_init__(self) -> None:
        _positive(
            "Timeouts",
            connect=self.connect,
            issue=self.issue,
            response=self.response,
            drain=self.drain,
            flush=self.flush,
            sample=self.sample,
            describe=self.describe,
        )


@dataclass(frozen=True)
class Limits:
    """Sizes that bound memory and messages.

    max_message_bytes:       a SampleBatch is cut before it grows past this (a node's own,
                             smaller limit from Describe wins); one oversized sample travels
                             alone and fails if the node cannot accept it.
    max_samples_per_message: a SampleBatch holds at most this many samples, so a node can start
                             on the first part of a large query while the rest is in flight.
    max_queued_bytes:        bound of each stream's send queue; a full queue blocks issue_query
                             (backpressure) while the link drains it, and fails the run if it
                             sends nothing for ``Timeouts.issue``.
    """

    max_message_bytes: int = 4 * 1024 * 1024 - 64 * 1024
    max_samples_per_message: int = 256
    max_queued_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        _positive(
            "Limits",
            max_message_bytes=self.max_message_bytes,
            max_samples_per_message=self.max_samples_per_message,
            max_queued_bytes=self.max_queued_bytes,
        )


@dataclass(frozen=True)
class CompressionConfig:
    """How the QSL compresses samples at load time (untimed); the node decompresses (timed).

    algorithm: one of ``COMPRESSIONS``; level: the zstd level (ignored for "none").
    """

    algorithm: str = "none"
    level: int = 3

    def __post_init__(self) -> None:
        if self.algorithm not in COMPRESSIONS:
            raise CompressionError(
                f"unknown compression {self.algorithm!r}; expected one of {', '.join(COMPRESSIONS)}"
            )
        if self.algorithm == "zstd" and self.level not in ZSTD_LEVELS:
            raise CompressionError(
                f"zstd level must be {ZSTD_LEVELS.start}..{ZSTD_LEVELS.stop - 1}, got {self.level}"
            )


@dataclass(frozen=True)
class TlsConfig:
    """TLS to the nodes (lon-run --tls-ca, --tls-cert, --tls-key, --tls-server-name).

    ca:          PEM CA bundle the nodes' certificates must chain to.
    cert, key:   the client's certificate chain and private key, for nodes that require client
                 certificates (mutual TLS); both or neither.
    server_name: the name to check the nodes' certificates against instead of the host in each
                 node address (e.g. when nodes are dialled by IP and certified by name).
    """

    ca: str
    cert: str | None = None
    key: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("--tls-cert and --tls-key go together (give both or neither)")
        if self.server_name is not None and not self.server_name.strip():
            raise ConfigError("--tls-server-name must not be empty")


@dataclass(frozen=True)
class DispatchConfig:
    """How the QDL spreads samples over nodes.

    balance:          one of ``BALANCE_POLICIES``.
    streams_per_node: Infer streams opened to each node (more than one when a single stream
                      cannot fill the link).
    framing:          one of ``FRAMINGS`` (see ``qdl.transports._grpc``).
    tls:              ``TlsConfig`` for TLS/mTLS to every node, or None for plaintext.
    on_node_loss:     one of ``NODE_LOSS_POLICIES``: "fail" ends the run when a node is lost
                      (its stream broke, it went silent, it hung a sample); "redispatch" sends
                      what it owed to the remaining nodes and fails only when none is left.
    wire:             one of ``WIRES``.
    dispatch_workers: 0 runs the gRPC work in this process; N > 0 in N worker processes,
                      each serving a share of the nodes (see ``qdl.workers``).
    """

    balance: str = "least-outstanding"
    streams_per_node: int = 1
    timeouts: Timeouts = Timeouts()  # frozen: sharing the default is safe
    limits: Limits = Limits()
    framing: str = "opportunistic"
    tls: TlsConfig | None = None  # None: plaintext
    on_node_loss: str = "fail"
    wire: str = "auto"
    dispatch_workers: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.dispatch_workers, int) or self.dispatch_workers < 0:
            raise ConfigError(f"dispatch workers must be >= 0, got {self.dispatch_workers!r}")
        if self.wire not in WIRES:
            raise ConfigError(f"unknown wire {self.wire!r}; expected one of {', '.join(WIRES)}")
        if self.framing not in FRAMINGS:
            raise ConfigError(
                f"unknown framing {self.framing!r}; expected one of {', '.join(FRAMINGS)}"
            )
        if self.balance not in BALANCE_POLICIES:
            raise ConfigError(
                f"unknown balance policy {self.balance!r}; expected one of "
                f"{', '.join(BALANCE_POLICIES)}"
            )
        if self.on_node_loss not in NODE_LOSS_POLICIES:
            raise ConfigError(
                f"unknown node-loss policy {self.on_node_loss!r}; expected one of "
                f"{', '.join(NODE_LOSS_POLICIES)}"
            )
        if not isinstance(self.streams_per_node, int) or self.streams_per_node < 1:
            raise ConfigError(f"streams_per_node must be >= 1, got {self.streams_per_node!r}")


DEFAULT_TIMEOUTS = Timeouts()
DEFAULT_LIMITS = Limits()
NO_COMPRESSION = CompressionConfig()
DEFAULT_DISPATCH = DispatchConfig()
DEFAULT_PERFORMANCE_COUNT = 1024
"""A QSL's default performance sample count is min(total samples, this)."""
