"""A stranger who opens Infer streams and health Watch calls and sends nothing cannot lock a
LoadGen out of a node: unused streams end after a short grace, health has a budget of its own,
and a LoadGen that is refused retries within its connect timeout. With mTLS the stranger never
gets past the handshake. Real nodes, real gRPC clients, loopback only."""

from __future__ import annotations

import contextlib
import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from lon._run import parse_options, run
from protos.v1 import sut_node_pb2 as pb
from qdl import ConnectError, QueryDispatchLibrary, Timeouts
from qdl.transports import GrpcTransport
from sut_server import NodeConfig, run_server
from tests.certificates import Certificates, make_certificates
from tests.qdl.conftest import RecordingLoadgen, loaded_qsl, queries

from .conftest import sample

IDLE_STREAMS = 32  # the node's whole default --streams-limit
WATCHES = 40
INFER = "/lon.v1.SutNode/Infer"
WATCH = "/grpc.health.v1.Health/Watch"


class Stranger:
    """Opens Infer streams that send nothing and health Watch calls, and holds them."""

    def __init__(self, channel: grpc.Channel, timeout: float | None) -> None:
        self.channel = channel
        self.timeout = timeout
        self._release = threading.Event()
        self.calls: list[grpc.Future] = []

    def _nothing(self) -> Iterator[bytes]:
        self._release.wait()
        return
        yield b""  # a generator that sends nothing until released

    def open(self, streams: int, watches: int) -> None:
        infer = self.channel.stream_stream(INFER)
        watch = self.channel.unary_stream(
            WATCH,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        for _ in range(streams):
            self.calls.append(infer(self._nothing(), timeout=self.timeout))
        for _ in range(watches):
            self.calls.append(watch(health_pb2.HealthCheckRequest(), timeout=self.timeout))

    def close(self) -> None:
        self._release.set()
        for call in self.calls:
            call.cancel()
        self.channel.close()


@contextlib.contextmanager
def stranger(
    channel: grpc.Channel, streams: int, watches: int, timeout: float | None = None
) -> Iterator[Stranger]:
    s = Stranger(channel, timeout)
    try:
        s.open(streams, watches)
        yield s
    finally:
        s.close()


def wait_until(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.01)


def lon_run(tmp_path, address: str, *flags: str) -> tuple[int, str, str]:
    argv = [
        "--nodes", address, "--scenario", "SingleStream", "--synthetic", "8:uint8:16",
        "--output", str(tmp_path / "out"), "--set", "min_duration_ms=200",
        "--set", "min_query_count=128", "--set", "single_stream_expected_latency_ns=500000", *flags,
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def secure(address: str, credentials: grpc.ChannelCredentials) -> grpc.Channel:
    return grpc.secure_channel(address, credentials)


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


def test_a_held_plaintext_node_still_serves_a_lon_run_that_starts_meanwhile(tmp_path, capfd):
    with run_server(NodeConfig(name="held", grace_s=1.0)) as node:
        address = f"127.0.0.1:{node.port}"
        with stranger(grpc.insecure_channel(address), IDLE_STREAMS, WATCHES):
            wait_until(lambda: node.statistics().streams_open == IDLE_STREAMS)
            code, out, err = lon_run(tmp_path, address)  # default connect timeout: 3 s
            assert code == 0, err
            assert "Result is : VALID" in out
            # The stranger's streams were ended for carrying nothing; the run's were served.
            assert node.statistics().streams_served >= IDLE_STREAMS + 1
    log = capfd.readouterr().err
    assert f"all {IDLE_STREAMS} stream slots are taken (by ipv4:127.0.0.1 x{IDLE_STREAMS})" in log


def test_unauthenticated_strangers_never_reach_an_mtls_nodes_budget(certs, tmp_path):
    config = NodeConfig(
        name="secure", tls_cert=certs.node_cert, tls_key=certs.node_key,
        tls_client_ca=certs.ca, grace_s=1.0,
    )  # fmt: skip
    with run_server(config) as node:
        address = f"127.0.0.1:{node.port}"
        ca = Path(certs.ca).read_bytes()
        no_cert = grpc.ssl_channel_credentials(ca)
        other = grpc.ssl_channel_credentials(
            ca,
            Path(certs.other_client_key).read_bytes(),
            Path(certs.other_client_cert).read_bytes(),
        )
        with (
            stranger(secure(address, no_cert), IDLE_STREAMS, WATCHES, timeout=20) as a,
            stranger(secure(address, other), IDLE_STREAMS, WATCHES, timeout=20) as b,
        ):
            # Every call of theirs fails (the handshake refuses them); none was ever admitted.
            for call in a.calls + b.calls:
                with pytest.raises(grpc.RpcError):
                    list(call)
            assert node.statistics().streams_served == 0
            flags = ["--tls-ca", certs.ca, "--tls-cert", certs.client_cert,
                     "--tls-key", certs.client_key]  # fmt: skip
            code, out, err = lon_run(tmp_path, address, *flags)
        assert code == 0, err
        assert "Result is : VALID" in out


def test_health_calls_have_a_budget_of_their_own():
    with run_server(NodeConfig(name="h", health_calls=2, streams_limit=1, grace_s=1.0)) as node:
        address = f"127.0.0.1:{node.port}"
        with stranger(grpc.insecure_channel(address), 0, 3) as s:
            # Two Watch calls hold the budget; whichever came third is refused at once.
            wait_until(lambda: any(call.done() for call in s.calls))
            (refused,) = [call for call in s.calls if call.done()]
            assert refused.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "--health-calls" in refused.details()
            # The Infer stream slot is untouched by them.
            transport = GrpcTransport(address, timeouts=Timeouts(connect=20.0))
            qsl = loaded_qsl(count=4)
            recording = RecordingLoadgen()
            with QueryDispatchLibrary([transport], qsl, recording) as qdl:
                for q in queries([[0], [1], [2]]):
                    qdl.issue_query(q)
                recording.wait_for(3)
                assert qdl.failure is None


def test_a_stream_sending_only_empty_messages_is_ended_as_unused():
    with run_server(NodeConfig(name="e", unused_stream_grace_s=0.3, grace_s=1.0)) as node:
        channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
        stop = threading.Event()

        def empties() -> Iterator[bytes]:
            while not stop.wait(0.05):
                yield b""  # an empty SampleBatch

        try:
            call = channel.stream_stream(INFER)(empties())
            with pytest.raises(grpc.RpcError) as info:
                list(call)
            assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "carried no samples for 0.3 s" in info.value.details()
            assert "--unused-stream-grace" in info.value.details()
        finally:
            stop.set()
            channel.close()


def test_the_qdl_reopens_its_streams_the_node_ended_unused():
    """The LoadGen's own streams may wait longer than the grace for their first sample (the
    QSL loading, say): the node ends them, the QDL opens them again, and no sample is lost."""
    config = NodeConfig(name="slow-start", unused_stream_grace_s=0.2, grace_s=1.0)
    with run_server(config) as node:
        transport = GrpcTransport(f"127.0.0.1:{node.port}", streams=2)
        recording = RecordingLoadgen()
        with QueryDispatchLibrary([transport], loaded_qsl(count=8), recording) as qdl:
            wait_until(lambda: node.statistics().streams_served >= 4)  # ended, reopened, twice
            assert qdl.failure is None
            for q in queries([[i] for i in range(8)]):
                qdl.issue_query(q)
            recording.wait_for(8)
            assert qdl.failure is None
        assert recording.completed_ids() == {rid: 1 for rid in range(1, 9)}


def test_a_refused_loadgen_retries_then_names_who_holds_the_streams():
    with run_server(NodeConfig(name="full", streams_limit=1, grace_s=1.0)) as node:
        address = f"127.0.0.1:{node.port}"
        channel = grpc.insecure_channel(address)
        outgoing: list[bytes] = [pb.SampleBatch(samples=[sample(1, b"x")]).SerializeToString()]
        release = threading.Event()

        def one_then_wait() -> Iterator[bytes]:
            yield from outgoing
            release.wait()

        call = channel.stream_stream(INFER)(one_then_wait())
        try:
            next(call)  # answered: the stream has carried a sample, so it is not unused
            transport = GrpcTransport(address, timeouts=Timeouts(connect=1.0))
            qdl = QueryDispatchLibrary([transport], loaded_qsl(count=4), RecordingLoadgen())
            with pytest.raises(ConnectError) as info:
                qdl.connect()
            text = str(info.value)
            assert "refused for 1 s (the connect timeout)" in text
            assert "already serves 1 Infer streams" in text and "held by ipv4:127.0.0.1 x1" in text
        finally:
            release.set()
            call.cancel()
            channel.close()
