"""How the QDL reaches a SUT node: the ``Transport`` interface and its implementations.

``Transport`` (``_base``) is all the dispatcher knows of a node. ``GrpcTransport`` (``_grpc``)
is the real one, over gRPC streams fed from a bounded ``SendQueue`` (``_queue``);
``MockTransport`` (``_mock``) is an in-process fake whose handler function plays the node.
Only ``_grpc`` imports grpc, and it alone turns gRPC's errors into the QDL's.
"""

from ._base import (
    BrokenCallback,
    NodeDescription,
    OutgoingMessage,
    ResponseCallback,
    Transport,
    TransportStatistics,
)
from ._grpc import GrpcTransport
from ._mock import MockTransport, echo_handler
from ._queue import QueueStatistics, SendQueue

__all__ = [
    "BrokenCallback",
    "GrpcTransport",
    "MockTransport",
    "NodeDescription",
    "OutgoingMessage",
    "QueueStatistics",
    "ResponseCallback",
    "SendQueue",
    "Transport",
    "TransportStatistics",
    "echo_handler",
]
