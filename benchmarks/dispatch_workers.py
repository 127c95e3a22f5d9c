"""Dispatch workers: the network path with its gRPC work in 0 (lon-run's own process), 1, 2 and
4 worker processes, against ``--nodes`` echo ``sut-server`` nodes on 127.0.0.1 (default 2; a
worker serves one node at least, so there are never more workers than nodes).

Every figure is the median of ``--repeats`` runs, the worker counts taking turns within each
repeat so that a busy machine weighs on all alike. Per process and per sample it prints the CPU
of the LoadGen process, of the workers together and of the nodes together: on a host with
more cores than these processes the rate is bounded by the busiest of them, and the last table
projects that bound (1 s of CPU / its CPU per sample). On a machine with fewer cores than
processes the measured rates say more about the scheduler than about the workers.

1. Server at ``--steady-qps`` (5,000 and 10,000): VALID, latency p99, the LoadGen's issue delay
   p99, CPU per sample, and how long responses waited in the completion rings (p50/p99).
2. Server: the highest ``server_target_qps`` on a ladder whose run is VALID with p99 <= 10 ms.
3. Offline, 256 B and 150 KB samples: samples/s and CPU per sample.

    python benchmarks/dispatch_workers.py [--quick] [--repeats N] [--nodes N] [--workers N ...]
                                          [--steady-qps Q ...] [--only SECTION ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

import numpy as np  # noqa: E402
from _net_runs import (  # noqa: E402
    RunResult,
    offline_settings,
    run_network,
    server_settings,
    synthetic_qsl,
)

from lon._nodes import running_nodes, sut_server_command  # noqa: E402

SMALL = "256:uint8:1024"
LARGE = "50000x3:uint8:1024"  # 150,000-byte samples
LADDER = (2_500, 5_000, 7_500, 10_000, 12_500, 15_000, 17_500, 20_000, 25_000)
SECTIONS = ("steady", "server", "offline")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def per_sample_us(runs: Sequence[RunResult], cpu: Callable[[RunResult], float]) -> float:
    return median([cpu(r) / r.samples * 1e6 for r in runs if r.samples])


def main_cpu(r: RunResult) -> float:
    return r.cpu_s[0]


def nodes_cpu(r: RunResult) -> float:
    return sum(r.cpu_s[1:])


def workers_cpu(r: RunResult) -> float:
    return r.workers_cpu_s


def in_turns(
    workers: Sequence[int], repeats: int, run: Callable[[int], RunResult]
) -> dict[int, list[RunResult]]:
    out: dict[int, list[RunResult]] = {w: [] for w in workers}
    for _ in range(repeats):
        for w in workers:
            out[w].append(run(w))
    return out


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    print(f"\n{title}\n")
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*row))
    sys.stdout.flush()


def steady(addresses: list[str], pids: list[int], args: argparse.Namespace) -> None:
    qsl = synthetic_qsl(SMALL)
    for qps in args.steady_qps:
        settings = server_settings(qps, args.duration_ms)
        runs = in_turns(
            args.workers,
            args.repeats,
            lambda w, q=qsl, s=settings: run_network(addresses, q, s, 1, pids, workers=w),
        )
        rows = []
        for w, rs in runs.items():
            rows.append(
                (
                    str(w),
                    f"{sum(r.valid for r in rs)}/{len(rs)}",
                    f"{median([r.result.samples.target / 1e6 for r in rs]):.2f}",
                    f"{median([float(np.percentile(r.issue_delay_ns, 99)) / 1e3 for r in rs]):.0f}",
                    f"{per_sample_us(rs, main_cpu):.1f}",
                    f"{per_sample_us(rs, workers_cpu):.1f}" if w else "-",
                    f"{per_sample_us(rs, lambda r: main_cpu(r) + workers_cpu(r)):.1f}",
                    f"{per_sample_us(rs, nodes_cpu):.1f}",
                    (
                        f"{median([r.ring_delay_ns[0] / 1e3 for r in rs]):.0f}/"
                        f"{median([r.ring_delay_ns[1] / 1e3 for r in rs]):.0f}"
                        if w
                        else "-"
                    ),
                )
            )
        print_table(
            f"Server at {qps:,.0f} QPS, {args.duration_ms / 1000:g} s runs (CPU in us per sample)",
            ("workers", "VALID", "p99 ms", "issue delay p99 us", "LoadGen proc",
             "workers", "lon-run total", "nodes", "ring wait p50/p99 us"),
            rows,
        )  # fmt: skip


def server(addresses: list[str], pids: list[int], args: argparse.Namespace) -> None:
    qsl = synthetic_qsl(SMALL)
    best = {w: 0.0 for w in args.workers}
    climbing = list(args.workers)
    for qps in LADDER:
        if not climbing:
            break
        settings = server_settings(qps, args.rung_ms)
        runs = in_turns(
            climbing,
            args.repeats,
            lambda w, q=qsl, s=settings: run_network(addresses, q, s, 1, pids, workers=w),
        )
        for w, rs in runs.items():
            votes = sum(r.valid for r in rs)
            print(f"    [{w} workers] Server {qps:,} QPS: {votes}/{len(rs)} VALID", flush=True)
            if votes * 2 > len(rs):
                best[w] = qps
            else:
                climbing.remove(w)
    print_table(
        "Server max VALID QPS (p99 <= 10 ms)",
        ("workers", "max VALID QPS"),
        [(str(w), f"{q:,.0f}") for w, q in best.items()],
    )


def offline(addresses: list[str], pids: list[int], args: argparse.Namespace) -> None:
    rows = []
    for spec, name, expected in ((SMALL, "256 B", 50_000), (LARGE, "150 KB", 2_000)):
        qsl = synthetic_qsl(spec, performance_count=256)
        settings = offline_settings(expected, args.duration_ms)
        runs = in_turns(
            args.workers,
            args.repeats,
            lambda w, q=qsl, s=settings: run_network(addresses, q, s, 1, pids, workers=w),
        )
        for w, rs in runs.items():
            rate = median([r.samples / r.elapsed_s for r in rs])
            rows.append(
                (
                    name,
                    str(w),
                    f"{rate:,.0f}",
                    f"{per_sample_us(rs, main_cpu):.1f}",
                    f"{per_sample_us(rs, workers_cpu):.1f}" if w else "-",
                    f"{per_sample_us(rs, nodes_cpu):.1f}",
                )
            )
    print_table(
        "Offline (CPU in us per sample)",
        ("samples", "workers", "samples/s", "LoadGen proc", "workers", "nodes"),
        rows,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="one short run per figure")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--nodes", type=int, default=2, help="echo nodes to start")
    parser.add_argument("--steady-qps", type=float, nargs="+", default=[5_000.0, 10_000.0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="sections to run (all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if args.repeats < 1 or args.nodes < 1 or any(w < 0 for w in args.workers):
        parser.error("--repeats and --nodes must be >= 1, --workers >= 0")
    capped = sorted({min(w, args.nodes) for w in args.workers})
    if len(capped) < len(args.workers):
        print(f"(with {args.nodes} nodes, {args.workers} workers run as {capped})")
        args.workers = capped
    args.duration_ms = 3_000 if args.quick else 5_000
    args.rung_ms = 2_000 if args.quick else 3_000
    sections = args.only or SECTIONS
    start, load = time.monotonic(), os.getloadavg()[0]
    commands = [
        sut_server_command("echo", "127.0.0.1:0", ("--name", f"echo-{i}"))
        for i in range(args.nodes)
    ]
    with running_nodes(commands) as nodes:
        addresses = [n.address for n in nodes]
        pids = [n.process.pid for n in nodes]
        print(
            f"{len(addresses)} echo nodes at {', '.join(addresses)}; workers {args.workers}",
            flush=True,
        )
        for section in SECTIONS:
            if section in sections:
                globals()[section](addresses, pids, args)
    print(
        f"\n{os.cpu_count()} CPUs, load average {load:.1f} before / {os.getloadavg()[0]:.1f} "
        f"after; median of {args.repeats} run(s); {time.monotonic() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
