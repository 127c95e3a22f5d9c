"""The network path end to end: our LoadGen -> QDL -> gRPC -> two echo ``sut-server`` nodes.

Two ``sut-server --backend echo`` processes are started on 127.0.0.1 and driven through
``QueryDispatchLibrary.over_grpc`` by our LoadGen (``loadgen.run_test``), as ``lon-run`` does.
Every figure is the median of ``--repeats`` runs; the machine may be small and shared, so the
spread (min..max) is printed beside it, and the ratios (measured side by side in one run) are
what to compare across machines. Rows come for both ``--framing`` modes: "opportunistic"
(a stream sends what is queued for it as one message) and "per-query" (one query per message),
and for each ``--wire`` form (default: "auto", the columnar form where it pays, and "classic", a
protobuf sub-message per sample); sections 1 and 2 run the modes' repeats in turns, so that a busy
machine weighs on every mode alike.

1. Server: the highest ``server_target_qps`` whose run is VALID with p99 <= 10 ms (a ladder of
   short runs, a rung counts as VALID when most of its repeats are), with the issue delay, the
   CPU per sample (this process, and the nodes) and the samples-per-message distribution at
   that rate; beside it the bare grpcio echo rate, one message per 256 B sample, 64 in flight
   (``_bare_grpc.py``: no protobuf, no QDL), and the ratio of the two.
2. At 5,000 QPS: the LoadGen's issue delay p99 (actual - scheduled issue) and latency p99,
   beside the issue delay and CPU of the same schedule into an in-process null SUT: the floor
   the machine itself sets.
3. Memory: this process's RSS growth per sample over one Server run at 5,000 QPS of
   ``--soak-s`` seconds (300 unless --quick), measured from 20 % into the run to its end.
4. Offline, 150 KB samples: payload bytes/s (both directions: the echo node sends every
   payload back) next to the bare grpcio 150 KB echo (8 in flight) and one plain TCP stream
   carrying the same number of bytes.
5. SingleStream, 256 B samples: LoadGen latency p50/p90 with the echo nodes, and the same run
   against an in-process null SUT; the difference is what the network path adds.
6. zstd vs none, Offline, 150 KB samples of low-entropy (image-like) and random data: bytes
   sent to the nodes per sample and samples/s (skipped with --quick).
7. Offline, 256 B samples (messages of 256 samples, where the columnar form is used): samples/s
   and the CPU per sample of this process and of the nodes, each ``--wire`` form in turns.

    python benchmarks/network.py [--quick] [--repeats N] [--streams N] [--soak-s S]
                                 [--framing MODE ...] [--wire FORM ...] [--only SECTION ...]
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
from _bare_grpc import echo_messages_per_second  # noqa: E402
from _net_runs import (  # noqa: E402
    RunResult,
    offline_settings,
    run_network,
    run_null,
    server_settings,
    single_stream_settings,
    synthetic_qsl,
)
from _raw_tcp import tcp_bytes_per_second  # noqa: E402

from lon._nodes import running_nodes, sut_server_command  # noqa: E402

SMALL = "256:uint8:1024"
LARGE = "50000x3:uint8:1024"  # 150,000-byte samples
LARGE_BYTES = 150_000
PERFORMANCE_COUNT = 256  # large samples held in RAM (38 MB)
SMALL_BYTES = 256
SERVER_GOAL = 20_000.0
SERVER_BARE_RATIO_GOAL = 2.5
ISSUE_DELAY_GOAL_US = 200.0
LATENCY_GOAL_MS = 2.0
STEADY_QPS = 5_000.0
RSS_GOAL_BYTES = 64.0
OFFLINE_BARE_RATIO_GOAL = 1.5
P90_GOAL_MS = 1.0
FRAMINGS = ("opportunistic", "per-query")
WIRES = ("auto", "classic", "columnar")
"""lon-run --wire: "auto" (the default) sends columns for large units and answers of several
results, "columnar" every unit (one-sample blocks included), "classic" never."""
Mode = tuple[str, str]
"""(framing, wire)."""
SECTIONS = (
    "server", "steady", "memory", "offline", "single-stream", "compression", "offline-small"
)  # fmt: skip


class Table:
    """Rows of (metric, value, goal, met?) printed at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, metric: str, value: str, goal: str = "", met: bool | None = None) -> None:
        self.rows.append((metric, value, goal, "" if met is None else ("yes" if met else "NO")))
        print(f"  {metric}: {value}", flush=True)

    def print(self, title: str) -> None:
        widths = [
            max(len(r[i]) for r in [("metric", "value", "goal", "met?"), *self.rows])
            for i in range(4)
        ]
        line = "  ".join(f"{{:{w}}}" for w in widths)
        print(f"\n{title}\n")
        print(line.format("metric", "value", "goal", "met?"))
        print("  ".join("-" * w for w in widths))
        for row in self.rows:
            print(line.format(*row))


def spread(values: Sequence[float], fmt: str) -> str:
    """``median (min..max)`` of ``values``, or just the value for a single run."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} ({fmt.format(min(values))}..{fmt.format(max(values))})"


def repeat(n: int, run: Callable[[], RunResult]) -> list[RunResult]:
    return [run() for _ in range(n)]


def histogram_text(counts: dict[int, int]) -> str:
    """Samples per message: mean, max and the share of messages in power-of-two buckets."""
    messages = sum(counts.values())
    if not messages:
        return "-"
    samples = sum(n * c for n, c in counts.items())
    buckets: dict[str, int] = {}
    for n, c in sorted(counts.items()):
        low = 1 << max(0, n.bit_length() - 1)
        key = str(low) if low == 1 else f"{low}-{2 * low - 1}"
        buckets[key] = buckets.get(key, 0) + c
    shares = ", ".join(f"{k}: {c / messages:.0%}" for k, c in buckets.items())
    return f"mean {samples / messages:.2f}, max {max(counts)} ({shares})"


def median_histogram(runs: Sequence[RunResult]) -> dict[int, int]:
    """The histogram of the run with the median mean (one real run, not a blend)."""

    def mean(r: RunResult) -> float:
        m = sum(r.samples_per_message.values())
        return sum(n * c for n, c in r.samples_per_message.items()) / m if m else 0.0

    ordered = sorted(runs, key=mean)
    return ordered[len(ordered) // 2].samples_per_message


# --- 1. Server --------------------------------------------------------------------------------


def modes(args: argparse.Namespace) -> list[Mode]:
    return [(framing, wire) for framing in args.framing for wire in args.wire]


def label(mode: Mode) -> str:
    return f"{mode[0]}, {mode[1]}"


def in_turns(
    todo: Sequence[Mode], repeats: int, run: Callable[[Mode], RunResult]
) -> dict[Mode, list[RunResult]]:
    """``repeats`` runs of each mode, the modes taking turns."""
    out: dict[Mode, list[RunResult]] = {m: [] for m in todo}
    for _ in range(repeats):
        for mode in todo:
            out[mode].append(run(mode))
    return out


def server_search(
    addresses: Sequence[str],
    pids: Sequence[int],
    ladder: Sequence[float],
    args: argparse.Namespace,
    duration_ms: int,
) -> dict[Mode, tuple[float, list[RunResult]]]:
    """Climb ``ladder`` while most of a rung's runs are VALID, every mode still climbing taking
    turns on each rung; each mode's best rung and its runs."""
    qsl = synthetic_qsl(SMALL)
    best: dict[Mode, tuple[float, list[RunResult]]] = {m: (0.0, []) for m in modes(args)}
    climbing = list(best)
    for qps in ladder:
        if not climbing:
            break
        settings = server_settings(qps, duration_ms)
        rung = in_turns(
            climbing,
            args.repeats,
            lambda m, s=settings: run_network(
                addresses, qsl, s, args.streams, pids, m[0], wire=m[1]
            ),
        )
        for mode, runs in rung.items():
            p99 = [r.result.samples.target / 1e6 for r in runs]
            votes = sum(r.valid for r in runs)
            print(
                f"    [{label(mode)}] Server {qps:,.0f} QPS: {votes}/{args.repeats} VALID, "
                f"p99 {spread(p99, '{:.2f}')} ms, samples/message "
                f"{histogram_text(median_histogram(runs))}",
                flush=True,
            )
            if votes * 2 <= args.repeats:
                climbing.remove(mode)
            else:
                best[mode] = (qps, runs)
    return best


def cpu_rows(table: Table, label: str, runs: Sequence[RunResult]) -> None:
    client = statistics.median(r.cpu_s[0] / r.samples * 1e6 for r in runs)
    nodes = statistics.median(sum(r.cpu_s[1:]) / r.samples * 1e6 for r in runs)
    table.add(f"  CPU per sample {label}", f"client {client:.1f} us, nodes {nodes:.1f} us")


def measure_server(
    table: Table, addresses: Sequence[str], pids: Sequence[int], args: argparse.Namespace
) -> None:
    print("Server: highest VALID target QPS at p99 <= 10 ms", flush=True)
    ladder = [2_500, 5_000, 7_500, 10_000, 12_500, 15_000, 17_500, 20_000, 25_000, 30_000, 40_000]
    if args.quick:
        ladder = [2_500, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000]
    duration = 1_500 if args.quick else 3_000
    count = 5_000 if args.quick else 20_000
    bare = [echo_messages_per_second(SMALL_BYTES, count, 64) for _ in range(args.repeats)]
    bare_rate = statistics.median(bare)
    table.add(
        "bare grpcio echo, 1 stream, 256 B, 1 sample/message, 64 in flight",
        spread(bare, "{:,.0f}") + " msg/s",
    )
    found = server_search(addresses, pids, ladder, args, duration)
    for mode, (best, runs) in found.items():
        goal = mode[0] == "opportunistic"
        table.add(
            f"[{label(mode)}] Server max VALID QPS, p99 <= 10 ms",
            f"{best:,.0f}",
            f">= {SERVER_GOAL:,.0f}" if goal else "",
            best >= SERVER_GOAL if goal else None,
        )
        ratio = best / bare_rate
        table.add(
            f"[{label(mode)}] Server max VALID QPS / bare grpcio msg/s",
            f"{ratio:.2f}x",
            f">= {SERVER_BARE_RATIO_GOAL}x" if goal else "",
            ratio >= SERVER_BARE_RATIO_GOAL if goal else None,
        )
        if not runs:
            continue
        at = f"at {best:,.0f} QPS"
        lat = [r.result.samples.target / 1e6 for r in runs]
        p99 = [float(np.percentile(r.issue_delay_ns, 99)) / 1e3 for r in runs]
        table.add(f"  latency p99 {at}", spread(lat, "{:.2f}") + " ms", "<= 10 ms")
        table.add(f"  issue delay p99 {at}", spread(p99, "{:.0f}") + " us")
        cpu_rows(table, at, runs)
        table.add(f"  samples per SampleBatch {at}", histogram_text(median_histogram(runs)))


# --- 2. 5,000 QPS -----------------------------------------------------------------------------


def measure_steady(
    table: Table, addresses: Sequence[str], pids: Sequence[int], args: argparse.Namespace
) -> None:
    print(f"Server at {STEADY_QPS:,.0f} QPS: issue delay and latency", flush=True)
    qsl = synthetic_qsl(SMALL)
    duration = 2_000 if args.quick else 5_000
    # The floor this machine sets: the same schedule into an in-process null SUT (no QDL).
    null = []
    for _ in range(args.repeats):
        cpu0 = os.times()
        run = run_null(qsl, server_settings(STEADY_QPS, duration))
        cpu1 = os.times()
        null.append((run, (cpu1.user + cpu1.system - cpu0.user - cpu0.system)))
    table.add(
        f"null SUT issue delay p99 at {STEADY_QPS:,.0f} QPS (the LoadGen alone)",
        spread([float(np.percentile(r.issue_delay_ns, 99)) / 1e3 for r, _ in null], "{:.0f}")
        + " us",
    )
    table.add(
        f"  null SUT CPU per sample at {STEADY_QPS:,.0f} QPS",
        f"{statistics.median(c / len(r.issue_delay_ns) * 1e6 for r, c in null):.0f} us",
    )
    settings = server_settings(STEADY_QPS, duration)
    found = in_turns(
        modes(args),
        args.repeats,
        lambda m: run_network(addresses, qsl, settings, args.streams, pids, m[0], wire=m[1]),
    )
    for mode, runs in found.items():
        delay = [float(np.percentile(r.issue_delay_ns, 99)) / 1e3 for r in runs]
        lat = [r.result.samples.target / 1e6 for r in runs]
        at = f"at {STEADY_QPS:,.0f} QPS"
        table.add(
            f"[{label(mode)}] issue delay p99 {at}",
            spread(delay, "{:.0f}") + " us",
            f"<= {ISSUE_DELAY_GOAL_US:.0f} us",
            statistics.median(delay) <= ISSUE_DELAY_GOAL_US,
        )
        table.add(
            f"[{label(mode)}] latency p99 {at}",
            spread(lat, "{:.2f}") + " ms",
            f"<= {LATENCY_GOAL_MS:g} ms",
            statistics.median(lat) <= LATENCY_GOAL_MS,
        )
        cpu_rows(table, at, runs)
        table.add(f"  samples per SampleBatch {at}", histogram_text(median_histogram(runs)))


# --- 3. memory --------------------------------------------------------------------------------


def measure_memory(
    table: Table, addresses: Sequence[str], pids: Sequence[int], args: argparse.Namespace
) -> None:
    soak = args.soak_s if args.soak_s is not None else (20 if args.quick else 300)
    print(f"Memory: RSS growth over a {soak} s Server run at {STEADY_QPS:,.0f} QPS", flush=True)
    qsl = synthetic_qsl(SMALL)
    settings = server_settings(STEADY_QPS, soak * 1000)
    mode = modes(args)[0]
    run = run_network(addresses, qsl, settings, args.streams, pids, mode[0], True, wire=mode[1])
    growth = run.rss_growth_per_sample
    table.add(
        f"[{label(mode)}] RSS growth per sample, {soak} s at {STEADY_QPS:,.0f} QPS "
        f"({run.samples:,} samples)",
        "-" if growth is None else f"{growth:.1f} B",
        f"<= {RSS_GOAL_BYTES:.0f} B",
        growth is not None and growth <= RSS_GOAL_BYTES,
    )
    whole = run.rss_whole_run_per_sample
    table.add(
        "  RSS growth per sample from before the test (LoadGen's schedule included)",
        "-" if whole is None else f"{whole:.1f} B",
    )


# --- 4. Offline throughput --------------------------------------------------------------------


def offline_runs(
    addresses: Sequence[str],
    args: argparse.Namespace,
    spec: str,
    compression: str,
    data: str,
    framing: str = "opportunistic",
    wire: str = "auto",
) -> list[RunResult]:
    qsl = synthetic_qsl(spec, compression, data, PERFORMANCE_COUNT)
    duration = 1_000 if args.quick else 2_500
    settings = offline_settings(4_000, duration)
    return repeat(
        args.repeats,
        lambda: run_network(addresses, qsl, settings, args.streams, (), framing, wire=wire),
    )


def measure_offline(table: Table, addresses: Sequence[str], args: argparse.Namespace) -> None:
    print("Offline: 150 KB samples vs bare grpcio and one raw TCP stream", flush=True)
    count = 500 if args.quick else 2_000
    bare = [
        2 * LARGE_BYTES * echo_messages_per_second(LARGE_BYTES, count, 8)
        for _ in range(args.repeats)
    ]
    table.add(
        "bare grpcio echo, 1 stream, 150 KB, 8 in flight: MB/s both ways",
        spread([b / 1e6 for b in bare], "{:,.0f}"),
    )
    total = 0
    for mode in modes(args):
        framing = label(mode)
        runs = offline_runs(addresses, args, LARGE, "none", "random", mode[0], mode[1])
        rates = [r.result.samples_per_second for r in runs]
        both = [2 * LARGE_BYTES * rate for rate in rates]
        total = total or int(statistics.median(2 * LARGE_BYTES * r.samples for r in runs))
        ratio = statistics.median(both) / statistics.median(bare)
        goal = mode[0] == "opportunistic"
        table.add(f"[{framing}] Offline 150 KB samples/s", spread(rates, "{:,.0f}"))
        table.add(
            f"[{framing}] Offline payload MB/s, both directions",
            spread([b / 1e6 for b in both], "{:,.0f}"),
        )
        table.add(
            f"[{framing}] Offline payload / bare grpcio 150 KB echo",
            f"{ratio:.2f}x",
            f">= {OFFLINE_BARE_RATIO_GOAL}x" if goal else "",
            ratio >= OFFLINE_BARE_RATIO_GOAL if goal else None,
        )
        table.add(f"  samples per SampleBatch [{framing}]", histogram_text(median_histogram(runs)))
    raw = [tcp_bytes_per_second(total) for _ in range(args.repeats)]
    table.add("raw TCP MB/s, one stream, same total", spread([b / 1e6 for b in raw], "{:,.0f}"))
    table.add(
        "bare grpcio 150 KB / raw TCP", f"{statistics.median(bare) / statistics.median(raw):.0%}"
    )


# --- 5. SingleStream round trip ----------------------------------------------------------------


def measure_single_stream(table: Table, addresses: Sequence[str], args: argparse.Namespace) -> None:
    print("SingleStream: round trip with echo nodes vs an in-process null SUT", flush=True)
    qsl = synthetic_qsl(SMALL)
    duration = 1_000 if args.quick else 2_000
    net = repeat(
        args.repeats,
        lambda: run_network(addresses, qsl, single_stream_settings(duration), args.streams),
    )
    null = repeat(args.repeats, lambda: run_null(qsl, single_stream_settings(duration // 2)))

    def pct(runs: list[RunResult], i: int) -> list[float]:
        return [r.result.samples.percentiles[i] / 1e3 for r in runs]

    p50, p90 = pct(net, 0), pct(net, 1)
    n50, n90 = pct(null, 0), pct(null, 1)
    added50 = statistics.median(p50) - statistics.median(n50)
    added90 = statistics.median(p90) - statistics.median(n90)
    table.add("SingleStream p50 (echo nodes)", spread(p50, "{:.0f}") + " us")
    table.add(
        "SingleStream p90 (echo nodes)",
        spread(p90, "{:.0f}") + " us",
        f"<= {P90_GOAL_MS * 1000:.0f} us",
        statistics.median(p90) <= P90_GOAL_MS * 1000,
    )
    table.add(
        "SingleStream p50/p90 (null SUT)",
        f"{statistics.median(n50):.1f} / {statistics.median(n90):.1f} us",
    )
    table.add("added by the network path p50/p90", f"{added50:.0f} / {added90:.0f} us")


# --- 6. zstd vs none ---------------------------------------------------------------------------


def measure_compression(table: Table, addresses: Sequence[str], args: argparse.Namespace) -> None:
    print("zstd vs none: Offline, 150 KB samples", flush=True)
    for data in ("low-entropy", "random"):
        for compression in ("none", "zstd"):
            runs = offline_runs(addresses, args, LARGE, compression, data)
            sent = statistics.median(r.bytes_sent / r.samples for r in runs)
            rates = [r.result.samples_per_second for r in runs]
            table.add(
                f"{data} {compression}: KB sent/sample, samples/s",
                f"{sent / 1e3:,.1f} KB, {spread(rates, '{:,.0f}')}/s",
            )


# --- 7. Offline, small samples ------------------------------------------------------------------


def measure_offline_small(
    table: Table, addresses: Sequence[str], pids: Sequence[int], args: argparse.Namespace
) -> None:
    print("Offline: 256 B samples, CPU per sample by wire form", flush=True)
    qsl = synthetic_qsl(SMALL)
    settings = offline_settings(150_000, 1_000 if args.quick else 2_000)
    found = in_turns(
        [("opportunistic", wire) for wire in args.wire],
        args.repeats,
        lambda m: run_network(addresses, qsl, settings, args.streams, pids, m[0], wire=m[1]),
    )
    for mode, runs in found.items():
        table.add(
            f"[{mode[1]}] Offline 256 B samples/s",
            spread([r.result.samples_per_second for r in runs], "{:,.0f}"),
        )
        cpu_rows(table, f"[{mode[1]}] Offline 256 B", runs)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--quick", action="store_true", help="one short run per figure (a few minutes in all)"
    )
    parser.add_argument("--streams", type=int, default=1, help="Infer streams per node")
    parser.add_argument(
        "--soak-s", type=int, metavar="S", help="memory run length (default 300; 20 with --quick)"
    )
    parser.add_argument(
        "--framing", nargs="+", choices=FRAMINGS, default=list(FRAMINGS), help="modes to measure"
    )
    parser.add_argument(
        "--wire",
        nargs="+",
        choices=WIRES,
        default=["auto", "classic"],
        help="wire forms to measure",
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="sections to run (all)")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    if args.repeats < 1 or args.streams < 1 or (args.soak_s is not None and args.soak_s < 5):
        parser.error("--repeats and --streams must be >= 1, --soak-s >= 5")
    sections = set(args.only or SECTIONS)
    if args.quick and not args.only:
        sections.discard("compression")
    start = time.monotonic()
    load = os.getloadavg()[0]
    commands = [sut_server_command("echo", "127.0.0.1:0", ("--name", f"echo-{c}")) for c in "ab"]
    table = Table()
    with running_nodes(commands) as nodes:
        addresses = [n.address for n in nodes]
        print(
            f"2 echo nodes at {', '.join(addresses)}; {args.streams} stream(s) per node", flush=True
        )
        pids = [n.process.pid for n in nodes]
        if "server" in sections:
            measure_server(table, addresses, pids, args)
        if "steady" in sections:
            measure_steady(table, addresses, pids, args)
        if "memory" in sections:
            measure_memory(table, addresses, pids, args)
        if "offline" in sections:
            measure_offline(table, addresses, args)
        if "single-stream" in sections:
            measure_single_stream(table, addresses, args)
        if "compression" in sections:
            measure_compression(table, addresses, args)
        if "offline-small" in sections:
            measure_offline_small(table, addresses, pids, args)
    elapsed = time.monotonic() - start
    table.print(
        f"Network path, 2 echo nodes on 127.0.0.1, our LoadGen, median of {args.repeats} run(s) "
        f"(min..max); {os.cpu_count()} CPUs, load average {load:.1f} before / "
        f"{os.getloadavg()[0]:.1f} after; {elapsed:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
