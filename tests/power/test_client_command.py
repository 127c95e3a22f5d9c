"""The power client's command line (what ``lon-power command`` prints), how its failures are
read, and the analyzer-clock check: the pure pieces of ``lon-power``."""

from __future__ import annotations

import io
import shlex

import pytest

from lon._power import ClientPlan, PowerError, client_failure
from lon._power_cli import run
from lon._power_tree import clock_offset

from .conftest import power_dev_dir

NODES = ("--nodes", "10.0.0.2:50051,10.0.0.3:50051")
WORKLOAD = ("--scenario", "Offline", "--model", "resnet50", "--synthetic", "8x8x3:uint8:64")


def test_the_printed_command_runs_lon_run_twice_the_same_under_L() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run(
        ["command", "--power-dev", str(power_dev_dir()), "--server", "10.0.0.1"]
        + ["--ntp", "pool.ntp.org", "--work", "/data/power", "--", *NODES, *WORKLOAD],
        out,
        err,
    )
    assert code == 0, err.getvalue()
    argv = shlex.split(out.getvalue())
    assert argv[1].endswith("ptd_client_server/client.py")
    opts = dict(zip(argv[2::2], argv[3::2]))
    assert opts["-a"] == "10.0.0.1" and opts["-n"] == "pool.ntp.org" and opts["-p"] == "4950"
    assert opts["-L"] == "/data/power/logs" and opts["-o"] == "/data/power/session"
    workload = shlex.split(opts["-w"])
    assert workload[0] == "lon-run" and "--quiet" in workload
    assert "--loadgen official" in opts["-w"]  # results come from the official LoadGen
    assert workload[-2:] == ["--output", "/data/power/logs/loadgen"]


@pytest.mark.parametrize("flag", ["--output", "--submission-dir=x"])
def test_the_workload_may_not_choose_its_output(flag: str) -> None:
    plan = ClientPlan("/pd", "s", "n", "/w/logs", "/w/session", (*NODES, flag, "x"))
    with pytest.raises(PowerError, match="set by the power run"):
        plan.workload()


def test_a_lon_run_mistake_shows_before_the_lab() -> None:
    with pytest.raises(SystemExit):  # argparse's usage line, as lon-run itself prints it
        run(
            ["command", "--power-dev", str(power_dev_dir()), "--server", "s", "--ntp", "n"]
            + ["--work", "w", "--", *NODES, "--scenario", "Nope"],
            io.StringIO(),
            io.StringIO(),
        )


def test_a_missing_power_dev_is_one_line(tmp_path) -> None:
    err = io.StringIO()
    argv = ["command", "--power-dev", str(tmp_path), "--server", "s", "--ntp", "n", "--work", "w"]
    assert run([*argv, "--", *NODES, *WORKLOAD], io.StringIO(), err) == 3
    assert err.getvalue().count("\n") == 1 and "no ptd_client_server" in err.getvalue()


def test_client_failures_are_read_from_its_log() -> None:
    refused = ["client 2026 [CRITICAL] Could not connect to the server 1.2.3.4:4950 [Errno 111]"]
    assert client_failure(refused, 1).startswith("power client: Could not connect")
    workload = [
        "client x [INFO] Running workload in ranging mode",
        "lon-run: error: cannot reach node 10.0.0.2:50051",
        "subprocess.CalledProcessError: Command 'lon-run' returned non-zero exit status 2.",
    ]
    assert client_failure(workload, 1) == (
        "the workload failed in the ranging run (lon-run exit status 2): "
        "cannot reach node 10.0.0.2:50051"
    )
    invalid = [
        "client x [INFO] Running workload in testing mode",
        "lon-run: the run is INVALID (see out/mlperf_log_summary.txt)",
        "subprocess.CalledProcessError: Command 'lon-run' returned non-zero exit status 1.",
    ]
    assert client_failure(invalid, 1) == (
        "the workload failed in the testing run (lon-run exit status 1): "
        "the run is INVALID (see out/mlperf_log_summary.txt)"
    )
    assert client_failure([], 0) == "power client exited with status 0 before it finished"


def test_a_failed_clock_check_says_what_to_sync() -> None:
    ntp = [
        "client x [WARNING] The time offset between the system time and ntp.lan is more then "
        "400 ms (-1500.000 ms)",
        "subprocess.CalledProcessError: Command '['ntpdate', '-b', '--', 'ntp.lan']' returned "
        "non-zero exit status 1.",
    ]
    assert client_failure(ntp, 0).startswith("this machine's clock is +1.5 s off the NTP server")
    server = [
        "client x [WARNING] The time difference between the client and the server is more than "
        "400 ms"
    ]
    assert client_failure(server, 0).startswith("the power server's clock is more than 0.4 s off")


def test_clock_offset_is_how_far_samples_lie_outside_the_measurement() -> None:
    assert clock_offset([11.0, 12.0, 13.0], go=10.0, stop=13.2) == 0.0
    assert clock_offset([12.0, 13.0, 15.0], go=10.0, stop=13.2) == pytest.approx(1.8)
    assert clock_offset([8.0, 9.0, 10.5], go=10.0, stop=13.2) == pytest.approx(-2.0)
    assert clock_offset([], go=10.0, stop=13.2) == 0.0


def test_placing_an_incomplete_session_is_one_line(tmp_path) -> None:
    (tmp_path / "session" / "power").mkdir(parents=True)
    err = io.StringIO()
    tree = ["--submission-dir", str(tmp_path / "root"), "--division", "network"]
    tree += ["--submitter", "Org", "--system", "lan2"]
    code = run(
        ["place", str(tmp_path / "session"), *tree, "--", *NODES, *WORKLOAD], io.StringIO(), err
    )
    assert code == 3
    assert err.getvalue().count("\n") == 1
    assert "is not a complete power session: no power/client.json" in err.getvalue()
    assert not (tmp_path / "root").exists()


def test_an_earlier_session_is_never_overwritten(tmp_path) -> None:
    (tmp_path / "work" / "session").mkdir(parents=True)
    err = io.StringIO()
    argv = ["run", "--power-dev", str(power_dev_dir()), "--server", "127.0.0.1", "--ntp", "n"]
    argv += ["--work", str(tmp_path / "work"), "--", *NODES, *WORKLOAD]
    assert run(argv, io.StringIO(), err) == 3
    assert err.getvalue().count("\n") == 1 and "holds an earlier session" in err.getvalue()


def test_our_loadgen_in_a_tree_needs_rehearsal(tmp_path) -> None:
    head = ["command", "--power-dev", str(power_dev_dir()), "--server", "s", "--ntp", "n"]
    head += ["--work", "w", "--submission-dir", str(tmp_path), "--division", "network"]
    head += ["--submitter", "Org", "--system", "lan2"]
    ours = ["--", *NODES, *WORKLOAD, "--loadgen", "ours"]
    err = io.StringIO()
    assert run([*head, *ours], io.StringIO(), err) == 2
    assert err.getvalue().count("\n") == 1 and "add --rehearsal" in err.getvalue()
    out = io.StringIO()
    assert run([*head, "--rehearsal", *ours], out, io.StringIO()) == 0
    assert "--loadgen ours" in out.getvalue() and "--loadgen official" not in out.getvalue()
