"""The PTDaemon stand-in: its replies as the power server and checker read them, its samples
(due every interval after Go, on a clock the test gives it), and how it says what it is."""

from __future__ import annotations

import io
import socket
import subprocess
import sys

import pytest

from lon.ptd_standin import HELLO, Analyzer, StandinError, compile_watts, parse_model
from tests.conftest import free_port


class FakeClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def analyzer(spec: str = "watts=350") -> tuple[Analyzer, FakeClock, io.StringIO, io.StringIO]:
    clock, log, samples = FakeClock(), io.StringIO(), io.StringIO()
    return Analyzer(parse_model(spec), log, samples, clock), clock, log, samples


def test_the_replies_the_power_checker_expects() -> None:
    a, clock, log, samples = analyzer()
    assert a.handle("Hello") == HELLO
    assert a.handle("RR") == "Ranges,0,20.000000,0,300.000000"
    assert a.handle("SR,V,Auto") == "Range V changed"
    assert a.handle("SR,A,1.76") == "Range A changed"
    assert a.handle("SR,A,-1").startswith("Error")
    go = a.handle("Go,1000,0,s_ranging")
    assert (
        go == "Starting untimed measurement, maximum 500000 samples at 1000ms with 0 rampup samples"
    )
    clock.t += 3.5
    assert a.handle("Stop") == "Stopping untimed measurement"
    assert a.handle("Stop") == "Error: no measurement to stop"
    assert "Invalid number of parameters" in a.handle("RL,*,*")
    lines = a.handle("RL").split("\r\n")
    assert lines[0] == "Last 3 samples"
    assert lines[1].startswith("Time,") and ",Watts,350.000000,Volts,230.000000," in lines[1]
    assert a.handle("RL") == "Last 0 samples"
    assert samples.getvalue().count(",Mark,s_ranging\n") == 3
    assert ": Go with mark 's_ranging'" in log.getvalue()
    assert ": Completed test" in log.getvalue()


def test_it_names_itself_a_simulator() -> None:
    a, *_ = analyzer()
    identify = a.handle("Identify")
    assert "SIMULATOR" in identify and "version=simulator-" in identify


def test_samples_follow_the_model_and_the_skew() -> None:
    a, clock, _, _ = analyzer("watts=100+10*t,skew=2")
    start = clock.t
    a.handle("Go,1000,0,m")
    clock.t += 2.0
    rows = a.handle("RL").split("\r\n")[1:]
    assert [r.split(",")[3] for r in rows] == ["110.000000", "120.000000"]
    assert a.now() == start + 2.0 + 2.0


@pytest.mark.parametrize(
    "spec", ["watts=__import__('os')", "watts=t.real", "color=red", "pf=2", "watts=1/0"]
)
def test_a_bad_model_is_refused(spec: str) -> None:
    with pytest.raises(StandinError):
        parse_model(spec)


def test_an_expression_is_only_arithmetic() -> None:
    assert compile_watts("max(300, 250 + 10 * t)")(10.0, 0.0) == 350.0
    assert compile_watts("200 + 0.5 * load")(0.0, 100.0) == 250.0


def test_a_real_device_type_is_refused_in_one_line(tmp_path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lon.ptd_standin",
            "-l",
            str(tmp_path / "l"),
            "-p",
            "1",
            "49",
            "COM1",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "takes only deviceType: 0" in done.stderr


def test_it_answers_over_tcp_as_the_server_starts_it(tmp_path) -> None:
    port = free_port()
    log = tmp_path / "ptd.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lon.ptd_standin", "-l", str(log), "-p", str(port), "0", "watts=5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert "SIMULATOR" in proc.stdout.readline()  # printed once it listens
        while "listening" not in proc.stdout.readline():
            pass
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"Hello\r\nIdentify\r\n")
            with s.makefile("rb") as reader:
                assert reader.readline() == HELLO.encode() + b"\r\n"
                assert b"SIMULATOR" in reader.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_load_following_model_reads_the_nodes_rate() -> None:
    clock, log, samples = FakeClock(), io.StringIO(), io.StringIO()
    rates: list[tuple[float, float]] = []

    def load(start: float, end: float) -> float:
        rates.append((start - clock.t, end - clock.t))
        return 1000.0

    a = Analyzer(parse_model("watts=100+0.1*load"), log, samples, clock, load)
    a.handle("Go,1000,0,m")
    clock.t += 2.0
    rows = a.handle("RL").split("\r\n")[1:]
    assert [r.split(",")[3] for r in rows] == ["200.000000", "200.000000"]
    assert rates == [(-2.0, -1.0), (-1.0, 0.0)]  # each sample's own interval
