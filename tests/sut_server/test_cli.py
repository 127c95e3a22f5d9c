"""The ``sut-server`` command as a real process: ready line, errors, graceful SIGTERM/SIGINT."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc
from tests.conftest import ROOT

from .conftest import sample

SUT_SERVER = str(pathlib.Path(sys.executable).with_name("sut-server"))
READY = re.compile(r"sut-server ready: name=(\S+) listen=127\.0\.0\.1:(\d+) backend=(\S+)")


def run(*args: str, command: tuple[str, ...] = (SUT_SERVER,)) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # so plugins under tests/ import
    return subprocess.Popen(
        [*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def ready_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines or not lines[0]:
        process.kill()
        raise AssertionError(f"no ready line; stderr: {process.communicate()[1]}")
    return lines[0]


@pytest.fixture
def processes():
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()  # also closes the pipes


def in_flight(stub: pb_grpc.SutNodeStub) -> int:
    """The node's samples admitted and not yet answered: what a short Flush reports."""
    try:
        return stub.Flush(pb.FlushRequest(), timeout=0.5).pending
    except grpc.RpcError as exc:  # the reply, due 50 ms before the deadline, came too late
        if exc.code() != grpc.StatusCode.DEADLINE_EXCEEDED:
            raise
        return 0


def test_sigterm_finishes_in_flight_work_then_exits_0(processes):
    process = run(
        "--listen", "127.0.0.1:0", "--backend", "synthetic", "--service-time-us", "3000000",
        "--workers", "3", "--name", "node-t", "--grace", "10",
    )  # fmt: skip
    processes.append(process)
    line = ready_line(process)
    match = READY.fullmatch(line.rstrip("\n"))
    assert match, line
    assert (match.group(1), match.group(3)) == ("node-t", "synthetic")
    channel = grpc.insecure_channel(f"127.0.0.1:{match.group(2)}")
    stub = pb_grpc.SutNodeStub(channel)
    assert stub.Describe(pb.DescribeRequest(), timeout=5).name == "node-t"
    health = health_pb2_grpc.HealthStub(channel)

    sent = threading.Event()

    def requests():
        for i in range(3):
            yield pb.SampleBatch(samples=[sample(i, b"in")])
        sent.set()
        time.sleep(30)  # keep the stream open: the node ends it once drained

    call = stub.Infer(requests(), timeout=30)
    results: list[pb.SampleResult] = []
    reader = threading.Thread(target=lambda: [results.extend(r.results) for r in call])
    reader.start()
    assert sent.wait(60)
    # SIGTERM once the node holds all three (3 s of work each): in flight, not yet answered.
    deadline = time.monotonic() + 60
    while in_flight(stub) < 3:
        assert time.monotonic() < deadline, "the samples never reached the node"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 60
    status = health_pb2.HealthCheckResponse.SERVING
    while status == health_pb2.HealthCheckResponse.SERVING and time.monotonic() < deadline:
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
    assert status == health_pb2.HealthCheckResponse.NOT_SERVING
    reader.join(60)
    assert not reader.is_alive()
    assert call.code() == grpc.StatusCode.OK
    assert sorted((r.response_id, r.error, len(r.payload)) for r in results) == [
        (0, "", 8), (1, "", 8), (2, "", 8),
    ]  # fmt: skip
    assert process.wait(60) == 0
    stderr = process.stderr.read()
    assert "stopped node-t: 3 samples answered" in stderr
    assert "Traceback" not in stderr
    channel.close()


def test_python_dash_m_runs_the_node_and_sigint_stops_it(processes):
    process = run("--listen", "127.0.0.1:0", command=(sys.executable, "-m", "sut_server"))
    processes.append(process)
    match = READY.fullmatch(ready_line(process).rstrip("\n"))
    assert match and match.group(3) == "echo"
    with grpc.insecure_channel(f"127.0.0.1:{match.group(2)}") as channel:
        results = list(pb_grpc.SutNodeStub(channel).Infer(
            iter([pb.SampleBatch(samples=[sample(1, b"hi")])]), timeout=10
        ))  # fmt: skip
    assert results[0].results[0].payload == b"hi"
    process.send_signal(signal.SIGINT)
    assert process.wait(10) == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--backend", "nope"], "unknown backend 'nope'"),
        (["--backend", "tests.sut_server.plugins:Missing"], "has no class 'Missing'"),
        (["--backend", "no_such_pkg.mod:Model"], "cannot import module 'no_such_pkg.mod'"),
        (["--backend", "echo", "--hidden", "3"], "does not take option(s) hidden"),
        (["--backend", "synthetic", "--backend-opt", "max_qps"], "is not KEY=VALUE"),
        (["--workers", "0"], "--workers must be an integer >= 1"),
        (["--workers", "many"], "argument --workers: invalid int value"),
    ],
)
def test_bad_backends_and_flags_exit_2_with_one_line(args, message):
    result = subprocess.run(
        [SUT_SERVER, "--listen", "127.0.0.1:0", *args],
        capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sut-server: error: ")
    assert message in lines[0]


def test_a_port_in_use_exits_1(processes):
    first = run("--listen", "127.0.0.1:0")
    processes.append(first)
    port = READY.fullmatch(ready_line(first).rstrip("\n")).group(2)
    result = subprocess.run(
        [SUT_SERVER, "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
