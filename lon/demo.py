"""``python -m lon.demo`` (``make demo``): two SUT nodes on loopback, an Offline and a Server run,
then an LLM run.

It starts two ``sut-server`` processes on 127.0.0.1 (port 0, numpy-mlp backend), runs a short
Offline and then a short Server benchmark against them through the QDL and our LoadGen, and stops
them. Then it starts two reference engines (``python -m sut_server.fake_engine``, stand-ins that
run no model) with an ``--backend openai`` node in front of each, and runs llama3.1-8b's Server
settings (token latencies, TTFT and TPOT bounds) on synthetic prompts. It prints every summary
with the per-node tables and where the logs are.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence

from qdl import QDLError

from ._nodes import running_engines, running_nodes, sut_server_command
from ._run import EXIT_INVALID, EXIT_OK, RunOptions, run

SAMPLES = "3x32x32:float32:2048"
"""Synthetic inputs: 2048 samples of 3x32x32 float32 (12 KiB each)."""

OFFLINE_SETTINGS = ("min_duration_ms=3000", "offline_expected_qps=20000")
SERVER_SETTINGS = (
    "min_duration_ms=6000",
    "server_target_qps=150",
    "min_query_count=500",
    "server_target_latency_ns=50000000",
)

LLM_MODEL = "llama3.1-8b"
LLM_ENGINE = ("--ttft-ms", "20", "--tpot-ms", "2", "--output-tokens", "uniform:16:64")
"""The reference engines' behaviour: the first token after 20 ms, one every 2 ms after it."""
LLM_PROMPTS = "256:32:512"
"""--synthetic-llm: 512 prompts around 256 tokens (the Server run issues each once: the
benchmark's equal-issue mode issues a whole multiple of its performance samples)."""
LLM_SETTINGS = ("min_duration_ms=5000", "server_target_qps=100", "min_query_count=500")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lon.demo", description=__doc__)
    p.add_argument("--output", help="log directory (default: a new temporary directory)")
    p.add_argument("--backend", default="numpy-mlp")
    p.add_argument("--loadgen", default="ours", choices=("ours", "official"))
    p.add_argument(
        "--node-module", default="sut_server", help="module to run as a node (for testing)"
    )
    p.add_argument("--quick", action="store_true", help="sub-second runs (for testing)")
    args = p.parse_args(argv)
    output = args.output or tempfile.mkdtemp(prefix="lon-demo-")
    offline_settings, server_settings = OFFLINE_SETTINGS, SERVER_SETTINGS
    llm_prompts, llm_settings = LLM_PROMPTS, LLM_SETTINGS
    if args.quick:
        llm_prompts = "64:16:64"
        llm_settings = ("min_duration_ms=300", "server_target_qps=60", "min_query_count=20")
        offline_settings = ("min_duration_ms=300", "offline_expected_qps=1000")
        server_settings = (
            "min_duration_ms=500",
            "server_target_qps=100",
            "min_query_count=20",
            "server_target_latency_ns=50000000",
        )
    commands = [
        sut_server_command(args.backend, "127.0.0.1:0", ("--name", name), module=args.node_module)
        for name in ("node-a", "node-b")
    ]
    t0 = time.monotonic()
    print(f"starting 2 SUT nodes ({args.backend}) on 127.0.0.1 ...", flush=True)
    try:
        with running_nodes(commands) as nodes:
            addresses = tuple(n.address for n in nodes)
            for n in nodes:
                print(f"  node {n.name} at {n.address} (backend {n.backend})", flush=True)
            codes = []
            for scenario, settings in (("Offline", offline_settings), ("Server", server_settings)):
                print(f"\n=== {scenario} run against {', '.join(addresses)} ===", flush=True)
                options = RunOptions(
                    nodes=addresses,
                    scenario=scenario,
                    output=os.path.join(output, scenario.lower()),
                    sets=settings,
                    synthetic=SAMPLES,
                    loadgen=args.loadgen,
                )
                codes.append(run(options))
            print("\nstopping the nodes ...", flush=True)
        print(
            "\nstarting 2 reference engines (stand-ins, no model) and an openai node in front "
            "of each ...",
            flush=True,
        )
        with running_engines(2, *LLM_ENGINE) as urls:
            llm_nodes = [
                sut_server_command("openai", "127.0.0.1:0", ("--name", f"llm-{name}",
                                   "--backend-opt", f"url={url}/v1"))
                for name, url in zip("ab", urls)
            ]  # fmt: skip
            with running_nodes(llm_nodes) as nodes:
                addresses = tuple(n.address for n in nodes)
                print(
                    f"\n=== {LLM_MODEL} Server run (token latencies) against "
                    f"{', '.join(addresses)} ===",
                    flush=True,
                )
                options = RunOptions(
                    nodes=addresses,
                    scenario="Server",
                    model=LLM_MODEL,
                    output=os.path.join(output, "llm"),
                    sets=llm_settings,
                    synthetic_llm=llm_prompts,
                    loadgen=args.loadgen,
                )
                codes.append(run(options))
                print("\nstopping the nodes and engines ...", flush=True)
    except QDLError as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"done in {time.monotonic() - t0:.1f} s; logs are in {output}/offline, {output}/server "
        f"and {output}/llm"
    )
    # A run that finished INVALID (a busy machine can make the short runs so) is still a run
    # that worked; only failed runs make the demo fail.
    return max((c for c in codes if c not in (EXIT_OK, EXIT_INVALID)), default=EXIT_OK)


if __name__ == "__main__":
    sys.exit(main())
