"""lon-run: bad input gives one line and exit code 2; real runs write logs and node stats."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

import loadgen
from loadgen._limits import BYTES_PER_SAMPLE, MAX_PREGENERATED_SAMPLES, machine_memory
from lon._run import main, parse_options, run
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, free_port, need_loadgen
from tests.qdl.echo_node import echo_process


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), out, err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def node():
    with echo_process("--name", "cli-node") as (_, address):
        yield address


# A LoadGen that can be set up here; the bad-input tests are about everything else.
USABLE = "ours" if hasattr(loadgen, "run_test") else "official"


def base(node, tmp_path, *extra):
    return [
        "--nodes", node, "--scenario", "Offline", "--output", str(tmp_path / "out"),
        "--loadgen", USABLE, *extra,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--synthetic", "4:uint8:8", "--set", "min_durration_ms=5"],
         "key 'min_durration_ms': not a TestSettings field; did you mean 'min_duration_ms'?"),
        (["--synthetic", "4:uint8:8", "--set", "min_duration_ms"], "expected FIELD=VALUE"),
        (["--synthetic", "4:uint8:8", "--set", "min_duration_ms=soon"], "is not an integer"),
        (["--synthetic", "4x4:uint8"], "expected SHAPE:DTYPE:COUNT"),
        (["--synthetic", "4x-4:uint8:8"], "bad SHAPE '4x-4'"),
        (["--synthetic", "4:uint8:8", "--performance-count", "9"],
         "performance count must be 1..8"),
        (["--synthetic", "4:uint8:8", "--compression", "zstd", "--zstd-level", "40"],
         "zstd level must be 1..22, got 40"),
        (["--synthetic", "4:uint8:8", "--streams-per-node", "0"], "streams_per_node must be >= 1"),
        (["--synthetic", "4:uint8:8", "--user-conf", "/no/such/user.conf"], "/no/such/user.conf"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(node, tmp_path, extra, message):
    code, out, err = run_cli(base(node, tmp_path, *extra))
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("lon-run: error: ")
    assert message in err
    assert out == ""


def test_missing_or_empty_dataset_dir(node, tmp_path):
    code, _, err = run_cli(base(node, tmp_path, "--dataset", str(tmp_path / "nope")))
    assert (code, err) == (2, f"lon-run: error: dataset directory {tmp_path}/nope does not exist\n")
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(base(node, tmp_path, "--dataset", str(tmp_path / "empty")))
    assert code == 2 and "is empty" in err


def test_bad_node_address(tmp_path):
    code, _, err = run_cli(base("10.0.0.1", tmp_path, "--synthetic", "4:uint8:8"))
    assert code == 2 and "node address '10.0.0.1' is not HOST:PORT" in err


def test_unreachable_node_is_named_fast(node, tmp_path):
    dead = f"127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    code, out, err = run_cli(base(f"{node},{dead}", tmp_path, "--synthetic", "4:uint8:8"))
    assert time.monotonic() - t0 < 30  # the 3 s connect timeout: it gives up, never hangs
    assert code == 2 and err.count("\n") == 1
    assert f"node {dead}: cannot connect" in err and "Connection refused" in err


def test_a_node_without_zstd_is_bad_input(tmp_path, echo_nodes):
    from protos.v1 import sut_node_pb2 as pb

    ((_, address),) = echo_nodes(1, name="old-node", compressions=(pb.COMPRESSION_NONE,))
    extra = ("--synthetic", "4:uint8:8", "--compression", "zstd")
    code, _, err = run_cli(base(address, tmp_path, *extra))
    assert code == 2 and f"old-node at {address} supports none" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["--scenario", "Offline", "--output", "o", "--synthetic", "4:uint8:8"],
        ["--nodes", "h:1", "--scenario", "Batch", "--output", "o", "--synthetic", "4:uint8:8"],
        ["--nodes", "h:1", "--scenario", "Offline", "--output", "o"],
        ["--nodes", "h:1", "--scenario", "Offline", "--output", "o", "--synthetic", "4:uint8:8",
         "--dataset", "d"],
        ["--nodes", "h:1", "--scenario", "Offline", "--output", "o", "--synthetic", "4:uint8:8",
         "--loadgen", "c++"],
        ["--nodes", "h:1", "--scenario", "Offline", "--output", "o", "--synthetic", "4:uint8:8",
         "--sample-timeout", "-1"],
        ["--nodes", "h:1", "--scenario", "Offline", "--output", "o", "--synthetic", "4:uint8:8",
         "--on-node-loss", "retry"],
    ],
)  # fmt: skip
def test_argument_errors_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lon-run: error: ")


def test_no_traceback_from_the_real_command(tmp_path):
    proc = subprocess.run(
        [*LON_RUN, "--nodes", "127.0.0.1:1", "--scenario", "Offline", "--output",
         str(tmp_path), "--synthetic", "2x:uint8:3"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr == (
        "lon-run: error: synthetic spec '2x:uint8:3': bad SHAPE '2x'; expected dimensions "
        "joined by 'x', e.g. 224x224x3\n"
    )


def short_offline(nodes, output, *extra, loadgen):
    return [
        *LON_RUN, "--nodes", ",".join(nodes), "--scenario", "Offline", "--output", str(output),
        "--set", "min_duration_ms=300", "--set", "offline_expected_qps=2000",
        "--loadgen", loadgen, *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("lg", LOADGENS)
def test_offline_run_over_two_nodes(tmp_path, lg):
    need_loadgen(lg)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(40):
        np.save(data / f"img{i:03d}.npy", np.full((8, 8, 3), i, dtype=np.uint8))
    with echo_process("--name", "left") as (_, a), echo_process("--name", "right") as (_, b):
        proc = subprocess.run(
            short_offline([a, b], tmp_path / "out", "--dataset", str(data),
                          "--compression", "zstd", "--balance", "round-robin", loadgen=lg),
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    assert "SUT name : Network SUT: 2 node(s): left, right" in proc.stdout
    assert "Scenario : Offline" in proc.stdout
    table = proc.stdout.split("No errors encountered during test.")[-1]  # after the summary
    assert re.search(rf"^left \({re.escape(a)}\) +[0-9]+ ", table, re.MULTILINE)
    assert re.search(rf"^right \({re.escape(b)}\) +[0-9]+ ", table, re.MULTILINE)
    stats = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())
    assert stats["failure"] is None and stats["compression"]["algorithm"] == "zstd"
    samples = [n["samples"] for n in stats["nodes"]]
    assert samples[0] == samples[1] > 0  # round-robin over one big query: an even split
    assert stats["samples_completed"] == stats["samples_issued"] == sum(samples)
    assert {n["name"] for n in stats["nodes"]} == {"left", "right"}
    for n in stats["nodes"]:
        assert n["timing_ms"]["compute"]["p99"] >= n["timing_ms"]["compute"]["median"]
    assert os.path.isfile(tmp_path / "out" / "mlperf_log_detail.txt")


@pytest.mark.parametrize("lg", LOADGENS)
def test_node_killed_mid_run_exits_1_naming_it(tmp_path, lg):
    need_loadgen(lg)
    with echo_process("--name", "victim", "--delay", "0.05") as (node_proc, address):
        argv = short_offline([address], tmp_path / "out", "--synthetic", "16:uint8:64", loadgen=lg)
        argv[argv.index("min_duration_ms=300")] = "min_duration_ms=60000"
        run_proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            # Kill the node once samples have reached it (the 60 s run has many more).
            announced = threading.Thread(target=node_proc.stdout.readline, daemon=True)
            announced.start()
            announced.join(60)
            assert not announced.is_alive(), "no samples reached the node"
            os.kill(node_proc.pid, signal.SIGKILL)
            out, err = run_proc.communicate(timeout=60)
        finally:
            if run_proc.poll() is None:
                run_proc.kill()
                run_proc.communicate()
    assert run_proc.returncode == 3, err
    (line,) = [x for x in err.splitlines() if x.startswith("lon-run: error: ")]
    assert line.startswith("lon-run: error: run failed: node victim at ")
    assert "samples were outstanding on it" in line
    stats = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())
    assert stats["failure"] in err
    assert stats["samples_completed"] == stats["samples_issued"]


@pytest.mark.parametrize("lg", LOADGENS)
def test_accuracy_log_holds_what_the_nodes_answered(tmp_path, lg):
    need_loadgen(lg)
    with echo_process("--name", "acc") as (_, address):
        proc = subprocess.run(
            short_offline([address], tmp_path / "out", "--synthetic", "5x3:int16:12",
                          "--mode", "AccuracyOnly", "--compression", "zstd", loadgen=lg),
            cwd=ROOT, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    entries = json.loads((tmp_path / "out" / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(12))
    for e in entries:
        rng = np.random.default_rng([0, e["qsl_idx"]])
        expected = rng.integers(-(2**15), 2**15 - 1, (5, 3), dtype=np.int16, endpoint=True)
        assert bytes.fromhex(e["data"]) == expected.astype("<i2").tobytes()


def test_a_loadgen_without_the_needed_api_is_bad_input(tmp_path, monkeypatch):
    monkeypatch.delattr(loadgen, "run_test", raising=False)
    argv = base("127.0.0.1:1", tmp_path, "--synthetic", "4:uint8:8", "--loadgen", "ours")
    code, _, err = run_cli(argv)
    assert code == 2 and "does not provide" in err and "run_test" in err


@pytest.mark.parametrize("lg", LOADGENS)
def test_a_server_run_prints_and_records_its_issue_delay(node, tmp_path, lg):
    need_loadgen(lg)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["--nodes", node, "--scenario", "Server", "--synthetic", "8:uint8:16",
         "--set", "server_target_qps=200", "--set", "min_duration_ms=300",
         "--set", "min_query_count=50", "--output", str(out), "--audit-config", "none",
         "--loadgen", lg]
    )  # fmt: skip
    assert code in FINISHED, err
    stats = json.loads((out / "lon_node_stats.json").read_text())
    delay = stats["issue_delay_ms"]
    if lg == "official":
        assert delay is None
        assert "issue delay: not measured (the official LoadGen" in stdout
        return
    assert delay["queries"] == stats["samples_issued"] >= 50
    assert 0 <= delay["median"] <= delay["p99"] <= delay["max"]
    line = re.search(
        r"^issue delay \(actual - scheduled issue\) over (\S+) queries: ", stdout, re.M
    )
    assert line and int(line.group(1).replace(",", "")) == delay["queries"]


def test_other_scenarios_record_no_issue_delay(node, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["--nodes", node, "--scenario", "SingleStream", "--synthetic", "8:uint8:16",
         "--set", "min_duration_ms=100", "--set", "min_query_count=20", "--output", str(out),
         "--audit-config", "none"]
    )  # fmt: skip
    assert code in FINISHED, err
    assert json.loads((out / "lon_node_stats.json").read_text())["issue_delay_ms"] is None
    assert "issue delay" not in stdout


# --- settings are checked before anything starts --------------------------------------------


@pytest.fixture
def silent_node():
    """A loopback listener that never answers: any connection to it would show up here."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        listener.setblocking(False)
        yield listener


def lon_run(args, cwd=ROOT):
    return subprocess.run([*LON_RUN, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _sample_limit() -> str:
    """The pre-generation limit lon-run states here: 1e9 samples, or less on a small machine."""
    memory = machine_memory()
    if memory is not None and memory // BYTES_PER_SAMPLE < MAX_PREGENERATED_SAMPLES:
        return (
            f"{memory // BYTES_PER_SAMPLE:,} samples (what {memory / 1e9:,.1f} GB of memory holds)"
        )
    return f"{MAX_PREGENERATED_SAMPLES:,} samples"


QPS_1E9 = (
    "value '1e9' would make the LoadGen pre-generate 600,000,000,000 samples (about 138,000 GB) "
    "for one Server run (1,000,000,000 QPS over 600 s of min_duration_ms from mlperf.conf "
    f"(embedded):85); the limit is {_sample_limit()}"
)


@pytest.mark.parametrize(
    ("extra", "files", "message"),
    [
        (["--scenario", "Offline", "--user-conf", "{user.conf}"],
         {"user.conf": "# mine\n*.*.min_duration = -5\n"},
         "{user.conf}:2: key '*.*.min_duration': value '-5' is negative; min_duration is "
         "unsigned, so it would wrap to 18446744073709551611"),
        (["--scenario", "Server", "--model", "mlp", "--division", "open", "--user-conf",
          "{user.conf}"],
         {"user.conf": "mlp.Server.target_qps = 0\n"},
         "{user.conf}:1: key 'mlp.Server.target_qps': value '0' must be more than 0"),
        (["--scenario", "Server", "--set", "server_target_qps=-5"], {},
         "--set: key 'server_target_qps': value '-5' is negative; server_target_qps must be "
         "more than 0"),
        (["--scenario", "Server", "--set", "server_target_qps=nan"], {},
         "--set: key 'server_target_qps': value 'nan' is not a number (NaN)"),
        (["--scenario", "Server", "--set", "server_target_qps=1e9"], {},
         f"--set: key 'server_target_qps': {QPS_1E9}"),
        (["--scenario", "Offline", "--set", "offline_expected_qps=inf"], {},
         "--set: key 'offline_expected_qps': value 'inf' is infinite"),
        (["--scenario", "Offline", "--set", "min_duration_ms=1e12"], {},
         "--set: key 'min_duration_ms': value '1e12' means a run of at least 31.7 years; the "
         "limit is 24 hours"),
        (["--scenario", "Server", "--audit-config", "{audit.config}"],
         {"audit.config": "*.*.mode = 2\n*.Server.target_qps = nan\n"},
         "{audit.config}:2: key '*.Server.target_qps': value 'nan' is not a number (NaN)"),
        (["--scenario", "Server", "--set", "scenario=Offline"], {},
         "--set scenario=Offline conflicts with --scenario Server; choose the scenario with "
         "--scenario only"),
        (["--scenario", "Offline", "--mode", "AccuracyOnly", "--set", "mode=PerformanceOnly"], {},
         "--set mode=PerformanceOnly conflicts with --mode AccuracyOnly; choose the mode with "
         "--mode only"),
        (["--scenario", "Offline", "--set", "mode=AccuracyOnly"], {},
         "--set mode=AccuracyOnly conflicts with --mode PerformanceOnly; choose the mode with "
         "--mode only"),
        (["--scenario", "Offline", "--compression", "none", "--zstd-level", "5"], {},
         "--zstd-level 5 needs --compression zstd, not --compression none"),
    ],
)  # fmt: skip
def test_bad_settings_stop_lon_run_before_anything_starts(
    tmp_path, silent_node, extra, files, message
):
    names = {}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        names[name] = str(tmp_path / name)
    fill = {"{" + k + "}": v for k, v in names.items()}
    for placeholder, value in fill.items():
        extra = [a.replace(placeholder, value) for a in extra]
        message = message.replace(placeholder, value)
    if "--audit-config" not in extra:
        extra = [*extra, "--audit-config", "none"]
    host, port = silent_node.getsockname()
    out = tmp_path / "out"
    proc = lon_run(
        ["--nodes", f"{host}:{port}", "--synthetic", "4:uint8:8", "--output", str(out), *extra]
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (2, f"lon-run: error: {message}\n", "")
    assert not out.exists()  # no logs, not even the directory
    with pytest.raises(BlockingIOError):
        silent_node.accept()  # no node was contacted


def test_a_user_conf_typo_is_a_warning_and_the_run_goes_on(node, tmp_path):
    conf = tmp_path / "user.conf"
    conf.write_text("# mine\nmlp.Server.targt_qps = 900\nmlp.Server.min_query_count = 20\n")
    out = tmp_path / "out"
    proc = lon_run(
        ["--nodes", node, "--scenario", "Server", "--model", "mlp", "--division", "open",
         "--user-conf", str(conf),
         "--set", "server_target_qps=200", "--set", "min_duration_ms=100",
         "--synthetic", "4:uint8:8", "--output", str(out), "--audit-config", "none",
         "--loadgen", USABLE]
    )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    assert proc.stderr.splitlines()[0] == (
        f"lon-run: warning: {conf}:2: key 'mlp.Server.targt_qps': unknown name 'targt_qps', so "
        "nothing reads it; did you mean 'target_qps'?"
    )
    assert "targt_qps" not in proc.stderr.split("\n", 1)[1]  # said once
    assert (out / "mlperf_log_detail.txt").is_file()
