"""``python -m sut_server.probe HOST:PORT``: is that node serving? Asks its gRPC health service.

For what cannot speak gRPC health itself: a container's HEALTHCHECK, a systemd ``ExecStartPost``
that holds ``systemctl start`` until the node serves (``--wait``), a shell script. Kubernetes
needs none of it: its gRPC probes ask the same service.

Prints one line, ``HOST:PORT: SERVING`` (or the status, or why it could not ask), and exits 0
when the node serves, 1 when it does not (or is not reachable), 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import NoReturn

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ._servicer import SERVICE_NAME

PROG = "python -m sut_server.probe"
SERVING = health_pb2.HealthCheckResponse.SERVING


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Exit 0 if the SUT node at HOST:PORT is serving.")
    p.add_argument("address", metavar="HOST:PORT")
    p.add_argument(
        "--service",
        default=SERVICE_NAME,
        help="the health service name to ask about (default: %(default)s; '' = the server)",
    )
    p.add_argument(
        "--timeout", type=float, default=3.0, metavar="SECONDS", help="per check (default: 3)"
    )
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="keep asking until the node serves or this long has passed (default: ask once)",
    )
    return p


def check(address: str, service: str, timeout: float) -> str:
    """The node's health status name, or why it could not be asked."""
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            # Not wait_for_ready: a refused connection is UNAVAILABLE at once, and says so.
            reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        except grpc.RpcError as exc:
            return f"{exc.code().name} ({exc.details()})"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not (args.timeout > 0 and args.wait >= 0):
        build_parser().error("--timeout must be > 0 and --wait >= 0")
    deadline = time.monotonic() + args.wait
    while True:
        status = check(args.address, args.service, args.timeout)
        if status == "SERVING" or time.monotonic() >= deadline:
            break
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
    print(f"{args.address}: {status}", flush=True)
    return 0 if status == "SERVING" else 1


if __name__ == "__main__":
    sys.exit(main())
