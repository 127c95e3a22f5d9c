"""Token latencies (TTFT, TPOT) everywhere a run is seen: result.json, report.html, the live
progress and lon-run's recap, over real synthetic-llm nodes; and report plots whose latency
axes show the bulk of the distribution, not the single worst sample."""

from __future__ import annotations

import io
import json
import re
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from lon._nodes import running_nodes, sut_server_command
from lon._report import latency_plot, token_plot
from lon._report_data import SampleTimes
from lon._run import parse_options, run
from lon._token_latencies import token_latencies
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen

TTFT_BOUND_MS = 2000
TPOT_BOUND_MS = 200


@pytest.fixture(scope="module")
def llm_node():
    command = sut_server_command(
        "synthetic-llm",
        extra=("--name", "llm", "--ttft-ms", "5", "--tpot-ms", "1", "--output-tokens", "8"),
    )
    with running_nodes([command]) as (node,):
        yield node.address


def server_argv(node, output, *extra):
    return [
        "--nodes", node, "--scenario", "Server", "--synthetic", "16:uint8:64",
        "--output", str(output), "--set", "min_duration_ms=400", "--set", "min_query_count=40",
        "--set", "server_target_qps=100", "--audit-config", "none", *extra,
    ]  # fmt: skip


TOKENS = (
    "--set", "use_token_latencies=1",
    "--set", f"ttft_latency={TTFT_BOUND_MS * 1_000_000}",
    "--set", f"tpot_latency={TPOT_BOUND_MS * 1_000_000}",
)  # fmt: skip


def lon_run(argv, lg):
    """lon-run in this process for our LoadGen, in a subprocess for the official one (it keeps
    process-wide state); stdout is a pipe either way, so progress comes as plain lines."""
    if lg == "ours":
        out, err = io.StringIO(), io.StringIO()
        code = run(parse_options([*argv, "--loadgen", lg]), out, err)
        return code, out.getvalue(), err.getvalue()
    import subprocess

    proc = subprocess.run(
        [*LON_RUN, *argv, "--loadgen", lg], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    return proc.returncode, proc.stdout, proc.stderr


def validate(doc):
    jsonschema = pytest.importorskip("jsonschema")
    from lon._result_json import SCHEMA_FILE

    with open(SCHEMA_FILE, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.validate(doc, schema)


def svg_texts(svg: str) -> list[str]:
    return [t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


@pytest.mark.parametrize("lg", LOADGENS)
def test_a_token_run_shows_ttft_and_tpot_everywhere(llm_node, tmp_path, lg):
    need_loadgen(lg)
    out = tmp_path / "out"
    code, stdout, stderr = lon_run(server_argv(llm_node, out, *TOKENS), lg)
    assert code in FINISHED, stderr
    # The LoadGen's summary has the token lines, and lon-run recaps them after the node table.
    assert "99.00 percentile first token latency (ns)" in stdout
    assert "99.00 percentile time to output token (ns)" in stdout
    (recap,) = [line for line in stdout.splitlines() if line.startswith("tokens: ")]
    assert "TTFT p99 " in recap and f"(bound {TTFT_BOUND_MS} ms, " in recap
    assert f"(bound {TPOT_BOUND_MS} ms, " in recap and "tokens/s" in recap
    assert stdout.index("node ") < stdout.index("tokens: ")
    # The live progress (plain lines through a pipe) follows TTFT and TPOT from the QDL.
    (progress,) = [line for line in stdout.splitlines() if line.startswith("progress: ")]
    ttft = re.search(r"p99 TTFT ([0-9.]+) ms \(bound 2000 ms\) TPOT ([0-9.]+) ms", progress)
    assert ttft is not None, progress
    assert float(ttft.group(1)) >= 5 and float(ttft.group(2)) > 0  # the node's 5 ms TTFT

    doc = json.loads((out / "result.json").read_text())
    validate(doc)
    tokens = doc["token_latencies"]
    assert tokens["target_percentile"] == "99.00"
    for key, bound in (("ttft_ms", TTFT_BOUND_MS), ("tpot_ms", TPOT_BOUND_MS)):
        part = tokens[key]
        assert {"50.00", "90.00", "99.00"} <= set(part["percentiles"])
        assert part["at_target_percentile"] == part["percentiles"]["99.00"]
        assert part["bound"] == bound
        assert part["bound_met"] == (part["at_target_percentile"] <= bound)
        assert 0 < part["min"] <= part["percentiles"]["50.00"] <= part["max"]
    assert tokens["ttft_ms"]["min"] >= 5  # the node waits 5 ms before the first token
    assert tokens["tokens_per_second"]["name"] == "completed_tokens_per_second"
    assert tokens["tokens_per_second"]["value"] > 0

    # The QDL kept each sample's TTFT and TPOT: the report draws their distribution.
    (node,) = json.loads((out / "lon_node_stats.json").read_text())["nodes"]
    for name in ("ttft", "tpot"):
        histogram = node["token_histograms"][name]
        assert sum(histogram["counts"]) == node["samples"]
        assert len(histogram["edges_ms"]) == len(histogram["counts"]) + 1
    page = (out / "report.html").read_text()
    assert "Token latencies: TTFT and TPOT" in page
    assert "TTFT (ms), as the QDL measured" in page
    assert "TTFT (ms)" in page and "TPOT (ms)" in page
    assert f"bound {TTFT_BOUND_MS} ms" in page and f"bound {TPOT_BOUND_MS} ms" in page
    assert "<th>TTFT</th>" in page and "<th>TPOT</th>" in page and "<th>tokens/s</th>" in page


def test_a_run_without_tokens_shows_none_of_them(llm_node, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = lon_run(server_argv(llm_node, out), "ours")
    assert code in FINISHED, stderr
    (progress,) = [line for line in stdout.splitlines() if line.startswith("progress: ")]
    assert "TTFT" not in progress and "TPOT" not in progress
    assert "tokens: " not in stdout and "first token" not in stdout
    doc = json.loads((out / "result.json").read_text())
    validate(doc)
    assert doc["token_latencies"] is None
    page = (out / "report.html").read_text()
    assert "Token latencies" not in page and "TTFT" not in page


# --- the bulk of a distribution ----------------------------------------------------------


def axis_ticks(svg: str, axis: str) -> list[float]:
    """The numeric tick labels of every ``axis`` ("x" or "y") in an SVG matplotlib drew."""
    root = ET.fromstring(svg)
    values = []
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        if group.get("id", "").startswith(f"{axis}tick_"):
            for text in group.iter("{http://www.w3.org/2000/svg}text"):
                label = "".join(text.itertext()).strip().replace("\u2212", "-")
                try:
                    values.append(float(label))
                except ValueError:
                    pass
    return values


def test_latency_axes_end_near_the_p99_9_and_the_max_is_written():
    rng = np.random.default_rng(1)
    latency_ms = rng.normal(5.0, 0.2, 20_000)
    latency_ms[1234] = 73.0  # one sample far out
    n = latency_ms.size
    times = SampleTimes(np.arange(n) * 1e6, np.zeros(n), latency_ms * 1e6)
    svg = latency_plot(times, None, 99.0)
    p999 = float(np.percentile(latency_ms, 99.9))
    ticks = axis_ticks(svg, "x")
    assert ticks and max(ticks) <= 2 * p999 < 73  # the axis ends near the p99.9, not at 73 ms
    assert max(ticks) >= float(np.percentile(latency_ms, 50))
    texts = svg_texts(svg)
    assert "max 73 ms" in texts  # written beside the histogram and the CDF
    assert texts.count("1 beyond the axis") == 2


def test_without_an_outlier_nothing_lies_beyond_the_axis():
    latency_ms = np.linspace(1.0, 2.0, 1000)
    times = SampleTimes(np.arange(1000) * 1e6, np.zeros(1000), latency_ms * 1e6)
    svg = latency_plot(times, 1.8, 99.0)
    texts = svg_texts(svg)
    assert "max 2 ms" in texts and not any("beyond the axis" in t for t in texts)
    assert "bound 1.8 ms" in texts


def block(values_ms, bound_ms, maximum):
    return {
        "percentiles": dict(values_ms),
        "min": 1.0,
        "mean": 2.0,
        "max": maximum,
        "at_target_percentile": values_ms["99.00"],
        "bound": bound_ms,
        "bound_met": None if bound_ms is None else values_ms["99.00"] <= bound_ms,
    }


def test_token_plots_mark_the_bounds_and_write_the_maxima():
    ttft = block({"50.00": 100.0, "90.00": 150.0, "99.00": 180.0, "99.90": 190.0}, 200.0, 900.0)
    tpot = block({"50.00": 1.0, "90.00": 1.5, "99.00": 2.0, "99.90": 2.5}, 100.0, 8.0)
    svg = token_plot(
        {"target_percentile": "99.00", "ttft_ms": ttft, "tpot_ms": tpot, "tokens_per_second": None}
    )
    assert svg is not None
    texts = svg_texts(svg)
    assert "bound 200 ms" in texts  # in view: a line, with its legend entry
    assert "bound 100 ms (above the axis)" in texts  # 40x the p99.9 would squash the curve
    assert "max 900 ms" in texts and "max 8 ms" in texts
    assert {"p50", "p90", "p99", "p99.9"} <= set(texts)
    assert max(axis_ticks(svg, "y")) < 900  # the axis is the percentiles', not the maximum's
    assert token_plot(None) is None


def test_token_distributions_end_near_the_p99_9_with_the_max_written():
    from lon._report import token_samples
    from qdl._accounting import _log_histogram

    rng = np.random.default_rng(2)
    ttft_ns = rng.normal(50e6, 2e6, 10_000)
    ttft_ns[7] = 4e9  # one first token 4 s late
    tpot_ns = rng.normal(1e6, 0.05e6, 10_000)
    nodes = [
        {"token_histograms": {"ttft": _log_histogram(ttft_ns), "tpot": _log_histogram(tpot_ns)}}
    ]
    samples = {name: token_samples(nodes, name) for name in ("ttft", "tpot")}
    assert samples["ttft"] is not None and samples["ttft"].size == 10_000
    ttft = block({"50.00": 50.0, "99.00": 55.0}, 60.0, 4000.0)
    tpot = block({"50.00": 1.0, "99.00": 1.1}, 100.0, 1.2)
    svg = token_plot({"ttft_ms": ttft, "tpot_ms": tpot}, samples)
    assert svg is not None
    texts = svg_texts(svg)
    assert "TTFT (ms), as the QDL measured" in texts and "TPOT (ms), as the QDL measured" in texts
    assert any(t.startswith("max 4") and t.endswith("ms") for t in texts)  # about 4000 ms
    assert "1 beyond the axis" in texts
    assert "bound 60 ms" in texts and "bound 100 ms (beyond the axis)" in texts
    ticks = axis_ticks(svg, "x")
    assert max(ticks) < 200  # the TTFT axis ends near its p99.9 (and the bound), not at 4 s


def test_a_log_without_token_results_has_no_token_block():
    assert token_latencies("Server", {"result_99.00_percentile_latency_ns": 5}) is None
    values = {
        "requested_use_token_latencies": True,
        "effective_target_latency_percentile": 0.9,
        "result_first_token_mean_latency_ns": 3_000_000,
        "result_first_token_90.00_percentile_latency_ns": 4_000_000,
        "result_time_per_output_token_90.00_percentile_ns": 500_000,
        "result_tokens_per_second": 123.0,
    }
    offline = token_latencies("Offline", values)
    assert offline is not None and offline["target_percentile"] == "90.00"
    assert offline["ttft_ms"]["at_target_percentile"] == 4.0
    assert offline["ttft_ms"]["bound"] is None and offline["ttft_ms"]["bound_met"] is None
    assert offline["tpot_ms"]["at_target_percentile"] == 0.5
    assert offline["tokens_per_second"] == {"name": "tokens_per_second", "value": 123.0}


# --- what the QDL counts for the live display ---------------------------------------------


def test_the_qdl_counts_ttft_and_tpot_only_in_token_runs(recording):
    from qdl import MockTransport, NodeDescription, QueryDispatchLibrary
    from qdl._wire import pb
    from qdl.transports import echo_handler
    from tests.qdl.conftest import loaded_qsl, queries

    def node(handler):
        return MockTransport(handler, description=NodeDescription(address="mock:1", name="m"))

    llm = node(lambda batch: None)  # answers when the test says
    with QueryDispatchLibrary([llm], loaded_qsl(count=4), recording) as qdl:
        qdl.issue_query(queries([[2]])[0])
        rid = llm.received[0].samples[0].response_id
        first = pb.SampleResult(response_id=rid, kind=pb.SampleResult.KIND_FIRST_TOKEN)
        llm.respond(pb.ResponseBatch(results=[first]))
        time.sleep(0.06)
        final = pb.SampleResult(response_id=rid, payload=b"tok", n_tokens=7)
        llm.respond(pb.ResponseBatch(results=[final]))
        (account,) = qdl.accounts
        (ttft,) = account.ttfts_since(0)
        (tpot,) = account.tpots_since(0)
        (round_trip,) = account.round_trips_since(0)
        assert sum(account.report()["token_histograms"]["tpot"]["counts"]) == 1
    assert 0 < ttft < round_trip
    assert tpot >= 0.06e9 / 6  # at least the 60 ms between first token and answer, over 6
    assert tpot <= (round_trip - ttft) / 6 * 1.01

    plain = node(echo_handler)
    with QueryDispatchLibrary([plain], loaded_qsl(count=4), recording) as qdl:
        qdl.issue_query(queries([[1]])[0])
        (account,) = qdl.accounts
        assert len(account.round_trips_since(0)) == 1
        assert len(account.ttfts_since(0)) == 0 and len(account.tpots_since(0)) == 0
        assert "token_histograms" not in account.report()


def test_the_terminal_table_shows_ttft_and_tpot_against_their_bounds():
    from rich.console import Console

    from lon._progress import Target, View, plain_line, rich_table

    target = Target("Server", 1.0, 100.0, 10.0, 99.0, True, 2000.0, 200.0)
    view = View(1.0, 10, 8, 2, 8.0, 3.0, [], ttft_ms=2500.0, tpot_ms=12.5)
    console = Console(record=True, width=120, force_terminal=True)
    console.print(rich_table(view, target))
    text = console.export_text(clear=False)
    assert re.search(r"p99 TTFT\s+│\s+2500.00 ms\s+│\s+2000 ms", text), text
    assert re.search(r"p99 TPOT\s+│\s+12.50 ms\s+│\s+200 ms", text), text
    assert "[red]" not in text and "\x1b[31m" in console.export_text(styles=True)  # over: red
    line = plain_line(view, target)
    assert "p99 TTFT 2500.00 ms (bound 2000 ms) TPOT 12.50 ms (bound 200 ms)" in line
    plain = Target("Server", 1.0, 100.0, 10.0, 99.0)
    assert "TTFT" not in plain_line(view, plain)
    console = Console(record=True, width=120)
    console.print(rich_table(view, plain))
    assert "TTFT" not in console.export_text()
