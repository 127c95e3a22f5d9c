"""What mutual TLS costs: Server max VALID QPS (p99 <= 10 ms) over two echo nodes, plaintext
and mTLS, climbed on the same ladder in one run, plus the time to connect (TCP + handshake +
Describe) to one node and the CPU time per sample at a fixed rate, each way.

    .venv/bin/python benchmarks/mtls_qps.py [--repeats 3] [--duration-ms 3000]

Certificates are made for the run with the ``cryptography`` package (tests/certificates.py), an
EC P-256 CA signing the node's and the client's certificates.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from _net_runs import run_network, server_settings, synthetic_qsl  # noqa: E402

from lon._nodes import running_nodes, sut_server_command  # noqa: E402
from qdl import GrpcTransport, TlsConfig  # noqa: E402
from tests.certificates import make_certificates  # noqa: E402

LADDER = [1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_500, 15_000, 17_500, 20_000, 25_000, 30_000]


def climb(addresses, pids, tls, repeats, duration_ms):  # type: ignore[no-untyped-def]
    """The highest rung where most runs are VALID."""
    qsl = synthetic_qsl("256:uint8:1024")
    best = 0
    for qps in LADDER:
        # Enough queries for early stopping to pass at the p99 (about 4000), however low the rate.
        duration = max(duration_ms, int(4000 / qps * 1000))
        runs = [
            run_network(addresses, qsl, server_settings(qps, duration), 1, pids, tls=tls)
            for _ in range(repeats)
        ]
        votes = sum(r.valid for r in runs)
        p99 = [r.result.samples.target / 1e6 for r in runs]
        label = "mTLS" if tls else "plaintext"
        print(f"  {label:9} {qps:>6,} QPS: {votes}/{repeats} VALID, p99 max {max(p99):.2f} ms",
              flush=True)  # fmt: skip
        if votes * 2 <= repeats:
            break
        best = qps
    if best == LADDER[-1]:
        print(f"  the ladder's top rung ({best:,} QPS) passed: the maximum is higher", flush=True)
    return best


def cpu_per_sample(addresses, pids, tls, qps: int, duration_ms: int):  # type: ignore[no-untyped-def]
    """CPU microseconds per sample, client and nodes, at a fixed rate: what encryption costs,
    and far less sensitive than latency to other work on a shared machine."""
    qsl = synthetic_qsl("256:uint8:1024")
    r = run_network(addresses, qsl, server_settings(qps, duration_ms), 1, pids, tls=tls)
    return r.cpu_s[0] / r.samples * 1e6, sum(r.cpu_s[1:]) / r.samples * 1e6


def connect_ms(address: str, tls: TlsConfig | None, count: int = 20) -> float:
    times = []
    for _ in range(count):
        transport = GrpcTransport(address, tls=tls)
        start = time.perf_counter()
        transport.connect()
        times.append((time.perf_counter() - start) * 1e3)
        transport.close()
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration-ms", type=int, default=3000)
    parser.add_argument("--cpu-qps", type=int, default=500)
    args = parser.parse_args()
    certs = make_certificates(Path(tempfile.mkdtemp(prefix="mtls-")))
    tls = TlsConfig(certs.ca, certs.client_cert, certs.client_key)
    secure = ["--tls-cert", certs.node_cert, "--tls-key", certs.node_key,
              "--tls-client-ca", certs.ca]  # fmt: skip
    results = {}
    for label, flags, client in (("plaintext", [], None), ("mTLS", secure, tls)):
        commands = [sut_server_command("echo", extra=["--name", f"n{i}", *flags]) for i in (0, 1)]
        with running_nodes(commands) as nodes:
            addresses = [n.address for n in nodes]
            pids = [n.process.pid for n in nodes]
            connect = connect_ms(addresses[0], client)
            cpu = cpu_per_sample(addresses, pids, client, args.cpu_qps, 8000)
            best = climb(addresses, pids, client, args.repeats, args.duration_ms)
            results[label] = (best, connect, cpu)
    print()
    print(
        "| transport | Server max VALID QPS (p99 <= 10 ms) | connect + Describe, median | "
        f"CPU per sample at {args.cpu_qps} QPS (client / nodes) |"
    )
    print("|---|---|---|---|")
    for label, (best, connect, (client_us, nodes_us)) in results.items():
        print(f"| {label} | {best:,} | {connect:.2f} ms | {client_us:.0f} us / {nodes_us:.0f} us |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
