"""lon-run against sut-server nodes in network namespaces built by deploy/netns/lan.sh."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

from ..conftest import FINISHED

LAN_SH = ROOT / "deploy" / "netns" / "lan.sh"
PREFIX = f"lt{os.getpid() % 100000}"
SUBNET = 100 + os.getpid() % 150
READY_TIMEOUT_S = 60
RUN_TIMEOUT_S = 300  # bounds against hanging, not speed tests


def _lan(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(LAN_SH), *args, "--prefix", PREFIX, "--subnet", str(SUBNET)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _node_addr(i: int) -> str:
    return f"10.{SUBNET}.0.{10 + i}"


def _start_node(i: int, log: Path) -> subprocess.Popen[str]:
    with open(log, "w") as err:
        proc = subprocess.Popen(
            ["ip", "netns", "exec", f"{PREFIX}-node{i}", sys.executable, "-m", "sut_server"]
            + ["--listen", f"{_node_addr(i)}:50051", "--backend", "echo"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    assert line.startswith("sut-server ready:"), (line, log.read_text())
    assert f"listen={_node_addr(i)}:50051" in line
    return proc


@pytest.fixture
def lan(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("the 'ip' command (iproute2) is not installed")
    rate = getattr(request, "param", None)
    args = ["up", "--nodes", "2"] + (["--rate", rate] if rate else [])
    made = _lan(*args)
    procs: list[subprocess.Popen[str]] = []
    try:
        if made.returncode != 0 and "ip netns add" in made.stderr:
            pytest.skip(f"no network namespaces here: {made.stderr.strip()}")
        assert made.returncode == 0, made.stderr
        for i in (1, 2):
            procs.append(_start_node(i, tmp_path / f"node{i}.log"))
        yield [f"{_node_addr(i)}:50051" for i in (1, 2)]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
        _lan("down")


def _run(nodes: list[str], out: Path, scenario: str, *extra: str) -> subprocess.CompletedProcess:
    cmd = ["ip", "netns", "exec", f"{PREFIX}-lg", sys.executable, "-m", "lon._run"]
    cmd += ["--nodes", ",".join(nodes), "--scenario", scenario, "--output", str(out)]
    cmd += ["--set", "min_duration_ms=1000", "--set", "min_query_count=200", *extra]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    assert done.returncode in FINISHED, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "mlperf_log_summary.txt").is_file()
    return done


def _nodes(out: Path) -> list[dict]:
    return json.loads((out / "lon_node_stats.json").read_text())["nodes"]


def _samples_per_second(out: Path) -> float:
    for line in (out / "mlperf_log_summary.txt").read_text().splitlines():
        if line.startswith("Samples per second"):
            return float(line.split(":")[1])
    raise AssertionError("no 'Samples per second' line in the summary")


def _packets_to_node(i: int) -> int:
    """Packets the bridge has sent towards node ``i`` (its port's transmit counter)."""
    shown = subprocess.run(
        ["ip", "-n", f"{PREFIX}-br", "-s", "-j", "link", "show", f"{PREFIX}v{i}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    return int(json.loads(shown.stdout)[0]["stats64"]["tx"]["packets"])


def test_server_and_offline_reach_both_nodes(lan: list[str], tmp_path: Path) -> None:
    for scenario, extra in (
        ("Server", ("--set", "server_target_qps=300")),
        ("Offline", ("--set", "offline_expected_qps=500")),
    ):
        out = tmp_path / scenario
        _run(lan, out, scenario, "--synthetic", "8x8:uint8:64", *extra)
        nodes = _nodes(out)
        assert len(nodes) == 2
        assert all(n["samples"] > 0 for n in nodes), nodes


@pytest.mark.parametrize("lan", ["50mbit"], indirect=True)
def test_rate_limited_offline_stays_under_the_link_rate(lan: list[str], tmp_path: Path) -> None:
    out = tmp_path / "Offline"
    _run(lan, out, "Offline", "--synthetic", "256x256x3:uint8:16")
    nodes = _nodes(out)
    total = sum(n["samples"] for n in nodes)
    assert total >= 200 and all(n["samples"] > 0 for n in nodes), nodes
    seconds = total / _samples_per_second(out)
    for node in nodes:
        mbit_per_s = node["bytes_sent"] * 8 / seconds / 1e6
        print(f"{node['address']}: {mbit_per_s:.1f} Mbit/s over {seconds:.2f} s")
        # The link's rate is a ceiling: a busy machine sends less, never more. (Unlimited,
        # 196 KiB samples cross a veth pair at several Gbit/s.)
        assert 0 < mbit_per_s < 50, node


def test_lan_sh_rejects_bad_input_clearly() -> None:
    bad = _lan("up", "--nodes", "0")
    assert bad.returncode != 0
    assert "--nodes 0" in bad.stderr and "Traceback" not in bad.stderr
    status = _lan("status")
    assert status.returncode == 0 and f"LAN {PREFIX}: down" in status.stdout


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv to drop root")
def test_lan_sh_says_it_needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("already not root: nothing to drop")
    # The script goes in on stdin: the checkout may sit where user 65534 cannot read it.
    done = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", "-s", "up"],
        input=LAN_SH.read_bytes(),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode != 0 and b"must run as root" in done.stderr


def test_a_cut_link_ends_the_run_within_seconds_naming_the_node(
    lan: list[str], tmp_path: Path
) -> None:
    cmd = ["ip", "netns", "exec", f"{PREFIX}-lg", sys.executable, "-m", "lon._run"]
    cmd += ["--nodes", ",".join(lan), "--scenario", "Server", "--output", str(tmp_path / "cut")]
    cmd += ["--synthetic", "8x8:uint8:64", "--set", "server_target_qps=300"]
    cmd += ["--set", f"min_duration_ms={1000 * RUN_TIMEOUT_S}"]  # it would run for 5 minutes
    sent_before = _packets_to_node(2)
    run = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Cut only once samples flow to node 2 (100 packets: more than connecting takes).
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while _packets_to_node(2) < sent_before + 100:
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no traffic reached node 2"
            time.sleep(0.1)
        # The bridge port of node 2 goes down: its packets vanish, no reset reaches anyone.
        cut = subprocess.run(
            ["ip", "-n", f"{PREFIX}-br", "link", "set", f"{PREFIX}v2", "down"],
            capture_output=True,
            text=True,
        )
        assert cut.returncode == 0, cut.stderr
        t0 = time.monotonic()
        out, err = run.communicate(timeout=RUN_TIMEOUT_S)
        elapsed = time.monotonic() - t0
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 3, out[-2000:] + err[-2000:]
    # Detected by keepalive (seconds), long before the 5-minute run could end on its own.
    assert elapsed < 60, elapsed
    assert lan[1] in err and "went silent" in err and "outstanding" in err, err
    assert "Traceback" not in err
