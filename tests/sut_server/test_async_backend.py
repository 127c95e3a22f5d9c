"""Per-request (async) backends on a real node: first tokens per request, hundreds in flight on
one event loop, the concurrency limit, one failing request, start(), drain, Describe's engine."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from protos.v1 import sut_node_pb2 as pb
from sut_server import ConfigError, run_server
from sut_server._config import NodeConfig

from .conftest import sample

FINAL = pb.SampleResult.KIND_FINAL
FIRST = pb.SampleResult.KIND_FIRST_TOKEN
STAGGERED = "tests.sut_server.plugins:StaggeredLLM"


def collect(stream, count: int) -> list[pb.SampleResult]:
    """Every result of ``count`` samples: a first token and a final each."""
    return [stream.next_result() for _ in range(2 * count)]


def test_first_tokens_go_out_per_request_ahead_of_their_final(start_node):
    count = 6
    client = start_node(backend=STAGGERED, backend_options={"count": str(count), "step_ms": "100"})
    stream = client.open_stream()
    for i in range(count):  # one message each, in index order: later ones answer sooner
        stream.send(sample(i, sample_index=i))
    results = collect(stream, count)
    stream.half_close()
    assert stream.wait_ended()
    firsts = [r.response_id for r in results if r.kind == FIRST]
    assert sorted(firsts) == list(range(count))
    # the last sent gets its first token first: first tokens are per request, not per batch
    assert firsts[0] == count - 1
    for rid in range(count):
        kinds = [r.kind for r in results if r.response_id == rid]
        assert kinds == [FIRST, FINAL]  # each sample's first token comes ahead of its final
        first = next(r for r in results if r.response_id == rid and r.kind == FIRST)
        assert struct.unpack("<i", first.payload) == (rid,)


def test_hundreds_in_flight_on_one_loop(start_node):
    count = 320
    client = start_node(
        backend=STAGGERED,
        backend_options={"count": "0", "step_ms": "0", "hold_ms": "1500", "concurrency": "512"},
    )
    results = client.infer(
        pb.SampleBatch(samples=[sample(i, sample_index=i) for i in range(count)]), timeout=120
    )
    finals = [r for r in results if r.kind == FINAL]
    assert sorted(r.response_id for r in finals) == list(range(count))
    assert not any(r.error for r in finals)
    peaks = [struct.unpack("<ii", r.payload)[1] for r in finals]
    # every sample was in flight at once: none waited for another (a thread pool would not do it)
    assert max(peaks) == count
    stats = client.node.statistics()
    assert stats.samples_computed == count and stats.peak_batch == count


def test_the_concurrency_limit_holds(start_node):
    client = start_node(
        backend=STAGGERED,
        backend_options={"count": "0", "step_ms": "0", "hold_ms": "50", "concurrency": "16"},
    )
    results = client.infer(
        pb.SampleBatch(samples=[sample(i, sample_index=i) for i in range(100)]), timeout=120
    )
    finals = [r for r in results if r.kind == FINAL]
    assert len(finals) == 100
    assert max(struct.unpack("<ii", r.payload)[1] for r in finals) == 16


def test_an_exception_fails_only_its_own_sample(start_node):
    client = start_node(
        backend=STAGGERED, backend_options={"count": "0", "step_ms": "0", "fail_index": "3"}
    )
    results = client.infer(pb.SampleBatch(samples=[sample(i, sample_index=i) for i in range(6)]))
    finals = {r.response_id: r for r in results if r.kind == FINAL}
    assert sorted(finals) == list(range(6))
    assert "failed: ValueError('no answer for sample 3')" in finals[3].error
    assert STAGGERED in finals[3].error
    assert [rid for rid, r in finals.items() if r.error] == [3]


def test_describe_reports_the_engine(start_node):
    client = start_node(backend=STAGGERED)
    info = client.stub.Describe(pb.DescribeRequest(), timeout=10)
    assert dict(info.engine) == {
        "url": "http://127.0.0.1:1/v1",
        "model": "staggered",
        "version": "",
    }
    assert "engine=model=staggered,url=http://127.0.0.1:1/v1" in client.node.ready_line()


def test_in_process_backends_report_no_engine(echo):
    info = echo.stub.Describe(pb.DescribeRequest(), timeout=10)
    assert dict(info.engine) == {}
    assert "engine=" not in echo.node.ready_line()


def test_a_drain_waits_for_generates_in_flight(start_node):
    client = start_node(
        backend=STAGGERED, backend_options={"count": "0", "step_ms": "0", "hold_ms": "600"}
    )
    stream = client.open_stream()
    stream.send(*[sample(i, sample_index=i) for i in range(4)])
    first = stream.next_result()  # generate is running on the node
    client.node.stop(30.0)
    rest = [stream.next_result(timeout=30) for _ in range(7)]
    finals = [r for r in [first, *rest] if r.kind == FINAL]
    assert sorted(r.response_id for r in finals) == [0, 1, 2, 3]
    assert not any(r.error for r in finals)


def test_max_batch_does_not_apply_to_a_per_request_backend():
    with pytest.raises(ConfigError, match="--max-batch does not apply to backend"):
        run_server(NodeConfig(listen="127.0.0.1:0", backend=STAGGERED, max_batch=8))


@pytest.mark.parametrize(
    ("plugin", "line"),
    [
        ("NeverReady", "sut-server: error: engine at http://127.0.0.1:1/v1 not ready within 0 s"),
        ("BrokenStart", "sut-server: error: backend 'tests.sut_server.plugins:BrokenStart' "
         "failed to start: RuntimeError('engine client misconfigured')"),
    ],
)  # fmt: skip
def test_a_backend_that_cannot_start_stops_sut_server_with_one_line(plugin, line):
    proc = subprocess.run(
        [sys.executable, "-m", "sut_server", "--listen", "127.0.0.1:0",
         "--backend", f"tests.sut_server.plugins:{plugin}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""  # never said it was ready
    assert proc.stderr.strip().splitlines() == [line]
