"""The Query Dispatch Library: runs LoadGen queries on SUT nodes over the network.

``QueryDispatchLibrary`` is the LoadGen's SUT; it spreads samples over nodes through
``Transport`` objects (``GrpcTransport`` for real nodes, ``MockTransport`` in tests) and
completes them through a ``LoadgenBinding`` (``OurLoadgen`` or ``OfficialLoadgen``). The QSLs
prepare samples untimed at load time. ``lon-run`` (``qdl._cli``) puts it all together.
"""

from ._binding import LoadgenBinding, OfficialLoadgen, OurLoadgen, RunReport, make_binding
from ._config import (
    BALANCE_POLICIES,
    COMPRESSIONS,
    DEFAULT_DISPATCH,
    DEFAULT_LIMITS,
    DEFAULT_PERFORMANCE_COUNT,
    DEFAULT_TIMEOUTS,
    NO_COMPRESSION,
    CompressionConfig,
    DispatchConfig,
    Limits,
    Timeouts,
)
from ._dispatch import NodeStatistics, QDLStatistics, QueryDispatchLibrary
from ._exceptions import (
    AlreadyClosed,
    BackendError,
    CompressionError,
    ConfigError,
    ConnectError,
    ConnectTimeout,
    DatasetError,
    FlushTimeout,
    IssueTimeout,
    NodeProcessError,
    NotStarted,
    ProtocolError,
    QDLError,
    QDLTimeout,
    ResponseTimeout,
    SampleNotLoaded,
    StreamBroken,
    TransportError,
    UsageError,
)
from ._grpc_transport import GrpcTransport
from ._mock_transport import MockTransport
from ._qsl import EncodedSample, NpyDirectoryQSL, SyntheticQSL, SyntheticSpec
from ._transport import NodeDescription, Transport, TransportStatistics

__all__ = [
    "BALANCE_POLICIES",
    "COMPRESSIONS",
    "DEFAULT_DISPATCH",
    "DEFAULT_LIMITS",
    "DEFAULT_PERFORMANCE_COUNT",
    "DEFAULT_TIMEOUTS",
    "NO_COMPRESSION",
    "AlreadyClosed",
    "BackendError",
    "CompressionConfig",
    "CompressionError",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "DatasetError",
    "DispatchConfig",
    "EncodedSample",
    "FlushTimeout",
    "GrpcTransport",
    "IssueTimeout",
    "Limits",
    "LoadgenBinding",
    "MockTransport",
    "NodeDescription",
    "NodeProcessError",
    "NodeStatistics",
    "NotStarted",
    "NpyDirectoryQSL",
    "OfficialLoadgen",
    "OurLoadgen",
    "ProtocolError",
    "QDLError",
    "QDLStatistics",
    "QDLTimeout",
    "QueryDispatchLibrary",
    "ResponseTimeout",
    "RunReport",
    "SampleNotLoaded",
    "StreamBroken",
    "SyntheticQSL",
    "SyntheticSpec",
    "Timeouts",
    "Transport",
    "TransportError",
    "TransportStatistics",
    "UsageError",
    "make_binding",
]
