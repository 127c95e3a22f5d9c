"""What a LoadGen keeps per sample: peak RSS growth between a short and a long Server run.

Each run is a fresh process with an inline null SUT; its peak RSS (``ru_maxrss``) includes the
interpreter, the imports and everything a run holds at its largest, so the difference between
two runs at the same rate is what the extra samples cost, transients included (generation,
the completion columns, the results computation):

    bytes per sample = (peak RSS long - peak RSS short) / (samples long - samples short)

    python benchmarks/loadgen_memory.py [--qps 20000] [--short 5] [--long 25] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics

from _worker import run_worker
from loadgen_null_sut import have_official

WORKER_CODE = r"""
import json, os, resource, sys
which, qps, seconds, outdir = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
if which == "official":
    import mlperf_loadgen as lg
else:
    sys.path.insert(0, os.getcwd())
    import loadgen as lg

QSR = lg.QuerySampleResponse
complete = lg.QuerySamplesComplete
issued = [0]

def issue(samples):
    issued[0] += len(samples)
    complete([QSR(s.id, 0, 0) for s in samples])

sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(1024, 1024, lambda x: None, lambda x: None)
s = lg.TestSettings()
s.mode = lg.TestMode.PerformanceOnly
s.scenario = lg.TestScenario.Server
s.server_target_qps = qps
s.server_target_latency_ns = 100_000_000
s.min_duration_ms = int(seconds * 1000)
s.min_query_count = 100
log = lg.LogSettings()
log.log_output.outdir = outdir
log.enable_trace = False
lg.StartTestWithLogSettings(sut, qsl, s, log)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print("RESULT " + json.dumps({"samples": issued[0], "peak_rss": peak}))
"""


def measure(which: str, qps: float, seconds: float) -> dict:
    return run_worker(WORKER_CODE, [which, str(qps), str(seconds)], timeout=600)


def bytes_per_sample(which: str, qps: float, short: float, long: float) -> tuple[float, int]:
    """(peak RSS growth per extra sample, extra samples) for one short/long pair."""
    a = measure(which, qps, short)
    b = measure(which, qps, long)
    extra = b["samples"] - a["samples"]
    return (b["peak_rss"] - a["peak_rss"]) / extra, extra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qps", type=float, default=20_000)
    parser.add_argument("--short", type=float, default=5.0, help="short run, s")
    parser.add_argument("--long", type=float, default=25.0, help="long run, s")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ours-only", action="store_true")
    args = parser.parse_args()
    loadgens = ["ours"] + ([] if args.ours_only or not have_official() else ["official"])
    figures: dict[str, list[float]] = {which: [] for which in loadgens}
    extra = 0
    for _ in range(args.repeats):
        for which in loadgens:
            per_sample, extra = bytes_per_sample(which, args.qps, args.short, args.long)
            figures[which].append(per_sample)
    print(
        f"\nPeak RSS growth per sample, Server {args.qps:,.0f} QPS, {args.short:g} s vs "
        f"{args.long:g} s ({extra:,} extra samples), null SUT, median of {args.repeats}:"
    )
    for which, values in figures.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(f"  {which:9} {statistics.median(values):6.0f} B/sample  (runs: {runs})")


if __name__ == "__main__":
    main()
