"""Real gRPC failures become QDL errors naming the node; the public names are pinned."""

from __future__ import annotations

import time

import grpc
import pytest

import qdl
from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc
from qdl import (
    ConnectTimeout,
    FlushTimeout,
    GrpcTransport,
    ProtocolError,
    QDLError,
    Timeouts,
    TransportError,
)

from .echo_node import EchoNode, serve


class Misbehaving(EchoNode):
    """Describe sleeps or aborts with a chosen status; Flush is slow."""

    def __init__(self, describe_delay=0.0, status=None, flush_delay=0.0):
        super().__init__("bad")
        self.describe_delay = describe_delay
        self.status = status
        self.flush_delay = flush_delay

    def Describe(self, request, context):  # noqa: N802
        time.sleep(self.describe_delay)
        if self.status is not None:
            context.abort(self.status, "told to fail")
        return super().Describe(request, context)

    def Flush(self, request, context):  # noqa: N802
        time.sleep(self.flush_delay)
        return super().Flush(request, context)


def test_the_tree():
    assert issubclass(qdl.ConnectError, TransportError)
    assert issubclass(qdl.StreamBroken, TransportError)
    assert issubclass(ConnectTimeout, qdl.ConnectError) and issubclass(
        ConnectTimeout, qdl.QDLTimeout
    )
    assert issubclass(qdl.ConfigError, ValueError)
    for name in ("NotStarted", "AlreadyClosed", "SampleNotLoaded"):
        assert issubclass(getattr(qdl, name), qdl.UsageError)
    for name in qdl.__all__:
        obj = getattr(qdl, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, QDLError), name


def test_exported_names_are_pinned():
    assert set(qdl.__all__) == {
        "BALANCE_POLICIES", "COMPRESSIONS", "DEFAULT_DISPATCH", "DEFAULT_LIMITS",
        "DEFAULT_PERFORMANCE_COUNT", "DEFAULT_TIMEOUTS", "FRAMINGS", "LOADGENS", "NO_COMPRESSION",
        "NODE_LOSS_POLICIES", "WIRES",
        "AlreadyClosed", "BackendError", "Completer", "Completion", "CompressionConfig",
        "CompressionError", "ConfigError", "ConnectError", "ConnectTimeout", "DatasetError",
        "DispatchConfig", "EncodedSample", "EncodingQSL", "FlushTimeout", "GrpcTransport",
        "IssueTimeout", "Limits", "LoadgenBinding", "MockTransport", "NodeDescription",
        "NodeProcessError", "NodeStatistics", "NotStarted", "NpyDirectoryQSL", "OfficialLoadgen",
        "OurLoadgen", "ProtocolError", "QDLError", "QDLStatistics", "QDLTimeout",
        "QueryDispatchLibrary", "ResponseTimeout", "RunReport", "SampleNotLoaded",
        "SecurityRefused", "StreamBroken", "TlsConfig",
        "SyntheticQSL", "SyntheticSpec", "Timeouts", "Transport", "TransportError",
        "TransportStatistics", "UsageError", "format_table", "make_binding", "synthetic_sample",
        "TOKEN_BIN_EDGES_NS", "TOKEN_FILE_READERS", "SyntheticLLMSpec", "TokenQSL",
        "read_token_file", "synthetic_prompts", "synthetic_token_qsl", "token_file_qsl",
    }  # fmt: skip
    for name in qdl.__all__:
        assert hasattr(qdl, name), name


def test_a_node_too_slow_to_describe_is_a_connect_timeout():
    with serve(Misbehaving(describe_delay=2.0)) as address:
        transport = GrpcTransport(address, timeouts=Timeouts(connect=0.3))
        with pytest.raises(ConnectTimeout, match=f"node {address}: not reachable within 0.3 s"):
            transport.connect()
        transport.close()


def test_a_node_rejecting_describe_is_a_protocol_error():
    with serve(Misbehaving(status=grpc.StatusCode.UNIMPLEMENTED)) as address:
        transport = GrpcTransport(address)
        with pytest.raises(ProtocolError, match="rejected the request.*UNIMPLEMENTED") as info:
            transport.connect()
        assert isinstance(info.value.__cause__, grpc.RpcError)
        assert info.value.node == address
        transport.close()


def test_a_slow_flush_is_a_flush_timeout_naming_the_node():
    with serve(Misbehaving(flush_delay=1.0)) as address:
        transport = GrpcTransport(address, timeouts=Timeouts(flush=0.2))
        transport.connect()
        with pytest.raises(FlushTimeout, match=f"node bad at {address}: Flush not answered"):
            transport.flush()
        transport.close()


def test_node_info_is_read_from_describe():
    node = EchoNode("described", capacity=42.5, compressions=(pb.COMPRESSION_ZSTD,))
    with serve(node) as address:
        transport = GrpcTransport(address)
        d = transport.connect()
        transport.close()
    assert (d.name, d.backend, d.version, d.capacity) == ("described", "echo", "test", 42.5)
    assert d.compressions == {"none", "zstd"} and d.label == f"described at {address}"
    assert repr(transport).endswith("closed)")


def test_grpc_stub_sanity():
    # The raw-bytes Infer method the transport uses is the one the service defines.
    from qdl.transports._grpc import INFER_METHOD

    service = pb.DESCRIPTOR.services_by_name["SutNode"].full_name
    assert f"/{service}/Infer" == INFER_METHOD
    assert hasattr(pb_grpc, "SutNodeStub")


def test_a_chained_error_is_a_new_one_of_the_same_kind_caused_by_the_old():
    original = qdl.SampleNotLoaded(7)  # a kind whose __init__ takes other arguments
    original.node, original.response_id = "n:1", 3
    again = original.chained("more to say")
    assert type(again) is qdl.SampleNotLoaded and again is not original
    assert (str(again), again.node, again.response_id) == ("more to say", "n:1", 3)
    assert again.__cause__ is original and "sample index 7" in str(original)
    assert str(original.chained()) == str(original)


def test_a_node_busy_at_connect_is_retried_until_the_connect_timeout():
    with serve(Misbehaving(status=grpc.StatusCode.RESOURCE_EXHAUSTED)) as address:
        transport = GrpcTransport(address, timeouts=Timeouts(connect=0.5))
        began = time.monotonic()
        with pytest.raises(ConnectTimeout, match="busy, it refused the call.*gave up after 0.5 s"):
            transport.connect()
        assert time.monotonic() - began >= 0.5  # it kept trying, not failed at the first refusal
