"""lon-submit: the plan, bad input before anything runs, resume after a kill, --redo, a node
lost mid-plan, and rehearsals; real nodes, real processes, the official LoadGen and the
checker's own table from the mlcommons/inference clone (MLPERF_INFERENCE_DIR)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lon._nodes import running_llm_nodes
from tests.conftest import need_loadgen
from tests.submission.oracle_dir import mlperf_inference_dir

LON_SUBMIT = [sys.executable, "-m", "lon.submit._cli"]
LLAMA2_CONF = """\
llama2-70b.Offline.target_qps = 100
llama2-70b.Server.target_qps = 50
llama2-70b-interactive.Server.target_qps = 20
"""
LLAMA3_CONF = "llama3_1-8b.Offline.target_qps = 40\nllama3_1-8b.Server.target_qps = 100\n"
"""The runs' settings: a Server run's queries (the audit.config's 100 in TEST06) arrive at the
target rate, so a higher one keeps the short runs short; the engines answer far faster."""


def lon_submit(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LON_SUBMIT, *argv], capture_output=True, text=True, timeout=timeout)


def test_the_plan_for_llama2_70b_matches_mlperf_conf(tmp_path):
    inference = mlperf_inference_dir()
    (tmp_path / "user.conf").write_text(LLAMA2_CONF)
    proc = lon_submit(
        "--plan", "--model", "llama2-70b-99", "--checker-version", "v6.0",
        "--scenarios", "Offline,Server,Interactive", "--submitter", "Org", "--system", "s",
        "--synthetic-llm", "1024:128", "--user-conf", str(tmp_path / "user.conf"),
        "--inference", str(inference), "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    steps = [line.split()[0] for line in lines[1:-1]]
    assert steps == [
        f"{s}/{k}"
        for s in ("Offline", "Server", "Interactive")
        for k in ("performance", "accuracy", "TEST06")
    ] + ["system", "seal", "checker", "tarball"]
    assert lines[1].split() == [
        "Offline/performance", "10.0", "min", "min", "600", "s,", "min", "24576", "queries,",
        "target", "100", "QPS",
    ]  # fmt: skip
    # mlperf.conf: 600 s minimum each; Offline 24576 queries at 100 QPS fit in it; the accuracy
    # runs cover the 24576 samples at each target; TEST06's audit.config: 100 queries, no
    # minimum duration.
    total = 3 * 600 + 24576 / 100 + 24576 / 50 + 24576 / 20 + 100 / 100 + 100 / 50 + 100 / 20
    assert lines[-1] == (
        f"9 runs, 1.0 h of runs ({total:.0f} s) by the settings' minimums, plus each run's start-up"
    )
    assert not (tmp_path / "out").exists()  # --plan runs nothing


@pytest.fixture
def inference_copy(tmp_path):
    """A clone of the parts lon-submit reads, to break one at a time."""
    inference = mlperf_inference_dir()
    copy = tmp_path / "inference"
    shutil.copytree(inference / "tools" / "submission" / "submission_checker",
                    copy / "tools" / "submission" / "submission_checker")  # fmt: skip
    shutil.copytree(inference / "compliance", copy / "compliance")
    return copy


BASE = ("--model", "llama3.1-8b", "--submitter", "Org", "--system", "lan2", "--nodes",
        "127.0.0.1:1", "--synthetic", "32:int32:64", "--scenarios", "Offline,Server")  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: (d / "compliance" / "TEST06" / "audit.config").unlink(),
         "no audit.config for TEST06 and llama3.1-8b in {inference}/compliance/TEST06"),
        (lambda d: shutil.rmtree(d / "tools"),
         "inference {inference}: no tools/submission/submission_checker/constants.py"),
    ],
)  # fmt: skip
def test_a_broken_inference_clone_is_one_line(inference_copy, tmp_path, change, message):
    change(inference_copy)
    proc = lon_submit(*BASE, "--inference", str(inference_copy), "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("lon-submit: error: " + message.format(inference=inference_copy))
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("extra", "config", "message"),
    [
        ((), "nodez = 'a:1'\n", "{config}:1: unknown key 'nodez' (did you mean nodes?)"),
        ((), "quick = 'yes'\n", "{config}:1: quick must be true or false, not 'yes'"),
        ((), "[system_description]\ncooling = 3\n",
         "{config}:2: [system_description] cooling = 3: the fields take text values"),
        ((), "model = \n", "{config}: not TOML"),
        (("--loadgen", "ours"), "", "--loadgen: loadgen ours: MLPerf results must come from "
         "the official LoadGen; add --rehearsal"),
        (("--scenarios", "Server"), "", "scenarios: the checker requires Offline of llama3.1-8b"),
        (("--scenarios", "Offline"), "",
         "scenarios: the checker requires Interactive or Server (or both) of llama3.1-8b"),
        (("--scenarios", "Offline,MultiStream"), "",
         "scenarios: llama3.1-8b on a datacenter system takes Offline, Interactive, Server, "
         "not MultiStream"),
        (("--system-type", "cloud"), "", "--system-type: system_type 'cloud': expected one of"),
        (("--checker-version", "v9.9"), "", "version 'v9.9': the checker knows v6.1,"),
        (("--model", "llama2-70b-99"), "",
         "model 'llama2-70b-99': the v6.1 checker has no such benchmark (it has llama2-70b-99.9)"),
        (("--redo", "Offline/acuracy"), "", "--redo Offline/acuracy: no such step; the steps are "
         "Offline/performance, Offline/accuracy, Offline/TEST06, Server/performance"),
        (("--synthetic-llm", "8:8"), "", "give exactly one data set"),
        (("--nodes", "nohost"), "", "nohost"),
        (("--user-conf", "/nonexistent.conf"), "", "user_conf /nonexistent.conf: no such file"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_before_anything_runs(tmp_path, extra, config, message):
    inference = mlperf_inference_dir()
    path = tmp_path / "submit.toml"
    path.write_text(config)
    proc = lon_submit(
        *BASE, *extra, "--config", str(path), "--inference", str(inference),
        "--output", str(tmp_path / "o"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("lon-submit: error: "), proc.stderr
    assert message.format(config=path) in proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stdout == ""
    assert not (tmp_path / "o").exists()


def test_a_missing_official_wheel_is_one_line_saying_how_to_install_it(tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "mlperf_loadgen.py").write_text("raise ImportError('not here')\n")
    env = {**os.environ, "PYTHONPATH": f"{shim}{os.pathsep}{Path(__file__).parents[2]}"}
    proc = subprocess.run(
        [*LON_SUBMIT, *BASE, "--inference", str(mlperf_inference_dir()), "--output",
         str(tmp_path / "o")],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "lon-submit: error: the official LoadGen (module mlperf_loadgen) is not installed: "
        "pip install 'mlcommons-loadgen==6.0.17' (Linux), or the project's 'official' extra\n"
    )


# --- runs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llm_nodes():
    need_loadgen("official")  # every run of a submission is the official LoadGen's
    with running_llm_nodes(2, "--ttft-ms", "2", "--tpot-ms", "1", "--output-tokens", "8") as nodes:
        yield ",".join(n.address for n in nodes)


def config_file(tmp_path: Path, nodes: str, **extra: str) -> Path:
    (tmp_path / "user.conf").write_text(LLAMA3_CONF)
    lines = [
        'model = "llama3.1-8b"', 'submitter = "Org"', 'system = "lan2"', f'nodes = "{nodes}"',
        'scenarios = ["Offline", "Server"]', 'synthetic = "32:int32:64"', 'user_conf = "user.conf"',
        "quick = true", f'inference = "{mlperf_inference_dir()}"',
        *(f'{k} = "{v}"' for k, v in extra.items()),
        "[system_description]", 'cooling = "air"',
    ]  # fmt: skip
    path = tmp_path / "submit.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def tree_files(output: Path) -> set[str]:
    root = output / "submission"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def state(output: Path) -> dict[str, str]:
    doc = json.loads((output / "lon_submit_state.json").read_text())
    return {k: v["outcome"] for k, v in doc["steps"].items()}


RUN_STEPS = ("Offline/performance", "Offline/accuracy", "Offline/TEST06")


def processes_naming(text: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    found.append(int(pid))
        except (OSError, ValueError):
            continue
    return found


def test_a_plan_killed_mid_way_resumes_to_the_same_tree(llm_nodes, tmp_path):
    whole = tmp_path / "whole"
    whole.mkdir()
    proc = lon_submit("--config", str(config_file(whole, llm_nodes)), "--output", str(whole / "o"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert state(whole / "o") == {
        "Offline/performance": "INVALID", "Offline/accuracy": "done", "Offline/TEST06": "PASS",
        "Server/performance": "INVALID", "Server/accuracy": "done", "Server/TEST06": "PASS",
        "system": "done", "seal": "done", "checker": "expected errors only", "tarball": "done",
    }  # fmt: skip
    system = json.loads((whole / "o" / "submission" / "network" / "Org" / "systems" /
                         "lan2.json").read_text())  # fmt: skip
    assert system["cooling"] == "air" and system["system_type"] == "datacenter"
    # What the nodes reported of their engines (the reference engine says it is a stand-in).
    assert "stand-in" in system["framework"]
    assert system["net_software_stack_sut"].startswith("sut-server ")
    assert f"(backend openai, engine {system['framework']})" in system["net_software_stack_sut"]

    cut = tmp_path / "cut"
    cut.mkdir()
    config = config_file(cut, llm_nodes)
    output = cut / "o"
    killed = subprocess.Popen(
        [*LON_SUBMIT, "--config", str(config), "--output", str(output)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (output / "lon_submit_state.json").exists():
        assert killed.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # after the first step, in the middle of the second
    killed.wait()
    assert state(output) == {"Offline/performance": "INVALID"}
    for _ in range(100):  # the step's own lon-run goes with it
        if not processes_naming(str(output)):
            break
        time.sleep(0.1)
    assert processes_naming(str(output)) == []

    resumed = lon_submit("--config", str(config), "--output", str(output))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "[1/6] Offline/performance: skipped, already INVALID" in resumed.stdout
    assert "[2/6] Offline/accuracy: about" in resumed.stdout
    assert state(output) == state(whole / "o")
    assert tree_files(output) == tree_files(whole / "o")

    # --redo with the node gone: that step fails with one clear error, exit 3, and resumes.
    dead = lon_submit(
        "--config", str(config), "--output", str(output), "--redo", "Offline/accuracy",
        "--nodes", "127.0.0.1:1",
    )  # fmt: skip
    assert dead.returncode == 3, dead.stdout[-2000:] + dead.stderr[-2000:]
    assert "[1/6] Offline/performance: skipped, already INVALID" in dead.stdout
    assert "lon-submit: Offline/accuracy failed: lon-run: error: " in dead.stdout
    assert "127.0.0.1:1" in dead.stdout.split("Offline/accuracy failed: ")[1].splitlines()[0]
    assert state(output)["Offline/accuracy"] == "failed"
    again = lon_submit("--config", str(config), "--output", str(output))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "[2/6] Offline/accuracy: done in" in again.stdout
    assert "[3/6] Offline/TEST06: skipped, already PASS" in again.stdout
    assert tree_files(output) == tree_files(whole / "o")
    readme = output / "submission" / "network" / "Org" / "results" / "lan2" / "llama3.1-8b"
    readme = readme / "Offline" / "README.md"
    assert readme.read_text().count("`accuracy`:") == 1  # the rerun's command, not both

    # A checker error that no short run explains: finished, but not ready to file (exit 1).
    config.write_text(config.read_text() + 'system_name = ""\n')
    empty = lon_submit("--config", str(config), "--output", str(output))
    assert empty.returncode == 1, empty.stdout[-2000:] + empty.stderr[-2000:]
    assert "field system_name requires a meaningful response but is empty" in empty.stdout
    assert "lon-submit: not ready to file: tree " in empty.stdout


def test_a_rehearsal_under_our_loadgen_is_marked_never_sealed_nor_packed(llm_nodes, tmp_path):
    config = config_file(tmp_path, llm_nodes, loadgen="ours")
    proc = lon_submit("--config", str(config), "--rehearsal", "--output", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "checker error: " not in proc.stdout  # each one expected of a short rehearsal
    assert "lon-submit: a rehearsal: the tree is marked, not sealed, not packed" in proc.stdout
    outcomes = state(tmp_path / "o")
    assert outcomes["seal"] == "refused" and outcomes["tarball"] == "refused"
    assert not list((tmp_path / "o").glob("*.tar.gz"))
    root = tmp_path / "o" / "submission" / "network" / "Org"
    readme = (root / "results" / "lan2" / "llama3.1-8b" / "Offline" / "README.md").read_text()
    assert readme.startswith("> **REHEARSAL, NOT A RESULT**")
    assert "rehearsal" in json.loads((root / "systems" / "lan2.json").read_text())


def sigint_as_at_a_terminal() -> None:
    """A suite started in the background (``cmd &`` in a script) passes SIGINT on ignored, and
    Python then never turns it into KeyboardInterrupt: the plan would run to its end."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_the_plan_with_130_and_records_nothing_for_the_step(llm_nodes, tmp_path):
    config = config_file(tmp_path, llm_nodes)
    output = tmp_path / "o"
    plan = subprocess.Popen(
        [*LON_SUBMIT, "--config", str(config), "--output", str(output)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        preexec_fn=sigint_as_at_a_terminal,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (output / "runs" / "Offline" / "performance").exists():
        assert plan.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(plan.pid, signal.SIGINT)  # what Ctrl-C sends: lon-submit and its lon-run
    stdout, _ = plan.communicate(timeout=60)
    assert plan.returncode == 130, stdout[-2000:]
    assert "lon-submit: interrupted during Offline/performance; run the same command" in stdout
    assert not (output / "lon_submit_state.json").exists()
