"""Targeted hostile inputs: zstd bombs and lying sizes, silent streams, hoarded stream slots,
and a backend cache fed every input size."""

from __future__ import annotations

import grpc
import numpy as np
import zstandard

from protos.v1 import sut_node_pb2 as pb
from sut_server.backends import numpy_mlp
from sut_server.backends.base import InferRequest

from .conftest import sample


def bomb(size: int, with_size: bool) -> bytes:
    return zstandard.ZstdCompressor(write_content_size=with_size).compress(bytes(size))


def test_a_message_declaring_more_than_the_budget_is_answered_with_errors_not_decoded(start_node):
    client = start_node(backend="echo", max_inflight_bytes=64 * 1024 * 1024)
    payload = bomb(32 * 1024 * 1024, True)  # a few KB on the wire
    samples = [
        sample(i, compression=pb.COMPRESSION_ZSTD, uncompressed_size=32 * 1024 * 1024)
        for i in range(1, 5)
    ]
    for s in samples:
        s.payload = payload
    results = client.infer(pb.SampleBatch(samples=samples))
    assert sorted(r.response_id for r in results) == [1, 2, 3, 4]
    assert all("in-flight budget" in r.error and not r.payload for r in results)
    assert client.node.statistics().peak_in_flight_bytes < 1024 * 1024  # never credited


def test_a_frame_without_a_size_is_cut_one_byte_past_what_the_sample_declares(start_node):
    client = start_node(backend="echo")
    lying = sample(1, compression=pb.COMPRESSION_ZSTD, uncompressed_size=8 * 1024)
    lying.payload = bomb(64 * 1024 * 1024, False)
    truthful = sample(2, compression=pb.COMPRESSION_ZSTD, uncompressed_size=1000)
    truthful.payload = zstandard.ZstdCompressor(write_content_size=False).compress(b"x" * 1000)
    results = {r.response_id: r for r in client.infer(pb.SampleBatch(samples=[lying, truthful]))}
    assert "decompressed to 8193 bytes, uncompressed_size says 8192" in results[1].error
    assert results[2].error == "" and results[2].payload == b"x" * 1000


def test_declared_decoded_bytes_count_against_the_in_flight_budget(start_node):
    client = start_node(backend="echo")
    s = sample(1, compression=pb.COMPRESSION_ZSTD, uncompressed_size=3 * 1024 * 1024)
    s.payload = bomb(3 * 1024 * 1024, True)
    assert client.infer(pb.SampleBatch(samples=[s]))[0].error == ""
    assert client.node.statistics().peak_in_flight_bytes >= 3 * 1024 * 1024


def test_a_silent_stream_is_ended_and_a_full_house_is_logged_naming_the_holders(start_node, capfd):
    client = start_node(backend="echo", streams_limit=1, idle_stream_s=0.5)
    silent = client.open_stream(timeout=60)
    silent.send(sample(1, b"once"))  # it carries a sample, then goes silent
    assert silent.next_result(60).payload == b"once"
    second = client.open_stream(timeout=60)
    assert second.wait_ended(60)
    assert second.error is not None and second.error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "held by ipv4:127.0.0.1 x1" in second.error.details()
    assert silent.wait_ended(60), "the idle stream was never ended"
    assert silent.error is not None and silent.error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "--idle-stream-timeout" in silent.error.details()
    err = capfd.readouterr().err
    assert "all 1 stream slots are taken (by ipv" in err and "x1" in err, err
    later = client.open_stream(timeout=60)  # the slot came back
    later.send(sample(7, b"ok"))
    assert later.next_result(60).payload == b"ok"
    later.half_close()
    assert later.wait_ended(60)


def test_a_stream_owed_answers_is_not_idle(start_node):
    client = start_node(
        backend="tests.sut_server.plugins:Counting",
        backend_options={"delay_ms": "1500"},
        idle_stream_s=0.2,
    )
    stream = client.open_stream(timeout=60)
    stream.send(sample(1, b"slow"))
    stream.half_close()  # now (not after the answer): the answer must end the stream, not idling
    assert stream.next_result(60).error == ""
    assert stream.wait_ended(60) and stream.error is None


def test_numpy_mlp_keeps_its_weights_within_the_budget(monkeypatch):
    monkeypatch.setattr(numpy_mlp, "WEIGHT_CACHE_BYTES", 4 * 1024 * 1024)
    model = numpy_mlp.NumpyMLPBackend({"hidden": "8"})
    for size in range(100, 4000, 37):  # many distinct input sizes
        request = InferRequest(0, np.zeros(size, np.uint8).tobytes(), "uint8", (), None)
        (answer,) = model.infer([request])
        assert isinstance(answer, bytes)
        assert model._cached_bytes <= numpy_mlp.WEIGHT_CACHE_BYTES
    huge = InferRequest(0, bytes(80_000), "uint8", (), None)  # 8 x 80000 x 8 > 4 MiB
    (answer,) = model.infer([huge])
    assert "more than the node's 4194304-byte budget" in answer.error
