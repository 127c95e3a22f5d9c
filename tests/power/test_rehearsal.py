"""The rehearsal end to end: power-dev's server and client, unmodified, with the stand-in as
PTDaemon and lon-run over two real nodes as the workload (through ``lon-power run``), ranging
then testing; the result laid out in a submission tree; then the official power checker and
the submission checker on that tree, which fail only on the analyzer's identity and on what
short runs and a one-scenario tree cause.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lon._nodes import NodeProcess
from tests.conftest import LON_RUN, ROOT, need_loadgen, oracle_dir
from tests.submission.test_checker_end_to_end import ALWAYS, SOMETIMES, run_checker

from .conftest import MeteredNodes, power_dev_dir, start_power_server
from .sntp import SntpResponder

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]  # the server waits 10 s x 4

WORKLOAD = (
    "--scenario", "SingleStream", "--model", "resnet50", "--synthetic", "8x8x3:uint8:64",
    "--set", "min_duration_ms=3000", "--set", "min_query_count=16",
    "--set", "single_stream_expected_latency_ns=200000",
)  # fmt: skip
TREE = ("--division", "network", "--submitter", "Org", "--system", "lan2")
IDENTITY_CHECKS = {"Check PTD commands and replies", "Check PTD configuration"}
POWER_CHECKER_FAILED = "Power WG power_checker.py did not pass for: {path}"
# What the power checker says through the submission checker, the analyzer checks failing.
ANALYZER = {
    "[ ] Check PTD commands and replies",
    "\tPTD version 'simulator' is not supported. Supported versions are ['1.11.1']",
    "[ ] Check PTD configuration",
    "\tDevice number 0 is not supported. Supported numbers are 35, 549, 8, 586, 77, 48, 49, "
    "52, 508",
    "",  # the line break before its verdict
    POWER_CHECKER_FAILED,
    "Some base checks Checks failed for: {path}",
}
# The rehearsal places one scenario's performance and accuracy runs, unscored and unsealed,
# and no compliance runs.
ONE_SCENARIO = {
    "does not have all required scenarios, missing [{scenarios}]",  # in any order
    "Missing TEST01 in compliance dir {path}",
    "Missing TEST04 in compliance dir {path}",
    "Missing accuracy file in compliance dir. Needs file {path}",
    "Missing performance file in compliance dir. Needs file {path}",
    "Missing perfomance file in compliance dir. Needs file {path}",
    "Execution occurred in running check {path} Running accuracy_check in ComplianceCheck",
    "Execution occurred in running check {path} Running performance_check in ComplianceCheck",
    "Execution occurred in running check {path} Running accuracy_result_check in AccuracyCheck",
    "is missing in {path}",
    "is not truncated",
}
PERFORMANCE = Path("network/Org/results/lan2/resnet50/SingleStream/performance")


def lon_power(
    verb: str, tmp_path: Path, env: dict[str, str], ntp: str, port: int, *args: str
) -> subprocess.CompletedProcess[str]:
    """``lon-power VERB`` as a user runs it, its work directory in ``tmp_path``; the workload
    runs under the official LoadGen (lon-power's default), so the test needs its wheel."""
    need_loadgen("official")
    return subprocess.run(
        [sys.executable, "-c", "import sys; from lon._power_cli import main; sys.exit(main())"]
        + [verb, "--power-dev", str(power_dev_dir()), "--server", "127.0.0.1"]
        + ["--port", str(port), "--ntp", ntp, "--work", str(tmp_path / "work"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )


def workload(nodes: list[NodeProcess]) -> tuple[str, ...]:
    return ("--", "--nodes", ",".join(node.address for node in nodes), *WORKLOAD)


def power_checker(performance: Path) -> tuple[set[str], set[str], str]:
    """The official power checker's passed and failed check names, and its output."""
    script = oracle_dir() / "tools" / "submission" / "power" / "power_checker.py"
    done = subprocess.run(
        [sys.executable, "-B", str(script), str(performance)], capture_output=True, text=True
    )
    passed = set(re.findall(r"\[x\] (.+)", done.stderr))
    failed = set(re.findall(r"\[ \] (.+)", done.stderr))
    return passed, failed, done.stderr


def assert_replies_pass_but_for_identity(server_json: Path) -> None:
    """The power checker's PTD-message check stops at the analyzer's identity; the rest of it
    (every reply, the ranges set back at the end) must pass too. It is run on a copy in
    memory whose Identify answer names a supported analyzer; no file changes."""
    directory = oracle_dir() / "tools" / "submission" / "power"
    spec = importlib.util.spec_from_file_location(
        "official_power_checker", directory / "power_checker.py"
    )
    assert spec is not None and spec.loader is not None
    checker = importlib.util.module_from_spec(spec)
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(checker)
    finally:
        sys.dont_write_bytecode = dont_write
    session = checker.SessionDescriptor(str(server_json))
    messages = session.json_object["ptd_messages"]
    identify = [m for m in messages if m["cmd"] == "Identify"]
    assert identify and "SIMULATOR" in identify[0]["reply"]
    identify[0]["reply"] = "YokogawaWT310,version=1.11.1-stand-in-for-this-check-only"
    checker.ptd_messages_check(session)  # raises AssertionError naming what is wrong


def test_rehearsal_passes_the_checkers_but_for_the_analyzer(
    tmp_path: Path,
    power_env: dict[str, str],
    ntp: SntpResponder,
    metered_pair: MeteredNodes,
) -> None:
    # Idle 200 W, plus 1 W per 1000 samples per second the nodes answer.
    model = f"watts=200+0.001*load,metrics={'|'.join(metered_pair.metrics)}"
    server = start_power_server(tmp_path, power_env, ntp.address, model)
    echo_pair = metered_pair.nodes
    root = tmp_path / "submission"
    try:
        done = lon_power(
            "run", tmp_path, power_env, ntp.address, server.port,
            "--submission-dir", str(root), *TREE, *workload(echo_pair),
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr + (tmp_path / "work" / "power_client.log").read_text()
    performance = root / PERFORMANCE
    placed = {str(p.relative_to(performance)) for p in performance.rglob("*") if p.is_file()}
    assert placed == {
        "power/client.json", "power/client.log", "power/ptd_logs.txt", "power/server.json",
        "power/server.log", "ranging/mlperf_log_detail.txt", "ranging/mlperf_log_summary.txt",
        "ranging/spl.txt", "run_1/mlperf_log_detail.txt", "run_1/mlperf_log_summary.txt",
        "run_1/spl.txt",
    }  # fmt: skip
    assert "SIMULATOR" in (performance / "power" / "ptd_logs.txt").read_text()
    spl = (performance / "run_1" / "spl.txt").read_text().splitlines()
    watts = [float(line.split(",")[3]) for line in spl if line.startswith("Time,")]
    assert min(watts) == 200.0 and max(watts) > 200.0  # idle around the run, more during it
    for skeleton in ("analyzer_table.md", "power_settings.md"):
        assert (performance.parents[1] / skeleton).is_file()

    # A session from a client run by hand is laid out the same by ``lon-power place``.
    again = tmp_path / "again"
    work = tmp_path / "work"
    placed_again = subprocess.run(
        [sys.executable, "-c", "import sys; from lon._power_cli import main; sys.exit(main())"]
        + ["place", str(work / "session"), "--logs", str(work / "logs")]
        + ["--submission-dir", str(again), *TREE, *workload(echo_pair)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert placed_again.returncode == 0, placed_again.stderr
    for path in placed:
        assert (again / PERFORMANCE / path).read_bytes() == (performance / path).read_bytes()

    passed, failed, output = power_checker(performance)
    assert failed == IDENTITY_CHECKS, output
    assert "Check time difference" in passed and "Check results checksum" in passed, output
    assert "PTD version 'simulator' is not supported" in output
    assert "Device number 0 is not supported" in output
    assert_replies_pass_but_for_identity(performance / "power" / "server.json")

    # The checker needs the scenario's accuracy run beside the performance one.
    nodes = ",".join(node.address for node in echo_pair)
    accuracy = ("--mode", "AccuracyOnly", "--output", str(tmp_path / "acc"), "--audit-config")
    placed_accuracy = subprocess.run(
        [*LON_RUN, "--nodes", nodes, *WORKLOAD, *TREE, "--submission-dir", str(root), *accuracy]
        + ["none"],
        capture_output=True,
        text=True,
    )
    assert placed_accuracy.returncode in (0, 1), placed_accuracy.stderr
    errors, _ = run_checker(oracle_dir(), root, tmp_path)
    errors = {re.sub(r"missing \[.*\]", "missing [{scenarios}]", e) for e in errors}
    power_errors = {e for e in errors if "power" in e.lower() or "mismatch" in e}
    assert power_errors == {POWER_CHECKER_FAILED}, errors
    assert errors >= ANALYZER, "\n".join(sorted(errors))
    assert errors - ALWAYS - SOMETIMES - ONE_SCENARIO - ANALYZER == set(), "\n".join(sorted(errors))


def test_two_analyzers_are_merged_into_one_spl(
    tmp_path: Path, power_env: dict[str, str], ntp: SntpResponder, metered_pair: MeteredNodes
) -> None:
    """Two analyzers (say, one per node): power-dev sums them into one spl.txt line each."""
    # The server's debug mode (0.5 s analyzer waits, not 10 s): the merging is the same.
    env = {**power_env, "MLPP_DEBUG": "1"}
    server = start_power_server(tmp_path, env, ntp.address, "watts=150", "watts=200")
    root = tmp_path / "submission"
    try:
        done = lon_power(
            "run", tmp_path, env, ntp.address, server.port,
            "--submission-dir", str(root), *TREE, *workload(metered_pair.nodes),
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    spl = (root / PERFORMANCE / "run_1" / "spl.txt").read_text().splitlines()
    rows = [line.split(",") for line in spl if line.startswith("Time,")]
    assert rows and all(float(row[3]) == 350.0 for row in rows)
    assert all("Analyzer1" in row and "Analyzer2" in row for row in rows)
    _, failed, output = power_checker(root / PERFORMANCE)
    assert failed == IDENTITY_CHECKS | {"Check debug is disabled on server-side"}, output
