"""A node in-process: Describe, health, echo round trips, decompression and per-sample errors."""

from __future__ import annotations

import grpc
import pytest
import zstandard
from grpc_health.v1 import health_pb2, health_pb2_grpc

import sut_server
from protos.v1 import sut_node_pb2 as pb
from sut_server import BindError, ConfigError, NodeConfig, State, run_server

from .conftest import sample
from .plugins import Gated
from .test_lifecycle import wait_for

FINAL = pb.SampleResult.KIND_FINAL


def test_exported_names_are_pinned():
    assert set(sut_server.__all__) == {
        "AsyncBackend", "Backend", "BackendError", "BindError", "ConfigError", "InferRequest",
        "InferResult", "NodeConfig", "NodeServer", "NodeStatistics", "OptionReader", "State",
        "SutServerError", "run_server",
    }  # fmt: skip
    for name in sut_server.__all__:
        assert hasattr(sut_server, name)


def test_describe_reports_the_node(start_node):
    client = start_node(backend="echo", name="node-a", workers=3, max_batch=8,
                        batch_timeout_us=100, max_message_bytes=2_000_000)  # fmt: skip
    info = client.stub.Describe(pb.DescribeRequest(), timeout=5)
    assert info.name == "node-a"
    assert info.backend == "echo"
    assert info.version
    assert set(info.compressions) == {pb.COMPRESSION_NONE, pb.COMPRESSION_ZSTD}
    assert info.capacity == 3 * 1000.0  # echo knows no capacity: workers x the default
    assert (info.workers, info.max_batch, info.max_message_bytes) == (3, 8, 2_000_000)
    assert client.node.state is State.SERVING
    assert client.node.port > 0
    assert client.node.ready_line() == (
        f"sut-server ready: name=node-a listen=127.0.0.1:{client.node.port} backend=echo"
    )


def test_describe_reports_the_backend_options_in_effect_defaults_included(start_node):
    mlp = start_node(backend="numpy-mlp", backend_options={"hidden": "16"})
    info = mlp.stub.Describe(pb.DescribeRequest(), timeout=5)
    assert dict(info.backend_options) == {"hidden": "16", "classes": "10", "seed": "0"}
    synthetic = start_node(backend="synthetic", backend_options={"max_qps": "250"})
    options = synthetic.stub.Describe(pb.DescribeRequest(), timeout=5).backend_options
    assert options["max_qps"] == "250.0" and "service_time_us" in options
    echo = start_node(backend="echo")
    assert dict(echo.stub.Describe(pb.DescribeRequest(), timeout=5).backend_options) == {}


def test_capacity_comes_from_the_backend_when_it_knows(start_node):
    client = start_node(backend="synthetic", backend_options={"max_qps": "1234.5"})
    assert client.stub.Describe(pb.DescribeRequest(), timeout=5).capacity == 1234.5


def test_default_name_has_the_bound_port(start_node):
    client = start_node(backend="echo")
    assert client.node.name.endswith(f"-{client.node.port}")


def test_health_is_serving_for_the_node_and_the_server(echo):
    health = health_pb2_grpc.HealthStub(echo.channel)
    for service in ("", "lon.v1.SutNode"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_echo_round_trip_keeps_ids_payloads_and_orders_timings(echo):
    payloads = {i: bytes([i]) * (i * 100) for i in range(1, 30)}
    results = echo.infer(
        pb.SampleBatch(samples=[sample(i, p) for i, p in payloads.items() if i % 2]),
        *[pb.SampleBatch(samples=[sample(i, p)]) for i, p in payloads.items() if not i % 2],
    )
    assert sorted(r.response_id for r in results) == sorted(payloads)
    for r in results:
        assert r.kind == FINAL and not r.error
        assert r.payload == payloads[r.response_id]
        t = r.timing
        assert 0 < t.received_ns <= t.picked_ns <= t.decompressed_ns <= t.computed_ns <= t.sent_ns
    assert echo.node.statistics().samples_answered == len(payloads)


def test_zstd_payloads_are_decompressed(echo):
    data = b"an image, more or less " * 500
    packed = zstandard.ZstdCompressor(level=3).compress(data)
    assert len(packed) < len(data)
    (result,) = echo.infer(
        pb.SampleBatch(
            samples=[
                sample(7, packed, compression=pb.COMPRESSION_ZSTD, uncompressed_size=len(data))
            ]
        )
    )
    assert (result.error, result.payload) == ("", data)


@pytest.mark.parametrize(
    "bad, expected",
    [
        (dict(payload=zstandard.ZstdCompressor().compress(b"x" * 100)[:-4],
              compression=pb.COMPRESSION_ZSTD, uncompressed_size=100),
         "zstd payload cannot be decompressed"),
        (dict(payload=b"not zstd at all", compression=pb.COMPRESSION_ZSTD, uncompressed_size=9),
         "zstd payload cannot be decompressed"),
        (dict(payload=zstandard.ZstdCompressor().compress(b"x" * 100),
              compression=pb.COMPRESSION_ZSTD, uncompressed_size=99), "uncompressed_size says 99"),
        (dict(payload=b"abc", compression=7, uncompressed_size=3), "unsupported compression 7"),
        (dict(payload=b"abc", uncompressed_size=4), "payload is 3 bytes but uncompressed_size"),
    ],
)  # fmt: skip
def test_a_bad_payload_fails_only_its_sample(echo, bad, expected):
    results = echo.infer(
        pb.SampleBatch(samples=[sample(1, b"ok"), pb.Sample(response_id=2, **bad)]),
        pb.SampleBatch(samples=[sample(3, b"still ok")]),
    )
    by_id = {r.response_id: r for r in results}
    assert set(by_id) == {1, 2, 3}
    assert expected in by_id[2].error
    assert by_id[2].kind == FINAL and by_id[2].payload == b""
    assert (by_id[1].error, by_id[1].payload) == ("", b"ok")
    assert (by_id[3].error, by_id[3].payload) == ("", b"still ok")


def test_backend_failures_become_error_results(start_node):
    client = start_node(backend="tests.sut_server.plugins:Failing")
    results = client.infer(
        pb.SampleBatch(samples=[sample(1, b"fine"), sample(2, b"bad")]),
        pb.SampleBatch(samples=[sample(3, b"x", sample_index=13), sample(4, b"y")]),
        pb.SampleBatch(samples=[sample(5, b"after")]),
    )
    by_id = {r.response_id: r for r in results}
    assert by_id[1].payload == b"fine" and not by_id[1].error
    assert by_id[2].error == "bad input"
    assert "unlucky sample" in by_id[3].error and "unlucky sample" in by_id[4].error
    assert "tests.sut_server.plugins:Failing" in by_id[3].error
    assert by_id[5].payload == b"after"  # the stream survived
    assert client.node.statistics().samples_failed == 3


def test_results_ready_together_may_share_a_message(start_node):
    client = start_node(backend="echo")
    batch = pb.SampleBatch(samples=[sample(i, b"x" * 10) for i in range(50)])
    responses = list(client.stub.Infer(iter([batch]), timeout=10))
    assert sum(len(r.results) for r in responses) == 50
    assert len(responses) == 1  # one backend batch -> one ResponseBatch


def test_flush_answers_at_once_with_what_is_still_pending(start_node):
    # The node holds the samples until the test opens the gate; Flush is a hint, so it must
    # answer while they are held (a Flush that waited for them would not answer at all).
    Gated.GATE.clear()
    Gated.STARTED.clear()
    client = start_node(backend="tests.sut_server.plugins:Gated")
    stream = client.open_stream()
    stream.send(*[sample(i, b"x") for i in range(5)])
    try:
        assert Gated.STARTED.wait(60)
        flush = client.stub.Flush.future(pb.FlushRequest(), timeout=60)
        assert flush.result(timeout=30).pending == 5
    finally:
        Gated.GATE.set()
    assert sorted(stream.next_result(timeout=60).response_id for _ in range(5)) == list(range(5))
    assert client.stub.Flush(pb.FlushRequest(), timeout=60).pending == 0
    stream.half_close()
    assert stream.wait_ended(60)


def test_flush_starts_a_partial_batch_without_waiting_for_it_to_fill(start_node):
    # A batch of up to 8 waits up to 60 s for more samples; after Flush it starts with the 3
    # queued, so the answers come long before the batch timeout.
    client = start_node(backend="echo", max_batch=8, batch_timeout_us=60_000_000)
    stream = client.open_stream()
    stream.send(*[sample(i, b"x") for i in range(3)])
    wait_for(lambda: client.node.statistics().in_flight_samples == 3)
    client.stub.Flush(pb.FlushRequest(), timeout=60)
    results = [stream.next_result(timeout=30) for _ in range(3)]
    assert sorted(r.response_id for r in results) == [0, 1, 2]
    stream.half_close()
    assert stream.wait_ended()


def test_streams_beyond_the_limit_are_refused(start_node):
    client = start_node(backend="echo", streams_limit=1)
    first = client.open_stream()
    first.send(sample(1, b"a"))
    assert first.next_result().payload == b"a"
    second = client.open_stream()
    assert second.wait_ended()
    assert second.error is not None
    assert second.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "--streams-limit" in second.error.details()
    first.half_close()
    assert first.wait_ended() and first.error is None


def test_unparsable_message_ends_the_stream_with_invalid_argument(echo):
    call = echo.channel.stream_stream("/lon.v1.SutNode/Infer")(iter([b"\xff\xff\xff"]), timeout=5)
    with pytest.raises(grpc.RpcError) as caught:
        list(call)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unparsable SampleBatch" in caught.value.details()


def test_stop_is_idempotent_and_ends_in_stopped():
    node = run_server(NodeConfig(backend="echo"))
    with node:
        assert node.state is State.SERVING
    assert node.state is State.STOPPED
    assert node.wait(0)
    node.stop()


def test_a_port_in_use_is_a_bind_error():
    with run_server(NodeConfig(backend="echo")) as node:
        taken = NodeConfig(listen=f"127.0.0.1:{node.port}", backend="echo")
        with pytest.raises(BindError, match=f"127.0.0.1:{node.port}"):
            run_server(taken)


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(listen="localhost"), "--listen 'localhost' is not HOST:PORT"),
        (dict(listen="1.2.3.4:70000"), "is not HOST:PORT"),
        (dict(workers=0), "--workers must be an integer >= 1"),
        (dict(batch_timeout_us=10), "--batch-timeout-us needs --max-batch"),
        (dict(name="has space"), "--name 'has space'"),
        (dict(grace_s=-1.0), "--grace"),
    ],
)
def test_bad_config_values_are_named(fields, message):
    with pytest.raises(ConfigError, match=message):
        NodeConfig(**fields)
