"""lon-run for the LLM benchmarks: benchmark names, Interactive, token data sets, the
compression rule and prompt-token balancing, over real synthetic-llm nodes."""

from __future__ import annotations

import io
import json
import subprocess

import pandas as pd
import pytest

from lon._nodes import running_nodes, sut_server_command
from lon._run import build_qsl, build_settings, parse_options, run
from tests.conftest import FINISHED, LON_RUN, need_loadgen

LLM = ("--ttft-ms", "2", "--tpot-ms", "1", "--output-tokens", "4")
SUBMISSION = ("--division", "network", "--submitter", "Org", "--system", "lan2")


@pytest.fixture(scope="module")
def llm_nodes():
    commands = [
        sut_server_command("synthetic-llm", extra=("--name", f"llm{i}", *LLM)) for i in range(2)
    ]
    with running_nodes(commands) as nodes:
        yield [n.address for n in nodes]


def lon_run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def settings_of(*argv):
    return build_settings(
        parse_options(
            ["--nodes", "127.0.0.1:1", "--output", "o", "--synthetic-llm", "8:8:8", *argv]
        )
    )


def test_llama2_70b_server_gets_its_token_latency_bounds():
    settings = settings_of("--model", "llama2-70b-99", "--scenario", "Server")
    assert settings.ttft_latency == 2_000 * 10**6
    assert settings.tpot_latency == 200 * 10**6
    assert settings.use_token_latencies
    assert settings.scenario.name == "Server"


def test_interactive_is_server_with_the_interactive_settings():
    settings = settings_of("--model", "llama3.1-8b", "--scenario", "Interactive")
    assert settings.scenario.name == "Server"
    assert (settings.ttft_latency, settings.tpot_latency) == (500 * 10**6, 30 * 10**6)
    assert settings.use_token_latencies
    assert settings.performance_sample_count_override == 13368


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--model", "bert-99", "--scenario", "Interactive"),
         "--scenario Interactive: --model bert-99 has no Interactive settings in mlperf.conf; "
         "these have: llama2-70b-99, "),
        (("--scenario", "Interactive"),
         "--scenario Interactive needs --model, one of: llama2-70b-99, llama2-70b-99.9, "),
        (("--model", "llama2-70", "--scenario", "Server"),
         "--model 'llama2-70' is not an MLPerf benchmark; did you mean llama2-70b, "),
        (("--model", "llama3.1-8b", "--scenario", "Offline", "--compression", "zstd",
          "--division", "network"),
         "--compression zstd: the MLPerf Inference rules allow no compression for LLM "
         "benchmarks in the network division (inference_rules.adoc, Network Division, "
         "Benchmarks and QSL Preprocessing)"),
        (("--model", "llama2-70b-99", "--scenario", "Interactive", "--compression", "zstd",
          "--division", "network"),
         "allow no compression for LLM benchmarks"),
    ],
)  # fmt: skip
def test_bad_benchmark_input_is_one_line_before_any_node(tmp_path, argv, message):
    # No node listens at port 1: the error must come before any node is asked.
    code, out, err = lon_run(
        ["--nodes", "127.0.0.1:1", "--output", str(tmp_path / "o"), "--synthetic-llm", "8:8:8",
         *argv]
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err.startswith("lon-run: error: ") and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "o").exists()


def test_compression_stays_allowed_where_the_rule_does_not_apply():
    settings_of("--model", "resnet50", "--scenario", "Offline", "--compression", "zstd",
                "--division", "network")  # fmt: skip
    settings_of("--model", "llama3.1-8b", "--scenario", "Offline", "--compression", "zstd",
                "--division", "open")  # fmt: skip


def short_server(nodes, output, *extra):
    return [
        "--nodes", ",".join(nodes), "--output", str(output), "--audit-config", "none",
        "--quiet", "--set", "min_duration_ms=300", "--set", "min_query_count=24",
        "--set", "server_target_qps=80", "--set", "performance_sample_count_override=32",
        *extra,
    ]  # fmt: skip


def test_interactive_lands_in_its_own_directory_of_the_submission(llm_nodes, tmp_path):
    root = tmp_path / "submission"
    argv = short_server(
        llm_nodes, tmp_path / "out", "--scenario", "Interactive", "--model", "llama2-70b-99.9",
        "--synthetic-llm", "32:4:32", "--submission-dir", str(root), *SUBMISSION, "--rehearsal",
    )  # fmt: skip
    code, out, err = lon_run(argv)
    assert code in FINISHED, err
    scenario = root / "network" / "Org" / "results" / "lan2" / "llama2-70b-99.9" / "Interactive"
    assert (scenario / "performance" / "run_1" / "mlperf_log_summary.txt").is_file()
    user_conf = (scenario / "user.conf").read_text()
    # As the reference harness reads it: the -interactive key, in the Server scenario.
    assert "llama2-70b-interactive.Server.target_qps = 80" in user_conf
    detail = (tmp_path / "out" / "mlperf_log_detail.txt").read_text()
    assert '"key": "requested_server_ttft_latency", "value": 450000000' in detail
    assert '"key": "requested_use_token_latencies", "value": true' in detail
    stats = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())
    assert stats["dataset"]["output_tokens_advisory"] == 4
    assert stats["scenario"] == "Interactive"


def test_a_pickled_token_set_balanced_on_prompt_tokens(llm_nodes, tmp_path):
    # Shaped like the llama2-70b set: text, token ids, their lengths.
    prompts = [[1] * (5 + (i * 37) % 200) for i in range(40)]
    path = tmp_path / "open_orca.pkl"
    pd.DataFrame(
        {"input": ["q"] * 40, "tok_input": prompts, "tok_input_len": [len(p) for p in prompts]}
    ).to_pickle(path)
    out = tmp_path / "out"
    argv = [
        "--nodes", ",".join(llm_nodes), "--output", str(out), "--audit-config", "none",
        "--quiet", "--scenario", "Offline", "--model", "llama2-70b-99", "--dataset", str(path),
        "--balance", "prompt-tokens", "--set", "min_duration_ms=100",
        "--set", "min_query_count=40", "--set", "performance_sample_count_override=40",
    ]  # fmt: skip
    code, _, err = lon_run(argv)
    assert code in FINISHED, err
    stats = json.loads((out / "lon_node_stats.json").read_text())
    assert stats["balance"] == "prompt-tokens"
    assert stats["samples_completed"] == stats["samples_issued"] >= 40
    assert stats["dataset"] == {"dataset_file": str(path), "dataset_column": "tok_input"}
    issued = [n["samples_issued"] for n in stats["nodes"]]
    assert sum(issued) == stats["samples_issued"] and min(issued) > 0  # both nodes got work


def test_a_bad_dataset_file_is_one_line(tmp_path):
    path = tmp_path / "set.pkl"
    pd.DataFrame({"input": ["q"]}).to_pickle(path)
    code, _, err = lon_run(
        ["--nodes", "127.0.0.1:1", "--output", str(tmp_path / "o"), "--scenario", "Offline",
         "--dataset", str(path)]
    )  # fmt: skip
    assert (code, err) == (
        2,
        f"lon-run: error: dataset {path}: no column 'tok_input'; its columns are: input\n",
    )


def test_synthetic_prompts_take_the_benchmarks_sample_count_without_count():
    options = parse_options(
        ["--nodes", "127.0.0.1:1", "--output", "o", "--scenario", "Offline",
         "--model", "deepseek-r1", "--synthetic-llm", "8:4"]
    )  # fmt: skip
    qsl = build_qsl(options)
    assert qsl.total_sample_count() == qsl.performance_sample_count() == 4388


def test_synthetic_prompts_without_count_need_a_benchmark(tmp_path):
    code, _, err = lon_run(
        ["--nodes", "127.0.0.1:1", "--output", str(tmp_path / "o"), "--scenario", "Offline",
         "--synthetic-llm", "8:4"]
    )  # fmt: skip
    assert code == 2
    assert err == (
        "lon-run: error: --synthetic-llm 8:4: give IN:OUT:COUNT; mlperf.conf has no sample "
        "count for --model (none)\n"
    )


def test_the_official_loadgen_runs_interactive_with_the_interactive_bounds(llm_nodes, tmp_path):
    need_loadgen("official")
    out = tmp_path / "out"
    argv = short_server(
        llm_nodes, out, "--scenario", "Interactive", "--model", "deepseek-r1",
        "--synthetic-llm", "16:4:32", "--loadgen", "official",
    )  # fmt: skip
    # A process of its own: the official LoadGen keeps process-wide state.
    proc = subprocess.run(
        [*LON_RUN, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in FINISHED, proc.stderr
    detail = (out / "mlperf_log_detail.txt").read_text()
    assert '"key": "requested_scenario", "value": "Server"' in detail
    assert '"key": "requested_server_ttft_latency", "value": 1500000000' in detail
    assert '"key": "requested_server_tpot_latency", "value": 15000000' in detail


def test_user_conf_lines_under_the_checker_name_are_named_as_unread(tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text(
        "llama2-70b-99.Server.target_qps = 7\n"
        "llama2-70b-interactive.Server.target_qps = 3\n"
        "llama2-70b.Server.min_query_count = 50\n"
        "llama2-70b.Offline.target_qps = 9\n"
        "llama2-70b-99.9.Offline.target_qps = 9\n"
    )
    err = io.StringIO()
    settings = build_settings(
        parse_options(
            ["--nodes", "127.0.0.1:1", "--output", "o", "--synthetic-llm", "8:8:8",
             "--model", "llama2-70b-99", "--scenario", "Interactive", "--user-conf", str(conf)]
        ),
        err,
    )  # fmt: skip
    assert settings.server_target_qps == 3  # the -interactive key is the one read
    assert err.getvalue().splitlines() == [
        f"lon-run: warning: {conf}:1: key 'llama2-70b-99.Server.target_qps' is not read: this "
        "run reads its settings as 'llama2-70b-interactive.Server.target_qps' (mlperf.conf's "
        "name for the benchmark)",
    ]  # the Server run's line (3) is no mistake: a user.conf may serve both
