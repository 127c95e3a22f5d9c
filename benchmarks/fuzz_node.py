"""Throw a million hostile inputs at a real sut-server process and print what came back.

    .venv/bin/python benchmarks/fuzz_node.py [--inputs 1000000] [--seed 0] [--backend echo]

The inputs and the client are the suite's (tests/sut_server/fuzz_inputs.py): raw bytes to every
RPC, mutated valid SampleBatches, lying sizes, zstd bombs, absurd shapes and dtypes. Prints the
count of each outcome, whether every parsable sample was answered exactly once, whether a proper
client was still served after each 100 k inputs, and the node's RSS before and after.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.sut_server.fuzz_inputs import FuzzClient, FuzzInputs, rss_bytes  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="echo")
    parser.add_argument("--max-inflight-bytes", type=int, default=32 * 1024 * 1024)
    parser.add_argument("--check-every", type=int, default=100_000)
    args = parser.parse_args()
    node = subprocess.Popen(
        [
            sys.executable, "-m", "sut_server", "--listen", "127.0.0.1:0",
            "--backend", args.backend, "--name", "fuzzed",
            "--max-inflight-bytes", str(args.max_inflight_bytes),
        ],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        match = re.search(r"listen=(\S+)", node.stdout.readline() if node.stdout else "")
        if not match:
            print("the node did not start", file=sys.stderr)
            return 1
        inputs = FuzzInputs(args.seed)
        stream = iter(inputs)
        client = FuzzClient(match.group(1))
        before = rss_bytes(node.pid)
        peak = before
        served = []
        start = time.monotonic()
        done = 0
        while done < args.inputs:
            step = min(args.check_every, args.inputs - done)
            client.throw(itertools.islice(stream, step))
            done += step
            served.append(client.well_behaved(inputs))
            rss = rss_bytes(node.pid)
            peak = max(peak, rss)
            print(
                f"{done:>9} inputs  {time.monotonic() - start:7.1f} s  node RSS "
                f"{rss / 2**20:7.1f} MiB  proper client served: {served[-1]}",
                flush=True,
            )
        after = rss_bytes(node.pid)
        client.close()
        counts = client.counts
        print(f"\n{done} inputs in {time.monotonic() - start:.1f} s (seed {args.seed})")
        for key in sorted(counts):
            print(f"  {key:<40} {counts[key]:>9}")
        exact = counts["samples answered"] == counts["samples sent"]
        print(f"every parsable sample answered exactly once: {exact}")
        print(f"proper client served after every check: {all(served)}")
        print(
            f"node RSS: before {before / 2**20:.1f} MiB, after {after / 2**20:.1f} MiB, "
            f"peak seen {peak / 2**20:.1f} MiB; node alive: {node.poll() is None}"
        )
        return 0 if exact and all(served) and node.poll() is None else 1
    finally:
        node.terminate()
        try:
            node.wait(20)
        except subprocess.TimeoutExpired:
            node.kill()
        if node.stdout:
            node.stdout.close()


if __name__ == "__main__":
    sys.exit(main())
