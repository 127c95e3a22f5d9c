"""The reference engine's capacity, and what the openai/sglang backends cost per token.

Starts ``python -m sut_server.fake_engine`` on 127.0.0.1 and drives it from this process with
the backend (``--backend openai`` or ``sglang``), ``--streams`` requests in flight at once, each
answered with ``--tokens`` tokens (``ignore_eos``, no delays: the engine streams as fast as it
can, so the figure is what one engine process sustains on one core). Prints, per repeat, the
tokens/s over the whole run, the engine's peak concurrency, the CPU seconds the engine process
and this process (the backend: HTTP, SSE parsing, JSON) spent per token. The machine may be
small and shared: the median and spread of ``--repeats`` runs are printed.

    python benchmarks/llm_engine.py [--backend openai|sglang] [--streams 256] [--tokens 128]
                                    [--requests 2048] [--repeats 3] [--tpot-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import numpy as np

from sut_server.backends.base import InferRequest, InferResult
from sut_server.backends.openai import OpenAIBackend
from sut_server.backends.sglang import SGLangBackend


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _drive(backend, requests: int, streams: int) -> list[InferResult]:
    await backend.start()
    gate = asyncio.Semaphore(streams)

    async def one(i: int) -> InferResult:
        async with gate:
            data = np.asarray([i, i * 7 + 1, 3], dtype="<i4").tobytes()
            result = await backend.generate(InferRequest(i, data, "int32", (3,)))
            assert isinstance(result, InferResult)
            return result

    try:
        return list(await asyncio.gather(*(one(i) for i in range(requests))))
    finally:
        await backend.aclose()


def run_once(args: argparse.Namespace) -> dict[str, float]:
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sut_server.fake_engine",
            "--listen",
            "127.0.0.1:0",
            "--tpot-ms",
            str(args.tpot_ms),
            "--output-tokens",
            str(args.tokens),
            "--max-concurrency",
            str(args.streams),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert engine.stdout is not None
        url = engine.stdout.readline().split("url=")[1].split()[0]
        options = {
            "max_tokens": str(args.tokens),
            "ignore_eos": "true",
            "concurrency": str(args.streams),
            "wait_s": "30",
            "timeout_s": "120",
        }
        if args.backend == "openai":
            backend = OpenAIBackend({"url": f"{url}/v1", **options})
        else:
            backend = SGLangBackend({"url": url, **options})
        engine_cpu, own_cpu, began = _cpu_s(engine.pid), time.process_time(), time.perf_counter()
        results = asyncio.run(_drive(backend, args.requests, args.streams))
        wall = time.perf_counter() - began
        engine_cpu, own_cpu = _cpu_s(engine.pid) - engine_cpu, time.process_time() - own_cpu
        with urllib.request.urlopen(f"{url}/stats", timeout=30) as resp:
            stats = json.loads(resp.read())
    finally:
        engine.terminate()
        engine.wait()
    errors = [r.error for r in results if r.error]
    if errors:
        raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[0]}")
    tokens = sum(r.n_tokens for r in results)
    return {
        "tokens_per_s": tokens / wall,
        "peak": stats["peak_active"],
        "engine_us_per_token": engine_cpu / tokens * 1e6,
        "backend_us_per_token": own_cpu / tokens * 1e6,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("openai", "sglang"), default="openai")
    p.add_argument("--streams", type=int, default=256)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--requests", type=int, default=2048)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--tpot-ms", type=float, default=0.0)
    args = p.parse_args()
    runs = [run_once(args) for _ in range(args.repeats)]
    print(
        f"{args.backend}: {args.requests} requests, {args.streams} streams at once, "
        f"{args.tokens} tokens each, tpot {args.tpot_ms:g} ms"
    )
    for key in runs[0]:
        values = [r[key] for r in runs]
        print(
            f"  {key:22s} median {statistics.median(values):10.1f}  "
            f"(min {min(values):.1f}, max {max(values):.1f})"
        )


if __name__ == "__main__":
    main()
