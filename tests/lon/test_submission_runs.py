"""lon-run for submission-grade runs over real nodes: FindPeakPerformance, audit.config,
the submission layout and token latencies, under our LoadGen and the official one."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from importlib import resources

import pytest

from lon._nodes import running_nodes, sut_server_command
from lon._run import parse_options, run
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen

CAPPED = ("--service-time-us", "1000", "--max-qps", "300")
"""A stand-in accelerator: 1 ms per sample, at most 300 samples/s."""


@pytest.fixture(scope="module")
def capped_node():
    with running_nodes([sut_server_command("synthetic", extra=("--name", "capped", *CAPPED))]) as (
        node,
    ):
        yield node.address


@pytest.fixture(scope="module")
def llm_node():
    command = sut_server_command(
        "synthetic-llm",
        extra=("--name", "llm", "--ttft-ms", "5", "--tpot-ms", "1", "--output-tokens", "8"),
    )
    with running_nodes([command]) as (node,):
        yield node.address


def lon_run(argv, lg, cwd=ROOT):
    """Run lon-run: in this process for our LoadGen, in a subprocess for the official one
    (it keeps process-wide state). Returns (exit code, stdout, stderr)."""
    if lg == "ours":
        out, err = io.StringIO(), io.StringIO()
        code = run(parse_options([*argv, "--loadgen", lg]), out, err)
        return code, out.getvalue(), err.getvalue()
    proc = subprocess.run(
        [*LON_RUN, *argv, "--loadgen", lg],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def server(node, output, *extra):
    return [
        "--nodes", node, "--scenario", "Server", "--synthetic", "16:uint8:64",
        "--output", str(output), "--set", "min_duration_ms=400", "--set", "min_query_count=40",
        "--set", "server_target_qps=100", *extra,
    ]  # fmt: skip


def detail_values(path):
    values = []
    for line in path.read_text().splitlines():
        if line.startswith(":::MLLOG"):
            values.append(json.loads(line[len(":::MLLOG") :]))
    return values


# --- FindPeakPerformance -------------------------------------------------------------------


@pytest.mark.parametrize("lg", LOADGENS)
def test_find_peak_over_the_network_finds_the_nodes_capacity(capped_node, tmp_path, lg):
    need_loadgen(lg)
    argv = server(
        capped_node, tmp_path / "out", "--mode", "FindPeakPerformance",
        "--set", "server_target_qps=25", "--set", "server_target_latency_ns=100000000",
        "--set", "server_find_peak_qps_decimals_of_precision=0", "--set", "min_query_count=20",
        "--set", "min_duration_ms=300", "--set", "server_find_peak_qps_boundary_step_size=3",
    )  # fmt: skip
    code, out, err = lon_run(argv, lg, cwd=tmp_path)
    assert code == 0, err
    match = re.search(r"FindPeakPerformance: peak server_target_qps = ([0-9.]+) after (\d+)", out)
    assert match, out
    peak, probes = float(match.group(1)), int(match.group(2))
    # The search starts from the base 25 QPS, which passes (else the run is an error, below).
    # The node completes at most 300 samples/s: at twice that its backlog grows by 300 a
    # second, so two thirds of a 300 ms probe's samples wait over the 100 ms bound, and a slow
    # machine only adds delay. (How close to 300 the peak comes depends on the machine.)
    assert 25 <= peak < 2 * 300
    assert probes >= 4  # the base check, at least one boundary probe and binary-search steps
    # The progress showed each probe as the search went, judged as the LoadGen judged it: the
    # peak is the highest probe shown VALID.
    shown = re.findall(r"^probe \d+: ([0-9.]+) QPS, p99 rtt .*, (VALID|INVALID)$", out, re.M)
    assert len(shown) == probes, out
    assert max(float(q) for q, verdict in shown if verdict == "VALID") == pytest.approx(
        peak, abs=0.01
    )
    assert f"*.Server.target_qps = {peak:f}" in out
    messages = [r["value"] for r in detail_values(tmp_path / "out" / "mlperf_log_detail.txt")]
    assert any(
        str(m).startswith("FindPeakPerformance: Found peak performance field") for m in messages
    )


@pytest.mark.parametrize("lg", LOADGENS)
def test_find_peak_whose_lower_bound_fails_is_a_clear_error(capped_node, tmp_path, lg):
    need_loadgen(lg)
    argv = server(
        capped_node, tmp_path / "out", "--mode", "FindPeakPerformance",
        "--set", "server_target_qps=1000", "--set", "server_target_latency_ns=20000000",
    )  # fmt: skip
    code, _, err = lon_run(argv, lg, cwd=tmp_path)
    assert code == 1
    (line,) = err.splitlines()
    assert "Initial lower bound does not satisfy performance constraints" in line
    assert "lower server_target_qps" in line
    assert "Traceback" not in err


def test_find_peak_outside_server_is_bad_input(tmp_path):
    argv = [
        "--nodes", "127.0.0.1:1", "--scenario", "Offline", "--mode", "FindPeakPerformance",
        "--synthetic", "4:uint8:8", "--output", str(tmp_path / "out"),
    ]  # fmt: skip
    code, _, err = lon_run(argv, "ours")
    assert code == 2
    assert err == (
        "lon-run: error: --mode FindPeakPerformance works only with --scenario Server, "
        "not Offline\n"
    )


# --- audit.config --------------------------------------------------------------------------

SAME_SAMPLE_AUDIT = "*.*.performance_issue_same = 1\n*.*.performance_issue_same_index = 3\n"


def offline(node, output, *extra):
    return [
        "--nodes", node, "--scenario", "Offline", "--synthetic", "16:uint8:64",
        "--output", str(output), "--set", "min_duration_ms=200", "--set",
        "offline_expected_qps=200", *extra,
    ]  # fmt: skip


def audit_applied(output):
    records = detail_values(output / "mlperf_log_detail.txt")
    found = any("Found Audit Config file" in str(r["value"]) for r in records)
    same = [r["value"] for r in records if r["key"] == "effective_performance_issue_same"]
    return found, same


@pytest.mark.parametrize("lg", LOADGENS)
def test_audit_config_in_the_working_directory_is_applied_and_logged(
    capped_node, tmp_path, monkeypatch, lg
):
    need_loadgen(lg)
    (tmp_path / "audit.config").write_text(SAME_SAMPLE_AUDIT)
    monkeypatch.chdir(tmp_path)
    code, out, err = lon_run(offline(capped_node, tmp_path / "out"), lg, cwd=tmp_path)
    assert code == 0, err
    assert f"applying audit config {tmp_path / 'audit.config'}" in out
    assert audit_applied(tmp_path / "out") == (True, [True])


def test_audit_config_by_path_and_none(capped_node, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "audit.config").write_text(SAME_SAMPLE_AUDIT)
    code, out, err = lon_run(
        offline(capped_node, tmp_path / "skipped", "--audit-config", "none"), "ours"
    )
    assert code == 0, err
    assert "applying audit config" not in out
    assert audit_applied(tmp_path / "skipped") == (False, [False])
    elsewhere = tmp_path / "compliance" / "TEST04.config"
    elsewhere.parent.mkdir()
    elsewhere.write_text(SAME_SAMPLE_AUDIT)
    code, out, err = lon_run(
        offline(capped_node, tmp_path / "named", "--audit-config", str(elsewhere)), "ours"
    )
    assert code == 0, err
    assert audit_applied(tmp_path / "named") == (True, [True])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "--audit-config {path}: no such file"),
        ("*.*.performance_issue_same 1\n", "{path}:1"),
    ],
)
def test_a_bad_audit_config_is_bad_input(tmp_path, text, message):
    path = tmp_path / "audit.config"
    if text is not None:
        path.write_text(text)
    argv = offline("127.0.0.1:1", tmp_path / "out", "--audit-config", str(path))
    code, _, err = lon_run(argv, "ours")
    assert code == 2
    assert err.startswith("lon-run: error: ") and err.count("\n") == 1
    assert message.format(path=path) in err


# --- the submission layout -----------------------------------------------------------------


SUBMISSION = ("--division", "network", "--submitter", "Org", "--system", "lan2")


def submission_args(root, model="resnet50"):
    """Lay the run out as resnet50's; Offline issues 100 samples, not mlperf.conf's 24576.
    Under our LoadGen such a tree is a rehearsal (see the tests at the end of this section)."""
    sub = (*SUBMISSION, "--model", model, "--submission-dir", str(root), "--rehearsal")
    return (*sub, "--set", "min_query_count=100")


def test_runs_are_laid_out_as_a_submission(capped_node, tmp_path):
    root = tmp_path / "submission"
    common = submission_args(root)
    perf = offline(capped_node, tmp_path / "perf", *common, "--set", "offline_expected_qps=250")
    code, out, err = lon_run(perf, "ours")
    assert code == 0, err
    org = root / "network" / "Org"
    scenario = org / "results" / "lan2" / "resnet50" / "Offline"
    run_1 = scenario / "performance" / "run_1"
    assert f"submission: {run_1}" in out
    assert f"wrote skeleton {org / 'systems' / 'lan2.json'}" in out
    assert f"still needed: {scenario / 'measurements.json'}: 5 value(s) marked FILL ME" in out
    for name in ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"):
        assert (run_1 / name).read_bytes() == (tmp_path / "perf" / name).read_bytes()
    assert not (run_1 / "lon_node_stats.json").exists()
    embedded = resources.files("loadgen").joinpath("mlperf.conf").read_text()
    assert (scenario / "mlperf.conf").read_text() == embedded
    user_conf = (scenario / "user.conf").read_text().splitlines()
    assert "resnet50.Offline.min_duration = 200" in user_conf
    assert "resnet50.Offline.target_qps = 250" in user_conf
    system = json.loads((org / "systems" / "lan2.json").read_text())
    assert system["number_of_nodes"] == 1 and system["network_protocol"] == "gRPC"
    assert system["net_software_stack_sut"].endswith("(backend synthetic)")
    assert (org / "src" / "README.md").is_file()
    readme = (scenario / "README.md").read_text()
    assert "lon-run " + " ".join(perf) in readme

    acc = offline(capped_node, tmp_path / "acc", *common, "--mode", "AccuracyOnly")
    code, out, err = lon_run(acc, "ours")
    assert code == 0, err
    accuracy = scenario / "accuracy"
    # The nodes ran the synthetic backend, whose answers lon-accuracy cannot score.
    assert f"still needed: accuracy.txt: score {accuracy / 'mlperf_log_accuracy.json'}" in out
    assert "the nodes ran backend synthetic, not numpy-mlp" in out
    assert not (accuracy / "accuracy.txt").exists()
    entries = json.loads((accuracy / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(64))
    assert (run_1 / "mlperf_log_summary.txt").is_file()  # the performance run stays
    assert "resnet50.Offline.target_qps = 250" in (scenario / "user.conf").read_text()
    assert "lon-run " + " ".join(acc) in (scenario / "README.md").read_text()


@pytest.fixture(scope="module")
def mlp_node():
    with running_nodes([sut_server_command("numpy-mlp", extra=("--name", "mlp"))]) as (node,):
        yield node.address


def test_an_accuracy_run_of_numpy_mlp_is_scored_into_accuracy_txt(mlp_node, tmp_path):
    root = tmp_path / "submission"
    argv = offline(mlp_node, tmp_path / "acc", *submission_args(root), "--mode", "AccuracyOnly")
    code, out, err = lon_run(argv, "ours")
    assert code == 0, err
    accuracy = root / "network" / "Org" / "results" / "lan2" / "resnet50" / "Offline" / "accuracy"
    lines = (accuracy / "accuracy.txt").read_text().splitlines()
    assert lines[0] == '{"accuracy": 100.0, "good": 64, "total": 64}'
    assert "still needed: accuracy.txt" not in out


def test_an_invalid_run_is_not_placed_over_a_valid_one(capped_node, tmp_path):
    root = tmp_path / "submission"
    run_1 = root / "network" / "Org" / "results" / "lan2" / "resnet50" / "Offline"
    run_1 = run_1 / "performance" / "run_1"
    code, _, err = lon_run(offline(capped_node, tmp_path / "valid", *submission_args(root)), "ours")
    assert code == 0, err
    assert "Result is : VALID" in (run_1 / "mlperf_log_summary.txt").read_text()
    # Ten samples cannot last the minimum duration: INVALID.
    short = ("--set", "min_query_count=10", "--set", "min_duration_ms=60000")
    invalid = offline(capped_node, tmp_path / "invalid", *submission_args(root), *short)
    invalid += ["--set", "offline_expected_qps=1"]
    code, out, err = lon_run(invalid, "ours")
    assert "Result is : INVALID" in (tmp_path / "invalid" / "mlperf_log_summary.txt").read_text()
    refusal = [line for line in out.splitlines() if "not placed" in line]
    assert refusal == [
        f"lon-run: not placed: this INVALID run would replace the VALID one in {run_1} "
        f"(--replace-valid allows it); the run's logs stay in {tmp_path / 'invalid'}"
    ]
    assert "Result is : VALID" in (run_1 / "mlperf_log_summary.txt").read_text()
    code, out, err = lon_run([*invalid, "--replace-valid"], "ours")
    assert f"submission: {run_1}" in out
    assert "Result is : INVALID" in (run_1 / "mlperf_log_summary.txt").read_text()
    # The README names the command of the run that is there now, not of the one it replaced.
    readme = (run_1.parents[1] / "README.md").read_text()
    assert readme.count("`performance/run_1`:") == 1
    assert "lon-run " + " ".join([*invalid, "--replace-valid"]) in readme
    assert str(tmp_path / "valid") not in readme


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((*SUBMISSION, "--model", "resnet50")[2:], "--submission-dir needs --division"),
        (("--division", "network", "--system", "s", "--model", "resnet50"), "needs --submitter"),
        (("--division", "network", "--submitter", "o", "--model", "resnet50"), "needs --system"),
        (SUBMISSION, "--submission-dir needs --model BENCHMARK"),
        ((*SUBMISSION, "--model", "mlp"), "--model 'mlp' is not an MLPerf benchmark"),
        (("--division", "closed", "--submitter", "o", "--system", "s", "--model", "mlp"),
         "--model 'mlp' is not an MLPerf benchmark"),
        (("--division", "network", "--submitter", "o", "--system", "a/b", "--model", "bert"),
         "--system 'a/b': must be a plain name"),
    ],
)  # fmt: skip
def test_submission_layout_bad_input(tmp_path, extra, message):
    """Refused before any node is contacted (none listens on port 1)."""
    argv = offline(
        "127.0.0.1:1", tmp_path / "out", "--submission-dir", str(tmp_path), "--rehearsal", *extra
    )
    code, _, err = lon_run(argv, "ours")
    assert code == 2 and message in err
    assert err.startswith("lon-run: error: ") and err.count("\n") == 1


def test_the_open_division_takes_a_model_of_its_own(capped_node, tmp_path):
    argv = offline(
        capped_node, tmp_path / "out", "--submission-dir", str(tmp_path / "s"), "--rehearsal",
        "--division", "open", "--submitter", "o", "--system", "s", "--model", "mlp",
    )  # fmt: skip
    code, out, err = lon_run(argv, "ours")
    assert code == 0, err
    assert (tmp_path / "s" / "open" / "o" / "results" / "s" / "mlp" / "Offline").is_dir()


def test_find_peak_is_not_a_submission_run(tmp_path):
    argv = server(
        "127.0.0.1:1", tmp_path / "out", "--mode", "FindPeakPerformance",
        "--submission-dir", str(tmp_path), *SUBMISSION, "--model", "resnet50", "--rehearsal",
    )  # fmt: skip
    code, _, err = lon_run(argv, "ours")
    assert code == 2 and "a FindPeakPerformance run is not part of a submission" in err


def test_our_loadgen_makes_no_submission_tree_without_rehearsal(tmp_path):
    """Refused before any node is contacted: results must come from the official LoadGen."""
    argv = offline("127.0.0.1:1", tmp_path / "out", *submission_args(tmp_path / "s"))
    argv.remove("--rehearsal")
    code, _, err = lon_run(argv, "ours")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(
        "lon-run: error: --submission-dir with --loadgen ours: MLPerf results must come from "
        "the official LoadGen (the default here); add --rehearsal"
    )
    assert not (tmp_path / "s").exists()


def test_a_rehearsal_tree_is_marked_and_not_sealed(capped_node, tmp_path):
    root = tmp_path / "submission"
    argv = offline(capped_node, tmp_path / "perf", *submission_args(root))
    code, out, err = lon_run(argv, "ours")
    assert code == 0, err
    assert "marked REHEARSAL, NOT A RESULT: not to be filed (--rehearsal)" in out
    scenario = root / "network" / "Org" / "results" / "lan2" / "resnet50" / "Offline"
    readme = (scenario / "README.md").read_text()
    assert readme.startswith("> **REHEARSAL, NOT A RESULT**: runs placed here came from the ours")
    system = json.loads((root / "network" / "Org" / "systems" / "lan2.json").read_text())
    assert system["rehearsal"] == "REHEARSAL, NOT A RESULT: runs made with the ours LoadGen"
    sealing = subprocess.run(
        [sys.executable, "-m", "loadgen.submission._cli", "seal", str(root)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert sealing.returncode == 2 and sealing.stdout == ""
    assert sealing.stderr == (
        f"lon-submission: error: {root} is a rehearsal (marked in {scenario / 'README.md'} and 1 "
        "more): its runs did not come from the official LoadGen, so it is not sealed\n"
    )


def test_a_submission_run_is_the_official_loadgens_by_default(capped_node, tmp_path):
    need_loadgen("official")
    root = tmp_path / "submission"
    argv = offline(capped_node, tmp_path / "perf", *submission_args(root))
    argv.remove("--rehearsal")
    proc = subprocess.run(
        [*LON_RUN, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )  # the official LoadGen keeps process-wide state: a process of its own
    assert proc.returncode == 0, proc.stderr
    run_1 = root / "network" / "Org" / "results" / "lan2" / "resnet50" / "Offline"
    detail = (run_1 / "performance" / "run_1" / "mlperf_log_detail.txt").read_text()
    assert '"key": "loadgen_version"' in detail and "@ lon" not in detail
    assert "REHEARSAL" not in (run_1 / "README.md").read_text()


def test_a_missing_official_wheel_is_one_line_saying_how_to_install_it(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "mlperf_loadgen.py").write_text("raise ImportError('not here')\n")
    argv = offline("127.0.0.1:1", tmp_path / "out", *submission_args(tmp_path / "s"))
    argv.remove("--rehearsal")
    env = {**os.environ, "PYTHONPATH": f"{shim}{os.pathsep}{ROOT}"}
    proc = subprocess.run(
        [*LON_RUN, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 2
    assert proc.stderr == (
        "lon-run: error: the official LoadGen (module mlperf_loadgen) is not installed: "
        "pip install 'mlcommons-loadgen==6.0.17' (Linux), or the project's 'official' extra\n"
    )


# --- token latencies -----------------------------------------------------------------------


def summary_number(text, label):
    match = re.search(rf"^{re.escape(label)}\s*:\s*([0-9.]+)$", text, re.MULTILINE)
    assert match, label
    return float(match.group(1))


@pytest.mark.parametrize("lg", LOADGENS)
def test_token_latencies_over_the_network(llm_node, tmp_path, lg):
    need_loadgen(lg)
    argv = server(
        llm_node, tmp_path / "out", "--set", "use_token_latencies=1",
        "--set", "server_target_qps=40",
    )  # fmt: skip
    code, out, err = lon_run(argv, lg, cwd=tmp_path)
    assert code in FINISHED, err
    # Every answer carried its tokens (a busy machine may still warn of issue delay).
    assert "the LoadGen logged" not in err
    ttft = summary_number(out, "50.00 percentile first token latency (ns)")
    tpot = summary_number(out, "50.00 percentile time to output token (ns)")
    latency = summary_number(out, "50.00 percentile latency (ns)")
    # The node sends the first token 5 ms after it starts and the answer 7 x 1 ms later; a
    # busy machine delays either, so only the lower bounds are certain.
    assert ttft >= 5e6
    assert latency >= 12e6
    # TPOT is (latency - TTFT) / 7 per sample, so its median is at most the latency's / 7.
    assert 0 < tpot <= latency / 7
    assert summary_number(out, "Completed tokens per second") > 0


@pytest.mark.parametrize("lg", LOADGENS)
def test_token_accuracy_log_carries_first_token_and_count(llm_node, tmp_path, lg):
    need_loadgen(lg)
    argv = server(
        llm_node, tmp_path / "out", "--mode", "AccuracyOnly", "--set", "use_token_latencies=1"
    )
    code, _, err = lon_run(argv, lg, cwd=tmp_path)
    assert code == 0, err
    entries = json.loads((tmp_path / "out" / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(64))
    for e in entries:
        assert e["token_count"] == 8
        assert e["token_data"] == e["data"][:8]  # the first int32 token, as hex


@pytest.mark.parametrize("lg", LOADGENS)
def test_answers_without_tokens_in_a_token_run_are_named(capped_node, tmp_path, lg):
    need_loadgen(lg)
    argv = server(capped_node, tmp_path / "out", "--set", "use_token_latencies=1")
    code, _, err = lon_run(argv, lg, cwd=tmp_path)
    assert code in FINISHED  # the run finished; its result is not trustworthy and says why
    assert "lon-run: warning: the LoadGen logged" in err
    assert "n_tokens argument missing or attempted to record 0 as number of tokens" in err
    assert "lon-run: hint: use_token_latencies needs a backend that sends a first token" in err
    assert "Traceback" not in err
