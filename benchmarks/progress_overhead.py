"""Does lon-run's live progress disturb the measurement? Server max VALID QPS with it and without.

Two ``sut-server --backend echo`` nodes on 127.0.0.1, driven by our LoadGen through the QDL as
``lon-run`` does (``_net_runs``), at a ladder of Server target QPS (p99 <= 10 ms, or
``--bound-ms`` on a machine busy with other work). At each rung every display is run
``--repeats`` times, interleaved so that drift in the machine's load falls on all alike:
``off`` (``--quiet``), ``plain`` (the periodic line, stdout a pipe) and ``rich`` (the live
table a terminal gets, drawn to /dev/null). A display's figure is the highest rung most of
whose runs are VALID; the differences should be within the spread of the repeats. Since a
busy machine makes that ladder noisy, the CPU time this process spends on a run at a fixed
rate (``--cpu-at``, default 500 QPS) is printed per display too: what the display itself
costs, much less sensitive to the machine's load than latency is.

    python benchmarks/progress_overhead.py [--quick] [--repeats N] [--cpu-at QPS] [--bound-ms MS]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE]

from _net_runs import cpu_seconds, server_settings, synthetic_qsl  # noqa: E402

import loadgen  # noqa: E402
from lon import _progress as progress  # noqa: E402
from lon._nodes import running_nodes, sut_server_command  # noqa: E402
from qdl import QueryDispatchLibrary, make_binding  # noqa: E402

DISPLAYS = ("off", "plain", "rich")


def one_run(
    addresses: Sequence[str], qsl: Any, qps: float, duration_ms: int, display: str, bound_ms: float
) -> tuple[bool, float, float]:
    """(VALID, p99 ms, CPU s of this process) of one Server run with ``display`` on."""
    settings = server_settings(qps, duration_ms)
    settings.server_target_latency_ns = int(bound_ms * 1e6)
    qdl = QueryDispatchLibrary.over_grpc(addresses, qsl, make_binding("ours"))
    with (
        tempfile.TemporaryDirectory(prefix="lon-progbench-") as outdir,
        contextlib.ExitStack() as stack,
    ):
        log = loadgen.LogSettings()
        log.log_output.outdir = outdir
        log.enable_trace = False
        qdl.connect()
        stack.callback(qdl.close)
        out = stack.enter_context(open(os.devnull, "w")) if display == "rich" else io.StringIO()
        live = progress.Progress(
            qdl, progress.target_of(settings, "Server"), out,
            tty=display == "rich", quiet=display == "off",
        )  # fmt: skip
        cpu = cpu_seconds(os.getpid())
        with live:
            report = loadgen.run_test(qdl, qsl, settings, log, "")
        cpu = cpu_seconds(os.getpid()) - cpu
    assert report.result is not None
    return report.validity == "VALID", report.result.samples.target / 1e6, cpu


def ladder_search(addresses: Sequence[str], qsl: Any, args: argparse.Namespace) -> dict[str, float]:
    ladder = [250, 500, 750, 1_000, 1_500, 2_000, 3_000, 4_000, 5_000, 6_000, 8_000]
    duration = 1_500 if args.quick else 3_000
    best = dict.fromkeys(DISPLAYS, 0.0)
    going = set(DISPLAYS)
    for qps in ladder:
        if not going:
            break
        votes = dict.fromkeys(going, 0)
        # Enough queries for early stopping to pass at the p99 (about 4000), however low the rate.
        rung_ms = max(duration, int(4000 / qps * 1000))
        p99s: dict[str, list[float]] = {d: [] for d in going}
        for _ in range(args.repeats):
            for display in sorted(going):
                valid, p99, _ = one_run(addresses, qsl, qps, rung_ms, display, args.bound_ms)
                votes[display] += valid
                p99s[display].append(p99)
        for display in sorted(going):
            shown = ", ".join(f"{p:.2f}" for p in p99s[display])
            tally = f"{votes[display]}/{args.repeats} VALID"
            print(f"  {qps:>6,} QPS {display:<5}: {tally}, p99 {shown} ms", flush=True)
            if votes[display] * 2 > args.repeats:
                best[display] = qps
            else:
                going.discard(display)
    return best


def cpu_per_run(addresses: Sequence[str], qsl: Any, args: argparse.Namespace) -> dict[str, str]:
    runs: dict[str, list[float]] = {d: [] for d in DISPLAYS}
    for _ in range(args.repeats):
        for display in DISPLAYS:
            runs[display].append(
                one_run(addresses, qsl, args.cpu_at, 3_000, display, args.bound_ms)[2]
            )
    return {
        d: f"{statistics.median(v):.2f} s ({min(v):.2f}..{max(v):.2f})" for d, v in runs.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs per display and rung")
    parser.add_argument("--quick", action="store_true", help="short runs, one of each")
    parser.add_argument("--cpu-at", type=float, default=500.0, metavar="QPS")
    parser.add_argument("--bound-ms", type=float, default=10.0, help="the p99 bound")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    start, load = time.monotonic(), os.getloadavg()[0]
    qsl = synthetic_qsl("256:uint8:1024")
    commands = [sut_server_command("echo", "127.0.0.1:0", ("--name", f"echo-{c}")) for c in "ab"]
    with running_nodes(commands) as nodes:
        addresses = [n.address for n in nodes]
        best = ladder_search(addresses, qsl, args)
        cpu = cpu_per_run(addresses, qsl, args)
    print(
        f"\n2 echo nodes on 127.0.0.1, our LoadGen, {args.repeats} run(s) each; load average "
        f"{load:.1f} before / {os.getloadavg()[0]:.1f} after; {time.monotonic() - start:.0f} s"
    )
    cpu_title = f"CPU of this process, 3 s at {args.cpu_at:g} QPS"
    qps_title = f"Server max VALID QPS, p99 <= {args.bound_ms:g} ms"
    print(f"{'progress':<10} {qps_title:>34}   {cpu_title}")
    for display in DISPLAYS:
        print(f"{display:<10} {best[display]:>34,.0f}   {cpu[display]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
