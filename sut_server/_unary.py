"""Describe, Flush and health handlers that take their requests as raw bytes.

When grpcio's own request deserializer fails on garbage bytes, grpcio keeps about 14-19 KB per
call that it never frees (measured: 40 k garbage calls, +555 MB). Parsing the bytes ourselves
and aborting with INVALID_ARGUMENT keeps memory flat, so a hostile client cannot grow a node by
calling the unary RPCs with junk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

HEALTH_SERVICE = "grpc.health.v1.Health"


def _parse(parse: Callable[[bytes], Any], raw: bytes, context: grpc.ServicerContext) -> Any:
    try:
        return parse(raw)
    except Exception:  # protobuf's DecodeError, or anything else the bytes provoke
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unparsable request")


def unary(
    behavior: Callable[[Any, grpc.ServicerContext], Any],
    parse: Callable[[bytes], Any],
    serialize: Callable[[Any], bytes],
) -> grpc.RpcMethodHandler:
    """A unary-unary handler whose request is parsed inside the call."""

    def handle(raw: bytes, context: grpc.ServicerContext) -> Any:
        return behavior(_parse(parse, raw, context), context)

    return grpc.unary_unary_rpc_method_handler(
        handle, request_deserializer=None, response_serializer=serialize
    )


def add_health_to_server(servicer: health.HealthServicer, server: grpc.Server) -> None:
    """Register grpc.health.v1.Health (Check and Watch) with raw-bytes requests."""
    parse = health_pb2.HealthCheckRequest.FromString
    serialize = health_pb2.HealthCheckResponse.SerializeToString

    def watch(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
        yield from servicer.Watch(_parse(parse, raw, context), context)

    handlers = {
        "Check": unary(servicer.Check, parse, serialize),
        "Watch": grpc.unary_stream_rpc_method_handler(
            watch, request_deserializer=None, response_serializer=serialize
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(HEALTH_SERVICE, handlers),)
    )
    server.add_registered_method_handlers(HEALTH_SERVICE, handlers)
