"""Real nodes for the tests: in-process ``run_server`` on 127.0.0.1:0, talked to with the stub."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator

import grpc
import pytest

from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc
from sut_server import NodeConfig, NodeServer, run_server


class Client:
    """A channel and stub to one node, plus a helper to run an Infer stream to its end."""

    def __init__(self, node: NodeServer) -> None:
        self.node = node
        self.channel = grpc.insecure_channel(f"127.0.0.1:{node.port}")
        self.stub = pb_grpc.SutNodeStub(self.channel)

    def infer(self, *batches: pb.SampleBatch, timeout: float = 20) -> list[pb.SampleResult]:
        """Send ``batches``, half-close, and return every result until the node ends the stream."""
        results: list[pb.SampleResult] = []
        for response in self.stub.Infer(iter(batches), timeout=timeout):
            results.extend(response.results)
        return results

    def open_stream(self, timeout: float = 20) -> OpenStream:
        return OpenStream(self.stub, timeout)

    def close(self) -> None:
        self.channel.close()


class OpenStream:
    """An Infer stream the test feeds one batch at a time; results arrive on ``results``."""

    def __init__(self, stub: pb_grpc.SutNodeStub, timeout: float) -> None:
        self._outgoing: queue.SimpleQueue[pb.SampleBatch | None] = queue.SimpleQueue()
        self.results: queue.SimpleQueue[pb.SampleResult] = queue.SimpleQueue()
        self.messages = 0
        self.error: grpc.RpcError | None = None
        self.call = stub.Infer(self._requests(), timeout=timeout)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _requests(self) -> Iterator[pb.SampleBatch]:
        while (batch := self._outgoing.get()) is not None:
            yield batch

    def _read(self) -> None:
        try:
            for response in self.call:
                self.messages += 1
                for result in response.results:
                    self.results.put(result)
        except grpc.RpcError as exc:
            self.error = exc

    def send(self, *samples: pb.Sample) -> None:
        self._outgoing.put(pb.SampleBatch(samples=samples))

    def next_result(self, timeout: float = 60) -> pb.SampleResult:
        return self.results.get(timeout=timeout)

    def half_close(self) -> None:
        self._outgoing.put(None)

    def wait_ended(self, timeout: float = 60) -> bool:
        self._reader.join(timeout)
        return not self._reader.is_alive()


def sample(response_id: int, payload: bytes = b"", **fields: object) -> pb.Sample:
    fields.setdefault("sample_index", response_id)
    fields.setdefault("uncompressed_size", len(payload))
    return pb.Sample(response_id=response_id, payload=payload, **fields)  # type: ignore[arg-type]


@pytest.fixture
def start_node():
    """Start nodes with ``start_node(backend=..., **config)``; all are stopped at teardown."""
    nodes: list[NodeServer] = []
    clients: list[Client] = []

    def start(**fields: object) -> Client:
        fields.setdefault("listen", "127.0.0.1:0")
        fields.setdefault("grace_s", 5.0)
        node = run_server(NodeConfig(**fields))  # type: ignore[arg-type]
        nodes.append(node)
        client = Client(node)
        clients.append(client)
        return client

    try:
        yield start
    finally:
        for client in clients:
            client.close()
        for node in nodes:
            node.stop(1.0)


@pytest.fixture
def echo(start_node) -> Client:
    return start_node(backend="echo", name="echo-node")
