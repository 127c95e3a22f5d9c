"""report.html and result.json: made by lon-run and by lon-report from any run's logs (ours,
or the official LoadGen's written on its own), valid against the schema, drawn by a browser."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from lon import _report_cli
from lon._result_json import SCHEMA_FILE
from lon._run import parse_options, run
from tests.conftest import FINISHED
from tests.qdl.echo_node import echo_process

jsonschema = pytest.importorskip("jsonschema")


def validate(doc):
    with open(SCHEMA_FILE, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(doc, schema)


@pytest.fixture(scope="module")
def our_run(tmp_path_factory):
    """A short Server run by lon-run with our LoadGen."""
    out = tmp_path_factory.mktemp("ours") / "out"
    with echo_process("--name", "report-node") as (_, address):
        code = run(
            parse_options(
                [
                    "--nodes",
                    address,
                    "--scenario",
                    "Server",
                    "--synthetic",
                    "8:uint8:16",
                    "--set",
                    "server_target_qps=200",
                    "--set",
                    "min_duration_ms=300",
                    "--set",
                    "min_query_count=50",
                    "--output",
                    str(out),
                    "--audit-config",
                    "none",
                    "--quiet",
                ]
            ),  # fmt: skip
            io.StringIO(),
            io.StringIO(),
        )
    assert code in FINISHED
    return out


OFFICIAL_RUN = textwrap.dedent(
    """
    import array, sys
    import mlperf_loadgen as lg
    ts = lg.TestSettings()
    ts.scenario = lg.TestScenario.SingleStream
    ts.mode = lg.TestMode.PerformanceOnly
    ts.min_duration_ms = 50
    ts.min_query_count = 20
    ts.use_token_latencies = True
    data = array.array("B", bytes(8))
    address = data.buffer_info()[0]
    def issue(samples):
        lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, address, 4, 1) for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, address, 8, 3) for s in samples])
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda i: None, lambda i: None)
    log = lg.LogSettings()
    log.log_output.outdir = sys.argv[1]
    log.enable_trace = True
    lg.StartTestWithLogSettings(sut, qsl, ts, log, "no-audit.config")
    """
)


@pytest.fixture(scope="module")
def official_run(tmp_path_factory):
    """A token run by the official LoadGen on its own: no lon_node_stats.json."""
    pytest.importorskip("mlperf_loadgen")
    out = tmp_path_factory.mktemp("official")
    subprocess.run(
        [sys.executable, "-c", OFFICIAL_RUN, str(out)], cwd=out, check=True, timeout=60,
        capture_output=True,
    )  # fmt: skip
    assert not (out / "lon_node_stats.json").exists()
    return out


def plots(page):
    return page.count('<section class="plot">')


def test_lon_run_writes_a_valid_result_and_a_self_contained_report(our_run):
    doc = json.loads((our_run / "result.json").read_text())
    validate(doc)
    assert doc["scenario"] == "Server" and doc["validity"] in ("VALID", "INVALID")
    assert doc["metric"]["name"] == "scheduled_samples_per_second"
    assert doc["metric"]["value"] > 0 and "99.00" in doc["latency_ms"]["percentiles"]
    assert doc["versions"]["loadgen"] == "ours"
    assert doc["token_latencies"] is None  # not a token run
    (node,) = doc["nodes"]
    assert node["name"] == "report-node" and node["samples"] >= 50
    page = (our_run / "report.html").read_text()
    # latency, rates, issue delay, per-node breakdown, samples per message
    assert plots(page) == 5 and page.count("<svg") == 5
    assert "samples per" in page.lower()
    assert "<link" not in page and "src=" not in page  # nothing to fetch: opens offline


def test_lon_report_remakes_both_from_the_official_loadgens_logs(official_run, capsys):
    assert _report_cli.main([str(official_run)]) == 0
    doc = json.loads((official_run / "result.json").read_text())
    validate(doc)
    assert doc["scenario"] == "SingleStream" and doc["nodes"] == []
    assert doc["metric"]["name"] == "p90_latency_ms" and doc["metric"]["unit"] == "ms"
    tokens = doc["token_latencies"]  # a token run: TTFT and TPOT, no bounds (not Server)
    assert tokens["target_percentile"] == "90.00" and tokens["ttft_ms"]["bound"] is None
    assert "90.00" in tokens["tpot_ms"]["percentiles"] and tokens["tokens_per_second"]
    page = (official_run / "report.html").read_text()
    assert plots(page) == 3  # latency, rates and token latencies (no nodes, no Server)
    assert "TTFT" in page and "TPOT" in page


def test_lon_report_on_a_directory_without_logs_is_one_line_and_exit_2(tmp_path, capsys):
    assert _report_cli.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mlperf_log_detail.txt" in err


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("no chromium here (CI installs Debian's chromium)")


def browse(page, profile, *args):
    return subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--window-size=1000,2400", *args, page.as_uri()],
        capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(profile)},
    )  # fmt: skip


def test_a_browser_runs_the_page_and_draws_its_plots(our_run, tmp_path):
    page = our_run / "report.html"
    dom = browse(page, tmp_path / "profile", "--dump-dom", "--enable-logging=stderr", "--v=0")
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The page's inline script ran (a script error would leave the marker unset, and the
    # browser logs every uncaught one) and counted the plots parsed into SVG elements.
    assert "Uncaught" not in dom.stderr
    assert 'data-plots="5"' in dom.stdout
    png = tmp_path / "report.png"
    shot = browse(page, tmp_path / "profile", f"--screenshot={png}")
    assert shot.returncode == 0 and png.is_file(), shot.stderr[-2000:]
    from PIL import Image

    image = Image.open(png).convert("L")
    assert image.size == (1000, 2400)
    colours = image.getcolors(maxcolors=1 << 16) or []
    assert len(colours) > 20  # plots and text drawn, not a blank page


def test_samples_per_message_are_plotted_when_the_qdl_recorded_them():
    from lon._report import samples_per_message_plot

    assert samples_per_message_plot([{"name": "a", "timing_ms": {}}]) is None
    nodes = [
        {"name": "a", "samples_per_message": {"messages": 9, "buckets": {"1": 6, "2-3": 3}}},
        {"name": "b", "samples_per_message": {"messages": 4, "buckets": {"4-7": 4}}},
    ]
    svg = samples_per_message_plot(nodes)
    assert svg is not None and svg.startswith("<svg") and "4-7" in svg
