"""What the GIL switch interval does to the LoadGen's issue delay when another thread is busy.

The Server issue loop (``RealClock.sleep_until``, as the LoadGen uses it) issues on a fixed
5,000 QPS schedule while a second thread plays the QDL's gRPC loop under load: bursts of pure
Python (callbacks run back to back) of ``--burst-us``, then ``--idle-us`` waiting on a
selector-like sleep. A woken issue thread waits for the GIL until the burst ends or the holder
is asked to drop it after ``sys.getswitchinterval()``. Printed: issue delay p50/p99/max for
each interval, side by side in one run (the QDL uses ``qdl._gil.SWITCH_INTERVAL_S``).

    python benchmarks/gil_contention.py [--burst-us 2000] [--idle-us 1000] [--queries 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE)]

import numpy as np  # noqa: E402

from loadgen.clock import RealClock  # noqa: E402
from qdl._gil import SWITCH_INTERVAL_S  # noqa: E402

PERIOD_NS = 200_000  # 5,000 QPS


def _loop_thread(stop: threading.Event, burst_ns: int, idle_s: float) -> None:
    now = time.perf_counter_ns
    while not stop.is_set():
        end = now() + burst_ns
        x = 0
        while now() < end:
            for i in range(50):
                x += i
        time.sleep(idle_s)


def issue_delays(queries: int, burst_us: int, idle_us: int) -> np.ndarray:
    stop = threading.Event()
    busy = threading.Thread(
        target=_loop_thread, args=(stop, burst_us * 1000, idle_us / 1e6), daemon=True
    )
    busy.start()
    clock = RealClock()
    delays = np.zeros(queries, dtype=np.int64)
    try:
        with clock.precise():
            start = time.perf_counter_ns() + 1_000_000
            for k in range(queries):
                target = start + k * PERIOD_NS
                delays[k] = clock.sleep_until(target) - target
    finally:
        stop.set()
        busy.join()
    return delays


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst-us", type=int, default=2000)
    parser.add_argument("--idle-us", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=5000)
    args = parser.parse_args(argv)
    saved = sys.getswitchinterval()
    print(
        f"issue loop at 5,000 QPS beside a thread busy {args.burst_us} us / idle {args.idle_us} us"
    )
    try:
        for interval in (saved, SWITCH_INTERVAL_S):
            sys.setswitchinterval(interval)
            d = issue_delays(args.queries, args.burst_us, args.idle_us) / 1e3
            print(
                f"  switch interval {interval * 1e6:>6.0f} us: issue delay p50 "
                f"{np.percentile(d, 50):8.0f} us, p99 {np.percentile(d, 99):8.0f} us, "
                f"max {d.max():8.0f} us",
                flush=True,
            )
    finally:
        sys.setswitchinterval(saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())
