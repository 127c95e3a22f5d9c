"""lon-run against nodes in front of a real HTTP engine (the reference engine): a token run
works end to end, and an engine failing in each way we know ends the run with one clear error
that names the engine and the sample, with nothing left hanging."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator

import pytest

from lon._nodes import running_engines, running_nodes, sut_server_command
from lon._run import parse_options, run


@contextlib.contextmanager
def engine_node(*engine_args: str) -> Iterator[tuple[str, str]]:
    """A reference engine and an openai node in front of it: (node address, engine URL)."""
    fast = ("--ttft-ms", "5", "--tpot-ms", "1", "--output-tokens", "8")
    with running_engines(1, *fast, *engine_args) as (url,):
        opts = ("--backend-opt", f"url={url}/v1", "--backend-opt", "timeout_s=3")
        with running_nodes([sut_server_command("openai", extra=opts)]) as (node,):
            yield node.address, f"{url}/v1"


def lon_run(node: str, out, *extra: str) -> tuple[int, str, str]:
    argv = [
        "--nodes", node, "--scenario", "Server", "--model", "llama3.1-8b",
        "--synthetic", "16:int32:32", "--performance-count", "32", "--output", str(out),
        "--set", "min_duration_ms=300", "--set", "min_query_count=30",
        "--set", "server_target_qps=50", "--audit-config", "none", "--quiet", *extra,
    ]  # fmt: skip
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), stdout, stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_a_token_run_through_an_engine_node(tmp_path):
    with engine_node() as (node, _):
        code, out, err = lon_run(node, tmp_path / "out")
    assert code in (0, 1), err
    assert "the LoadGen logged" not in err  # every answer had its first token and its count
    assert "50.00 percentile first token latency (ns)" in out
    assert "Completed tokens per second" in out


@pytest.mark.parametrize(
    ("engine_args", "says"),
    [
        (("--fail-every", "7"), "HTTP 500"),
        (("--drop-stream-after", "3"), "[DONE]"),
        (("--stall-after", "2"), "timeout"),
        (("--malformed-after", "2"), "malformed"),
    ],
)
def test_an_engine_failure_ends_the_run_with_one_clear_error(tmp_path, engine_args, says):
    with engine_node(*engine_args) as (node, url):
        code, _, err = lon_run(node, tmp_path / "out")
    assert code == 3, err
    line = next(e for e in err.splitlines() if e.startswith("lon-run: error: run failed:"))
    assert f"engine {url}" in line and "sample" in line and says in line, line
    assert "Traceback" not in err
    summary = (tmp_path / "out" / "mlperf_log_summary.txt").read_text()
    assert "Result is : INVALID" in summary
