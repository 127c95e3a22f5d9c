"""``python -m sut_server.fake_engine``: the reference engine's command line."""

from __future__ import annotations

import argparse
import asyncio
import sys

from ._config import EngineConfig, parse_output_length
from ._serve import serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sut_server.fake_engine",
        description="A reference LLM engine: a stand-in HTTP server (OpenAI completions and "
        "SGLang /generate) with deterministic token ids, for tests, demos and benchmarks. "
        "It runs no model.",
    )
    p.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT; port 0 = any free port")
    p.add_argument("--model", default="reference-engine", help="the model id it serves")
    p.add_argument("--ttft-ms", type=float, default=0.0, help="time to the first token")
    p.add_argument("--tpot-ms", type=float, default=0.0, help="time per further token")
    p.add_argument("--output-tokens", default="16", help="N, or uniform:LO:HI per prompt")
    p.add_argument("--vocab-size", type=int, default=32000, help="token ids are below this")
    p.add_argument("--max-concurrency", type=int, default=1024, help="requests run at once")
    p.add_argument(
        "--sglang-incremental",
        action="store_true",
        help="/generate streams only new output_ids (SGLang --incremental-streaming-output)",
    )
    p.add_argument("--fail-every", type=int, default=0, help="every Nth request gets HTTP 500")
    p.add_argument("--drop-stream-after", type=int, default=-1, help="end streams after K tokens")
    p.add_argument("--stall-after", type=int, default=-1, help="go silent after K tokens")
    p.add_argument("--malformed-after", type=int, default=-1, help="send bad JSON after K tokens")
    p.add_argument(
        "--overcount-usage", type=int, default=0, help="report K more tokens than were sent"
    )
    p.add_argument("--startup-delay-s", type=float, default=0.0, help="answer 503 until then")
    p.add_argument("--text-only", action="store_true", help="send text without token ids")
    p.add_argument("--api-key", default="", help="require Authorization: Bearer KEY")
    return p


def _config(p: argparse.ArgumentParser, args: argparse.Namespace) -> EngineConfig:
    for flag, value, low in (
        ("--ttft-ms", args.ttft_ms, 0.0),
        ("--tpot-ms", args.tpot_ms, 0.0),
        ("--startup-delay-s", args.startup_delay_s, 0.0),
        ("--vocab-size", args.vocab_size, 2),
        ("--max-concurrency", args.max_concurrency, 1),
        ("--fail-every", args.fail_every, 0),
        ("--overcount-usage", args.overcount_usage, 0),
    ):
        if not (value >= low and value < float("inf")):
            p.error(f"{flag} {value}: must be at least {low}")
    try:
        lengths = parse_output_length(args.output_tokens)
    except ValueError as exc:
        p.error(str(exc))
    return EngineConfig(
        model=args.model,
        ttft_ms=args.ttft_ms,
        tpot_ms=args.tpot_ms,
        output_tokens=lengths,
        vocab_size=args.vocab_size,
        max_concurrency=args.max_concurrency,
        sglang_incremental=args.sglang_incremental,
        fail_every=args.fail_every,
        drop_stream_after=args.drop_stream_after,
        stall_after=args.stall_after,
        malformed_after=args.malformed_after,
        overcount_usage=args.overcount_usage,
        startup_delay_s=args.startup_delay_s,
        text_only=args.text_only,
        api_key=args.api_key,
    )


def main(argv: list[str] | None = None) -> int:
    p = _parser()
    args = p.parse_args(argv)
    config = _config(p, args)
    host, sep, port_text = args.listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or int(port_text) > 65535:
        p.error(f"--listen {args.listen!r}: expected HOST:PORT")
    try:
        asyncio.run(serve(config, host.strip("[]"), int(port_text)))
    except OSError as exc:
        print(f"reference engine: error: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
