"""Our LoadGen against the official one, both driving the same in-process null SUT.

The SUT completes every sample inline, so what is measured is the LoadGen itself. Each
measurement runs in a fresh subprocess (the official LoadGen keeps process-global state);
each figure is the median of several runs.

Two figures per scenario and LoadGen, because they measure different things:

- the LoadGen's own figure (from its summary), timed between its start and the last
  completion. It leaves out what a LoadGen does before or after that window: ours builds
  the first chunk of QuerySample objects before the clock starts (in Offline that is the one
  query, 2.2 M of them) and does its bookkeeping after it stops, while the official binding
  converts inside its window;
- the whole StartTest wall time, timed around the call, everything included.

The table gives both, with the ratios ours/official (a rate: above 1, ours is ahead) and
official/ours (a wall time: above 1, ours finishes sooner).

The Server figure is the highest rung of a ladder 50 k QPS apart that is VALID in most runs,
each rung a 3 s run (``--server-seconds``); the README's figures are printed beside today's.

    python benchmarks/loadgen_null_sut.py [--repeats 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics

WORKER_CODE = r"""
import json, os, re, sys, time
which, scenario, value = sys.argv[1], sys.argv[2], float(sys.argv[3])
duration_ms, outdir = int(sys.argv[4]), sys.argv[5]
if which == "official":
    import mlperf_loadgen as lg
else:
    sys.path.insert(0, os.getcwd())
    import loadgen as lg

QSR = lg.QuerySampleResponse
complete = lg.QuerySamplesComplete

def issue(samples):
    complete([QSR(s.id, 0, 0) for s in samples])

def flush():
    pass

sut = lg.ConstructSUT(issue, flush)
qsl = lg.ConstructQSL(1024, 1024, lambda x: None, lambda x: None)
s = lg.TestSettings()
s.mode = lg.TestMode.PerformanceOnly
s.min_query_count = 100
if scenario == "Offline":
    s.scenario = lg.TestScenario.Offline
    s.offline_expected_qps = value
    s.min_duration_ms = duration_ms
elif scenario == "Server":
    s.scenario = lg.TestScenario.Server
    s.server_target_qps = value
    s.server_target_latency_ns = 10_000_000
    s.min_duration_ms = duration_ms
else:
    s.scenario = lg.TestScenario.SingleStream
    s.single_stream_expected_latency_ns = int(value)
    s.min_duration_ms = duration_ms
log = lg.LogSettings()
log.log_output.outdir = outdir
log.enable_trace = False
# The whole StartTest, timed around the call (ours: run_test, which StartTest calls).
if which == "official":
    t0 = time.perf_counter()
    lg.StartTestWithLogSettings(sut, qsl, s, log)
    wall_s = time.perf_counter() - t0
    delays = []
else:
    t0 = time.perf_counter()
    report = lg.run_test(sut, qsl, s, log)
    wall_s = time.perf_counter() - t0
    delays = report.issue_delay_ns.tolist()
text = open(os.path.join(outdir, "mlperf_log_summary.txt")).read()
def grab(label):
    m = re.search(re.escape(label) + r"\s*:\s*([0-9.e+]+)", text)
    return float(m.group(1)) if m else None
out = {
    "wall_s": wall_s,
    "valid": "Result is : VALID" in text,
    "offline": grab("Samples per second"),
    "ss_qps": grab("QPS w/ loadgen overhead"),
    "server_completed": grab("Completed samples per second"),
    "samples_per_query": grab("samples_per_query"),
}
if delays:
    delays.sort()
    out["delay_p50"] = delays[len(delays) // 2]
    out["delay_p99"] = delays[int(len(delays) * 0.99)]
print("RESULT " + json.dumps(out))
"""

from _worker import ROOT, run_worker  # noqa: E402


def have_official() -> bool:
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        return False
    return True


def measure(which: str, scenario: str, value: float, duration_ms: int = 1000) -> dict:
    return run_worker(WORKER_CODE, [which, scenario, str(value), str(duration_ms)], timeout=300)


def interleaved(
    loadgens: list[str], scenario: str, value: float, repeats: int, duration_ms: int = 1000
) -> dict:
    """``repeats`` runs of one scenario under each LoadGen, taking turns, so that the load of a
    shared machine drifting during the benchmark falls on both alike ({loadgen: [run, ...]})."""
    runs: dict[str, list[dict]] = {which: [] for which in loadgens}
    for _ in range(repeats):
        for which in loadgens:
            runs[which].append(measure(which, scenario, value, duration_ms))
    return runs


# Server rungs: 50 k apart from 100 k on (at most 10-17 % between neighbours around where
# either LoadGen tops out), so that a run's max VALID is known to within one such step.
LADDER = [50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000, 400_000, 450_000,
          500_000, 550_000, 600_000, 650_000, 700_000, 800_000, 900_000, 1_000_000]  # fmt: skip
QUICK_LADDER = [50_000, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000]
GIVE_UP_AFTER = 2  # failed rungs in a row that end a LoadGen's climb (one may be a disturbance)


def server_ladder(loadgens: list[str], ladder: list[float], repeats: int, duration_ms: int) -> dict:
    """For each LoadGen: the highest rung of ``ladder`` whose run is VALID in most of
    ``repeats`` tries, the StartTest wall times of every rung it tried ({qps: [s, ...]}) and
    the VALID count of each ({qps: n}). A LoadGen climbs until GIVE_UP_AFTER rungs in a row
    fail, so one disturbed rung does not end its climb."""
    best = {which: 0.0 for which in loadgens}
    walls: dict[str, dict[float, list[float]]] = {which: {} for which in loadgens}
    valid: dict[str, dict[float, int]] = {which: {} for which in loadgens}
    failed = {which: 0 for which in loadgens}
    climbing = list(loadgens)
    for qps in ladder:
        if not climbing:
            break
        for which, runs in interleaved(climbing, "Server", qps, repeats, duration_ms).items():
            walls[which][qps] = [r["wall_s"] for r in runs]
            valid[which][qps] = sum(r["valid"] for r in runs)
            if valid[which][qps] * 2 <= repeats:
                failed[which] += 1
                if failed[which] >= GIVE_UP_AFTER:
                    climbing.remove(which)
            else:
                failed[which] = 0
                best[which] = qps
    return {which: (best[which], walls[which], valid[which]) for which in loadgens}


def readme_figures() -> dict[str, list[str]]:
    """The README's null-SUT table ({scenario: [its cells after the first]}), to print beside
    today's figures: a regression shows the day it lands. Empty when not found."""
    rows: dict[str, list[str]] = {}
    try:
        with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
            lines = f.read().split("benchmarks/loadgen_null_sut.py", 1)[-1].splitlines()
    except OSError:
        return rows
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for scenario in ("Offline", "Server", "SingleStream"):
            if cells and cells[0].startswith(scenario) and scenario not in rows:
                rows[scenario] = cells[2:]  # ours, official, ratio, wall ours, official, ratio
        if len(rows) == 3:
            break
    return rows


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="fewer rungs and repeats")
    parser.add_argument(
        "--server-seconds",
        type=float,
        default=3.0,
        help="min duration of each Server rung (a 1 s run fails on one 30 ms stall of a "
        "shared machine; a longer one only on stalls that add up to 1 %% of it)",
    )
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    loadgens = ["ours"] + (["official"] if have_official() else [])
    ladder = QUICK_LADDER if args.quick else LADDER

    figures: dict[str, dict[str, float]] = {}  # scenario -> {loadgen: LoadGen's own figure}
    walls: dict[str, dict[str, float]] = {}  # scenario -> {loadgen: StartTest wall s}
    offline = interleaved(loadgens, "Offline", 2_000_000, repeats)
    single = interleaved(loadgens, "SingleStream", 2_000, repeats)
    for scenario, runs, key in (
        ("Offline", offline, "offline"),
        ("SingleStream", single, "ss_qps"),
    ):
        figures[scenario] = {w: statistics.median(r[key] for r in runs[w]) for w in loadgens}
        walls[scenario] = {w: statistics.median(r["wall_s"] for r in runs[w]) for w in loadgens}
    offline_samples = offline["ours"][0]["samples_per_query"]
    server = server_ladder(loadgens, ladder, repeats, int(args.server_seconds * 1000))
    # Server wall times compare one schedule: the highest rung every LoadGen held (or the first).
    common = min(best for best, _, _ in server.values()) or ladder[0]
    figures["Server"] = {which: best for which, (best, _, _) in server.items()}
    walls["Server"] = {which: statistics.median(w[common]) for which, (_, w, _) in server.items()}
    delays = [measure("ours", "Server", 5_000) for _ in range(repeats)]

    labels = {
        "Offline": "samples/s",
        "Server": "max VALID QPS (p99 <= 10 ms)",
        "SingleStream": "QPS w/ loadgen overhead",
    }
    official = "official" in loadgens
    print(f"\nLoadGen with an inline null SUT (median of {repeats} runs; fresh process each)\n")
    header = f"{'scenario':13} {'LoadGen figure':29} {'ours':>11}"
    if official:
        header += f" {'official':>11} {'ours/off.':>9}"
    header += f" | {'wall s ours':>11}"
    if official:
        header += f" {'official':>9} {'off./ours':>9}"
    print(header)
    print("-" * len(header))
    readme = readme_figures()
    for scenario in ("Offline", "Server", "SingleStream"):
        fig, wall = figures[scenario], walls[scenario]
        line = f"{scenario:13} {labels[scenario]:29} {fig['ours']:11,.0f}"
        if official:
            line += f" {fig['official']:11,.0f} {ratio(fig['ours'], fig['official']):9.2f}"
        line += f" | {wall['ours']:11.2f}"
        if official:
            line += f" {wall['official']:9.2f} {ratio(wall['official'], wall['ours']):9.2f}"
        print(line)
        cells = readme.get(scenario)
        if cells and len(cells) == 6 and official:  # the same columns, as the README has them
            print(
                f"{'':13} {'  (README)':29} {cells[0]:>11} {cells[1]:>11} {cells[2]:>9} | "
                f"{cells[3]:>11} {cells[4]:>9} {cells[5]:>9}"
            )
    print(
        "\nLoadGen figure: its own, timed from its start to the last completion. wall s: the "
        "whole\nStartTest call. ours/off. above 1: ours ahead; off./ours above 1: ours finishes "
        "sooner."
    )
    print(
        f"Offline: {offline_samples:,.0f} samples; per second of StartTest wall time: "
        + ", ".join(f"{w} {ratio(offline_samples, walls['Offline'][w]):,.0f}" for w in loadgens)
    )
    if official:
        turns = [
            ratio(theirs["wall_s"], ours["wall_s"])
            for ours, theirs in zip(offline["ours"], offline["official"], strict=True)
        ]
        print("Offline off./ours wall time, run by run: " + ", ".join(f"{t:.2f}" for t in turns))
    print(
        f"Server rungs of {args.server_seconds:g} s; wall times at {common:,.0f} QPS (the "
        "highest rung every LoadGen held)"
    )
    for which, (_, _, valid) in server.items():
        rungs = ", ".join(f"{qps / 1000:g}k {n}/{repeats}" for qps, n in valid.items())
        print(f"Server rungs, VALID runs ({which}): {rungs}")
    p50 = statistics.median(d["delay_p50"] for d in delays) / 1000
    p99 = statistics.median(d["delay_p99"] for d in delays) / 1000
    print(f"\nServer issue delay at 5,000 QPS (ours): p50 {p50:.1f} us, p99 {p99:.1f} us")
    if not official:
        print("(mlcommons-loadgen is not installed: no official column)")


if __name__ == "__main__":
    main()
