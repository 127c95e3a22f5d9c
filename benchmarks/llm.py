"""LLMs over the network: what the network path adds to TTFT and to the last token, and the
token throughput through two nodes against the same engines driven directly.

Everything runs on 127.0.0.1: two reference engines (``python -m sut_server.fake_engine``, a
stand-in that runs no model), two ``sut-server --backend openai`` nodes, one in front of each,
and lon-run (our LoadGen, the QDL, ``--quiet``) in a process of its own. In the same run, one
direct client (the openai backend itself: one aiohttp session in this process, the same HTTP
and SSE code the nodes use) drives the same two engines with the same load:

- latency: Server at the QPS that keeps about ``--streams`` (64) requests in flight (Little's
  law on the engine's latency); the direct client sends the same Poisson arrivals. TTFT and
  end-to-end latency percentiles as the LoadGen saw them (its summary) minus those the direct
  client measured at the engines: what gRPC, the node and the QDL add.
- throughput: Offline, ``--wide`` (256) requests in flight at once (128 per node), 128-token
  answers (``ignore_eos``): tokens/s through the nodes against the direct client's at 256
  concurrent requests.

The two take turns within each repeat and the medians of ``--repeats`` are printed, since this
machine may be small and shared (the engines, the nodes and lon-run share its cores).

    python benchmarks/llm.py [--repeats 3] [--only latency throughput] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from lon._nodes import running_engines, running_nodes, sut_server_command
from sut_server.backends.base import InferRequest, InferResult
from sut_server.backends.openai import OpenAIBackend

LON_RUN = [sys.executable, "-c", "import sys; from lon._run import main; sys.exit(main())"]
PROMPT_TOKENS = 64  # the synthetic prompts' length (int32 ids); the engine ignores their content


@dataclass(frozen=True)
class Shape:
    """The engines' behaviour for one part of the benchmark."""

    ttft_ms: float
    tpot_ms: float
    tokens: int

    @property
    def latency_s(self) -> float:
        return (self.ttft_ms + self.tpot_ms * (self.tokens - 1)) / 1e3


LATENCY = Shape(ttft_ms=50.0, tpot_ms=10.0, tokens=32)
THROUGHPUT = Shape(ttft_ms=50.0, tpot_ms=10.0, tokens=128)


def engines(shape: Shape, count: int = 2) -> contextlib.AbstractContextManager[list[str]]:
    """``count`` reference engines with ``shape``; yields their base URLs."""
    return running_engines(
        count, "--ttft-ms", str(shape.ttft_ms), "--tpot-ms", str(shape.tpot_ms),
        "--output-tokens", str(shape.tokens), "--max-concurrency", "4096",
    )  # fmt: skip


def backend_options(shape: Shape, concurrency: int) -> dict[str, str]:
    return {
        "max_tokens": str(shape.tokens),
        "ignore_eos": "true",
        "concurrency": str(concurrency),
        "wait_s": "30",
        "timeout_s": "120",
    }


@contextlib.contextmanager
def nodes(urls: Sequence[str], shape: Shape, concurrency: int) -> Iterator[str]:
    """One openai node per engine; yields lon-run's --nodes value."""
    commands = []
    for url in urls:
        opts = {"url": f"{url}/v1", **backend_options(shape, concurrency)}
        extra = [arg for k, v in opts.items() for arg in ("--backend-opt", f"{k}={v}")]
        commands.append(sut_server_command("openai", extra=extra))
    with running_nodes(commands) as running:
        yield ",".join(n.address for n in running)


# --- the direct client -------------------------------------------------------------------


@dataclass
class Direct:
    """Per-request TTFT and latency (s) the direct client measured, and its tokens/s."""

    ttft: np.ndarray
    latency: np.ndarray
    tokens_per_s: float


def drive_direct(
    urls: Sequence[str], shape: Shape, arrivals: Sequence[float] | None, concurrency: int,
    requests: int,
) -> Direct:  # fmt: skip
    """Send ``requests`` to the engines in turn: at the ``arrivals`` (s from the start; open
    loop) or, with None, all at once through a gate of ``concurrency`` (closed loop)."""
    return asyncio.run(_drive(urls, shape, arrivals, concurrency, requests))


async def _drive(
    urls: Sequence[str], shape: Shape, arrivals: Sequence[float] | None, concurrency: int,
    requests: int,
) -> Direct:  # fmt: skip
    per_engine = max(1, concurrency // len(urls))
    backends = [
        OpenAIBackend({"url": f"{u}/v1", **backend_options(shape, per_engine)}) for u in urls
    ]
    for backend in backends:
        await backend.start()
    gate = asyncio.Semaphore(concurrency)
    ttft = np.zeros(requests)
    latency = np.zeros(requests)
    tokens = 0
    prompt = np.arange(PROMPT_TOKENS, dtype="<i4")
    start = time.perf_counter()

    async def one(i: int) -> None:
        nonlocal tokens
        if arrivals is not None:
            await asyncio.sleep(max(0.0, start + arrivals[i] - time.perf_counter()))
        async with gate:
            began = time.perf_counter()

            def first(request: InferRequest, payload: bytes) -> None:
                ttft[i] = time.perf_counter() - began

            data = (prompt + i).tobytes()
            request = InferRequest(i, data, "int32", (PROMPT_TOKENS,), first)
            result = await backends[i % len(backends)].generate(request)
            latency[i] = time.perf_counter() - began
            assert isinstance(result, InferResult)
            if result.error:
                raise SystemExit(f"direct client: {result.error}")
            tokens += result.n_tokens

    try:
        await asyncio.gather(*(one(i) for i in range(requests)))
    finally:
        for backend in backends:
            await backend.aclose()
    return Direct(ttft, latency, tokens / (time.perf_counter() - start))


# --- through the network -------------------------------------------------------------------


def lon_run(node_list: str, *args: str) -> dict[str, float]:
    """One lon-run; the summary's figures (ns, or per second) by label."""
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run(
            [*LON_RUN, "--nodes", node_list, "--output", out, "--quiet", "--audit-config",
             "none", "--set", "use_token_latencies=1", *args],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if proc.returncode not in (0, 1):
            raise SystemExit(f"lon-run failed ({proc.returncode}): {proc.stderr.strip()}")
        with open(os.path.join(out, "mlperf_log_summary.txt"), encoding="utf-8") as f:
            summary = f.read()
    figures = {}
    for label, value in re.findall(r"^(.+?)\s*:\s*([0-9.]+)\s*$", summary, re.MULTILINE):
        figures[label.strip()] = float(value)
    figures["valid"] = float("Result is : VALID" in summary)
    return figures


def latency_part(args: argparse.Namespace) -> list[dict[str, float]]:
    shape = LATENCY
    qps = args.streams / shape.latency_s
    count = int(qps * args.seconds)
    rows = []
    with engines(shape) as urls, nodes(urls, shape, args.streams) as node_list:
        for repeat in range(args.repeats):
            arrivals = np.cumsum(np.random.default_rng(repeat).exponential(1 / qps, count))
            direct = drive_direct(urls, shape, list(arrivals), 10 * args.streams, count)
            net = lon_run(
                node_list, "--scenario", "Server", "--synthetic", f"{PROMPT_TOKENS}:int32:1024",
                "--set", f"server_target_qps={qps:.3f}", "--set",
                f"min_duration_ms={int(args.seconds * 1000)}", "--set", "min_query_count=100",
                "--set", "ttft_latency=2000000000", "--set", "tpot_latency=200000000",
            )  # fmt: skip
            row = {"qps": qps, "valid": net["valid"]}
            for p, label in ((50, "50.00"), (99, "99.00")):
                d_ttft = float(np.percentile(direct.ttft, p)) * 1e3
                d_lat = float(np.percentile(direct.latency, p)) * 1e3
                n_ttft = net[f"{label} percentile first token latency (ns)"] / 1e6
                n_lat = net[f"{label} percentile latency (ns)"] / 1e6
                row.update({
                    f"direct_ttft_p{p}": d_ttft, f"net_ttft_p{p}": n_ttft,
                    f"added_ttft_p{p}": n_ttft - d_ttft,
                    f"direct_latency_p{p}": d_lat, f"net_latency_p{p}": n_lat,
                    f"added_latency_p{p}": n_lat - d_lat,
                })  # fmt: skip
            rows.append(row)
            print(f"  latency repeat {repeat + 1}: " + _fmt(row), flush=True)
    return rows


def throughput_part(args: argparse.Namespace) -> list[dict[str, float]]:
    shape = THROUGHPUT
    per_node = args.wide // 2
    count = args.wide * args.rounds
    rows = []
    with engines(shape) as urls, nodes(urls, shape, per_node) as node_list:
        for repeat in range(args.repeats):
            direct = drive_direct(urls, shape, None, args.wide, count)
            net = lon_run(
                node_list, "--scenario", "Offline", "--synthetic",
                f"{PROMPT_TOKENS}:int32:{count}", "--performance-count", str(count),
                "--set", f"min_query_count={count}", "--set", "min_duration_ms=0",
                "--set", f"offline_expected_qps={count}",
            )  # fmt: skip
            net_tokens = net["Samples per second"] * shape.tokens
            row = {
                "direct_tokens_per_s": direct.tokens_per_s,
                "net_tokens_per_s": net_tokens,
                "ratio": net_tokens / direct.tokens_per_s,
            }
            rows.append(row)
            print(f"  throughput repeat {repeat + 1}: " + _fmt(row), flush=True)
    return rows


def _fmt(row: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in row.items())


def _medians(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", nargs="+", choices=("latency", "throughput"))
    p.add_argument("--streams", type=int, default=64, help="latency: requests in flight")
    p.add_argument("--seconds", type=float, default=15.0, help="latency: each run's length")
    p.add_argument("--wide", type=int, default=256, help="throughput: requests in flight")
    p.add_argument("--rounds", type=int, default=4, help="throughput: requests per slot")
    args = p.parse_args(argv)
    parts = args.only or ["latency", "throughput"]
    print(f"benchmarks/llm.py: {os.cpu_count()} CPUs, medians of {args.repeats}")
    if "latency" in parts:
        shape = LATENCY
        print(
            f"latency: Server, ~{args.streams} in flight, engines ttft {shape.ttft_ms:g} ms, "
            f"tpot {shape.tpot_ms:g} ms, {shape.tokens} tokens"
        )
        m = _medians(latency_part(args))
        print("| figure | direct (ms) | through the network (ms) | added (ms) |")
        print("|---|---:|---:|---:|")
        for name in ("ttft", "latency"):
            for pct in (50, 99):
                print(
                    f"| {name} p{pct} | {m[f'direct_{name}_p{pct}']:.2f} | "
                    f"{m[f'net_{name}_p{pct}']:.2f} | {m[f'added_{name}_p{pct}']:.2f} |"
                )
        print(f"(Server at {m['qps']:.1f} QPS; runs VALID: {m['valid']:.0%} median)")
    if "throughput" in parts:
        shape = THROUGHPUT
        print(
            f"throughput: Offline, {args.wide} in flight ({args.wide // 2} per node), "
            f"{shape.tokens}-token answers, tpot {shape.tpot_ms:g} ms"
        )
        m = _medians(throughput_part(args))
        print("| direct tokens/s | through two nodes tokens/s | ratio |")
        print("|---:|---:|---:|")
        print(
            f"| {m['direct_tokens_per_s']:.0f} | {m['net_tokens_per_s']:.0f} | {m['ratio']:.3f} |"
        )


if __name__ == "__main__":
    main()
