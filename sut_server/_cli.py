"""``sut-server``: the command that runs one SUT node. Only argument parsing and signals live
here; ``run_server`` does the work.

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT), 2 for a bad flag, backend or backend
option (one error line, no traceback), 1 if the node cannot listen or fails while serving.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import NoReturn

from ._config import (
    DEFAULT_BACKEND,
    DEFAULT_GRACE_S,
    DEFAULT_HEALTH_CALLS,
    DEFAULT_IDLE_STREAM_S,
    DEFAULT_MAX_INFLIGHT_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_STREAMS_LIMIT,
    DEFAULT_UNUSED_STREAM_GRACE_S,
    DEFAULT_WORKERS,
    WIRES,
    NodeConfig,
)
from ._errors import BackendError, BindError, ConfigError
from ._server import _version as node_version
from ._server import run_server

PROG = "sut-server"
_REPEAT_WINDOW_S = 1.0

# Convenience flags: each sets the backend option of the same name (dashes become underscores).
BACKEND_FLAGS = {
    "--service-time-us": "synthetic: per-sample service time in microseconds",
    "--max-qps": "synthetic: throughput cap of the node in samples/s (0 = none)",
    "--output-bytes": "synthetic: size of each result in bytes",
    "--hidden": "numpy-mlp: hidden units",
    "--classes": "numpy-mlp: output classes",
    "--seed": "numpy-mlp: weight seed",
    "--ttft-ms": "synthetic-llm: time to first token in ms",
    "--tpot-ms": "synthetic-llm: time per further output token in ms",
    "--output-tokens": "synthetic-llm: tokens per answer",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Run one SUT node: serves the lon.v1.SutNode gRPC service and gRPC health.",
        epilog="Prints 'sut-server ready: name=<name> listen=<host>:<port> backend=<backend>' "
        "on stdout once serving. SIGTERM/SIGINT stop it gracefully.",
    )
    parser.add_argument("--listen", required=True, metavar="HOST:PORT", help="port 0 = any free")
    parser.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        metavar="NAME",
        help="echo, synthetic, numpy-mlp, synthetic-llm, onnx, or module:Class "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--backend-opt",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an option for the backend (repeatable)",
    )
    parser.add_argument("--name", help="node name (default: <hostname>-<port>)")
    parser.add_argument(
        "--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
        help="backend worker threads (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-batch",
        type=int,
        default=0,
        metavar="N",
        help="regroup samples of all streams into backend batches of up to N (0 = one batch "
        "per received message)",
    )
    parser.add_argument(
        "--batch-timeout-us",
        type=int,
        default=0,
        metavar="T",
        help="with --max-batch: longest a sample waits for its batch to fill",
    )
    parser.add_argument(
        "--streams-limit", type=int, default=DEFAULT_STREAMS_LIMIT, metavar="N",
        help="Infer streams served at once (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-message-bytes", type=int, default=DEFAULT_MAX_MESSAGE_BYTES, metavar="N",
        help="largest SampleBatch accepted (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-inflight-bytes", type=int, default=DEFAULT_MAX_INFLIGHT_BYTES, metavar="N",
        help="received-but-unanswered bytes (wire plus declared decoded size) before the node "
        "stops reading; a message that alone declares more is answered with errors, never "
        "decoded (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--grace", type=float, default=DEFAULT_GRACE_S, metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long in-flight work may take (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--metrics-port", type=int, metavar="N",
        help="serve Prometheus metrics at http://HOST:N/metrics, HOST from --listen (0: any free "
        "port; the URL is printed on stderr)",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"{PROG} {node_version()}")
    parser.add_argument(
        "--idle-stream-timeout", type=float, default=DEFAULT_IDLE_STREAM_S, metavar="SECONDS",
        help="end an Infer stream that sends nothing and is owed nothing for this long "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--unused-stream-grace", type=float, default=DEFAULT_UNUSED_STREAM_GRACE_S,
        metavar="SECONDS", help="end an Infer stream on which no sample has arrived this long "
        "after it opened (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--health-calls", type=int, default=DEFAULT_HEALTH_CALLS, metavar="N",
        help="health Check/Watch calls served at once, apart from the Infer streams' budget "
        "(default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--wire", default="columnar", metavar="|".join(WIRES),
        help="columnar: announce and read the columnar SampleBatch form; classic: neither, as a "
        "node from before it (default: %(default)s)",
    )  # fmt: skip
    tls = parser.add_argument_group("TLS (default: plaintext)")
    tls.add_argument("--tls-cert", metavar="PEM", help="the node's certificate chain")
    tls.add_argument("--tls-key", metavar="PEM", help="the node's private key")
    tls.add_argument(
        "--tls-client-ca",
        metavar="PEM",
        help="require client certificates signed by this CA (mutual TLS)",
    )
    group = parser.add_argument_group("backend convenience flags (same as --backend-opt)")
    for flag, text in BACKEND_FLAGS.items():
        group.add_argument(flag, metavar="VALUE", help=text)
    return parser


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The NodeConfig the parsed flags describe; ConfigError for malformed values."""
    options: dict[str, str] = {}
    for item in args.backend_opt:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise ConfigError(f"--backend-opt {item!r} is not KEY=VALUE")
        if key in options:
            raise ConfigError(f"backend option {key} is given twice")
        options[key] = value
    for flag in BACKEND_FLAGS:
        key = flag[2:].replace("-", "_")
        value = getattr(args, key)
        if value is not None:
            if key in options:
                raise ConfigError(f"backend option {key} is given twice ({flag} and --backend-opt)")
            options[key] = value
    return NodeConfig(
        listen=args.listen,
        backend=args.backend,
        backend_options=options,
        name=args.name,
        workers=args.workers,
        max_batch=args.max_batch,
        batch_timeout_us=args.batch_timeout_us,
        streams_limit=args.streams_limit,
        max_message_bytes=args.max_message_bytes,
        max_inflight_bytes=args.max_inflight_bytes,
        grace_s=args.grace,
        metrics_port=args.metrics_port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        idle_stream_s=args.idle_stream_timeout,
        unused_stream_grace_s=args.unused_stream_grace,
        health_calls=args.health_calls,
        wire=args.wire,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        return _fail(exc, 2)

    stop = threading.Event()
    first_signal_at: list[float] = []

    def on_signal(signum: int, frame: object) -> None:
        # A second signal forces an exit, unless it is the same stop sent twice at once (e.g. to
        # the process group and to the process).
        if first_signal_at and time.monotonic() - first_signal_at[0] > _REPEAT_WINDOW_S:
            print(f"{PROG}: second signal, exiting without draining", file=sys.stderr, flush=True)
            os._exit(1)
        if not first_signal_at:
            first_signal_at.append(time.monotonic())
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        try:
            server = run_server(config)
        except (BackendError, ConfigError) as exc:
            return _fail(exc, 2)
        except BindError as exc:
            return _fail(exc, 1)
        if server.metrics is not None:
            print(f"{PROG}: metrics at {server.metrics.url}", file=sys.stderr, flush=True)
        try:
            print(server.ready_line(), flush=True)
        except BrokenPipeError:
            pass  # nobody reads stdout any more; keep serving
        while not stop.wait(0.5):
            pass
        print(f"{PROG}: stopping {server.name} (grace {config.grace_s:g} s)", file=sys.stderr)
        try:
            server.stop(config.grace_s)
        except RuntimeError as exc:
            return _fail(exc, 1)
        stats = server.statistics()
        print(
            f"{PROG}: stopped {server.name}: {stats.samples_answered} samples answered, "
            f"{stats.samples_cancelled} cancelled, {stats.samples_refused} refused",
            file=sys.stderr,
            flush=True,
        )
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fail(exc: Exception, code: int) -> int:
    print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
    return code
