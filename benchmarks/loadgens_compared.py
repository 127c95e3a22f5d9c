"""The same SUT nodes, measured through our LoadGen and through the official one, side by side.

Official network-division submissions must use the official LoadGen, so a run under ours has to
give the same answer. Two ``sut-server --backend synthetic`` nodes stand in for accelerators
whose speed is set (a throughput cap, a service time), and ``lon-run`` measures them with
``--loadgen ours`` and ``--loadgen official`` alternately, ``--repeats`` times each; the table
shows the medians and the ratio ours/official (goal: within 5%).

    python benchmarks/loadgens_compared.py [--repeats N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from lon._nodes import running_nodes, sut_server_command  # noqa: E402

LON_RUN = [sys.executable, "-m", "lon._run"]
LOADGENS = ("ours", "official")
NODES = {
    "capped": ("--max-qps", "1500"),
    "slow": ("--service-time-us", "20000"),
    "fast": ("--service-time-us", "2000", "--workers", "4"),
}
# (name, node, scenario, settings, summary line, unit scale, unit)
CASES = (
    ("Offline samples/s (node capped at 1,500/s)", "capped", "Offline",
     ("min_duration_ms=2000", "offline_expected_qps=1500"), "Samples per second", 1, ""),
    ("SingleStream p90 latency, 20 ms node", "slow", "SingleStream",
     ("min_duration_ms=2000", "min_query_count=60", "single_stream_expected_latency_ns=2e7"),
     "90.00 percentile latency (ns)", 1e6, "ms"),
    ("SingleStream p50 latency, 20 ms node", "slow", "SingleStream",
     ("min_duration_ms=2000", "min_query_count=60", "single_stream_expected_latency_ns=2e7"),
     "50.00 percentile latency (ns)", 1e6, "ms"),
    ("Server 200 QPS p99 latency, 2 ms node", "fast", "Server",
     ("min_duration_ms=3000", "min_query_count=300", "server_target_qps=200",
      "server_target_latency_ns=50000000"), "99.00 percentile latency (ns)", 1e6, "ms"),
    ("Server 200 QPS mean latency, 2 ms node", "fast", "Server",
     ("min_duration_ms=3000", "min_query_count=300", "server_target_qps=200",
      "server_target_latency_ns=50000000"), "Mean latency (ns)", 1e6, "ms"),
)  # fmt: skip


def summary_value(text: str, label: str) -> float:
    match = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.]+)\s*$", text, re.MULTILINE)
    if not match:
        raise SystemExit(f"loadgens_compared: {label!r} missing from the summary:\n{text}")
    return float(match.group(1))


def lon_run(node: str, scenario: str, sets: Sequence[str], lg: str, outdir: str) -> str:
    argv = [*LON_RUN, "--nodes", node, "--scenario", scenario, "--synthetic", "64:uint8:512",
            "--output", outdir, "--loadgen", lg, "--audit-config", "none"]  # fmt: skip
    for item in sets:
        argv += ["--set", item]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"loadgens_compared: lon-run failed ({lg}): {proc.stderr.strip()}")
    return proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one repeat, the first two cases only")
    args = p.parse_args(argv)
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        print("loadgens_compared: the official LoadGen (mlcommons-loadgen) is not installed")
        return 0
    repeats = 1 if args.quick else args.repeats
    cases = CASES[:2] if args.quick else CASES
    commands = [
        sut_server_command("synthetic", extra=("--name", name, *extra))
        for name, extra in NODES.items()
    ]
    rows = []
    with running_nodes(commands) as started, tempfile.TemporaryDirectory() as tmp:
        address = {n.name: n.address for n in started}
        for title, node, scenario, sets, label, scale, unit in cases:
            values: dict[str, list[float]] = {lg: [] for lg in LOADGENS}
            for _ in range(repeats):
                for lg in LOADGENS:  # alternate, so drift in the machine hits both alike
                    out = lon_run(address[node], scenario, sets, lg, os.path.join(tmp, lg))
                    values[lg].append(summary_value(out, label) / scale)
            ours, official = (statistics.median(values[lg]) for lg in LOADGENS)
            rows.append((title, ours, official, unit))
            print(f"  {title}: ours {values['ours']} official {values['official']}", flush=True)
    print(f"\nmedians of {repeats} run(s) each, alternating LoadGens\n")
    header = f"{'metric':<44} {'ours':>10} {'official':>10} {'ours/official':>14} {'within 5%':>10}"
    print(header)
    print("-" * len(header))
    for title, ours, official, unit in rows:
        ratio = ours / official
        shown = f"{ours:.2f}{unit}", f"{official:.2f}{unit}"
        print(
            f"{title:<44} {shown[0]:>10} {shown[1]:>10} {ratio:>14.3f} "
            f"{'yes' if abs(ratio - 1) <= 0.05 else 'NO':>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
