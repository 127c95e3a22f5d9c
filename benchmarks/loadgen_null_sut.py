"""Our LoadGen against the official one, both driving the same in-process null SUT.

The SUT completes every sample inline, so what is measured is the LoadGen itself. Each
measurement runs in a fresh subprocess (the official LoadGen keeps process-global state);
each figure is the median of several runs. Prints one table with the ratio ours/official.

    python benchmarks/loadgen_null_sut.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

WORKER_CODE = r"""
import json, os, re, sys
which, scenario, value, outdir = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
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
    s.min_duration_ms = 1000
elif scenario == "Server":
    s.scenario = lg.TestScenario.Server
    s.server_target_qps = value
    s.server_target_latency_ns = 10_000_000
    s.min_duration_ms = 1000
else:
    s.scenario = lg.TestScenario.SingleStream
    s.single_stream_expected_latency_ns = int(value)
    s.min_duration_ms = 1000
log = lg.LogSettings()
log.log_output.outdir = outdir
log.enable_trace = False
if which == "official":
    lg.StartTestWithLogSettings(sut, qsl, s, log)
    delays = []
else:
    report = lg.run_test(sut, qsl, s, log)
    delays = report.issue_delay_ns.tolist()
text = open(os.path.join(outdir, "mlperf_log_summary.txt")).read()
def grab(label):
    m = re.search(re.escape(label) + r"\s*:\s*([0-9.e+]+)", text)
    return float(m.group(1)) if m else None
out = {
    "valid": "Result is : VALID" in text,
    "offline": grab("Samples per second"),
    "ss_qps": grab("QPS w/ loadgen overhead"),
    "server_completed": grab("Completed samples per second"),
}
if delays:
    delays.sort()
    out["delay_p50"] = delays[len(delays) // 2]
    out["delay_p99"] = delays[int(len(delays) * 0.99)]
print("RESULT " + json.dumps(out))
"""

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def have_official() -> bool:
    try:
        import mlperf_loadgen  # noqa: F401
    except ImportError:
        return False
    return True


def measure(which: str, scenario: str, value: float) -> dict:
    with tempfile.TemporaryDirectory() as outdir:
        proc = subprocess.run(
            [sys.executable, "-c", WORKER_CODE, which, scenario, str(value), outdir],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(
        f"{which} {scenario} {value} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    )


def median_of(which: str, scenario: str, value: float, key: str, repeats: int) -> float:
    return statistics.median(measure(which, scenario, value)[key] for _ in range(repeats))


def highest_valid_server_qps(which: str, ladder: list[float], repeats: int) -> float:
    """The highest rung of ``ladder`` whose run is VALID in most of ``repeats`` tries."""
    best = 0.0
    for qps in ladder:
        votes = sum(measure(which, "Server", qps)["valid"] for _ in range(repeats))
        if votes * 2 <= repeats:
            break
        best = qps
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer rungs and repeats")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    loadgens = ["ours"] + (["official"] if have_official() else [])
    ladder = [25_000, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 400_000]
    if args.quick:
        ladder = [25_000, 100_000, 200_000]

    rows: dict[str, dict[str, float]] = {}
    for which in loadgens:
        rows[which] = {
            "Offline samples/s": median_of(which, "Offline", 2_000_000, "offline", repeats),
            "Server max VALID QPS (p99 <= 10 ms)": highest_valid_server_qps(which, ladder, repeats),
            "SingleStream QPS w/ loadgen overhead": median_of(
                which, "SingleStream", 2_000, "ss_qps", repeats
            ),
        }
    delays = [measure("ours", "Server", 5_000) for _ in range(repeats)]

    print(f"\nLoadGen with an inline null SUT (median of {repeats} runs; fresh process each)\n")
    header = f"{'metric':40} {'ours':>14}"
    if "official" in rows:
        header += f" {'official':>14} {'ours/official':>14}"
    print(header)
    print("-" * len(header))
    for metric, ours in rows["ours"].items():
        line = f"{metric:40} {ours:14,.0f}"
        if "official" in rows:
            official = rows["official"][metric]
            ratio = ours / official if official else float("nan")
            line += f" {official:14,.0f} {ratio:14.2f}"
        print(line)
    p50 = statistics.median(d["delay_p50"] for d in delays) / 1000
    p99 = statistics.median(d["delay_p99"] for d in delays) / 1000
    print(f"\nServer issue delay at 5,000 QPS (ours): p50 {p50:.1f} us, p99 {p99:.1f} us")
    if "official" not in rows:
        print("(mlcommons-loadgen is not installed: no official column)")


if __name__ == "__main__":
    main()
