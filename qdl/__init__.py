"""The Query Dispatch Library: runs LoadGen queries on SUT nodes over the network.

``QueryDispatchLibrary`` is the LoadGen's SUT; it spreads samples over nodes through
``Transport`` objects (``GrpcTransport`` for real nodes, ``MockTransport`` in tests) and
completes them through a ``LoadgenBinding`` (``OurLoadgen`` or ``OfficialLoadgen``). The QSLs
prepare samples untimed at load time. ``lon-run`` (``lon._run``) puts it all together.
"""

from ._accounting import format_table
from ._binding import LOADGENS, LoadgenBinding, OfficialLoadgen, OurLoadgen, RunReport, make_binding
from ._completer import Completer, Completion
from ._config import (
    BALANCE_POLICIES,
    COMPRESSIONS,
    DEFAULT_DISPATCH,
    DEFAULT_LIMITS,
    DEFAULT_PERFORMANCE_COUNT,
    DEFAULT_TIMEOUTS,
    FRAMINGS,
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
from ._qsl import (
    EncodedSample,
    EncodingQSL,
    NpyDirectoryQSL,
    SyntheticQSL,
    SyntheticSpec,
    synthetic_sample,
)
from .transports import (
    GrpcTransport,
    MockTransport,
    NodeDescription,
    Transport,
    TransportStatistics,
)

__all__ = [
    "BALANCE_POLICIES",
    "COMPRESSIONS",
    "DEFAULT_DISPATCH",
    "DEFAULT_LIMITS",
    "DEFAULT_PERFORMANCE_COUNT",
    "DEFAULT_TIMEOUTS",
    "FRAMINGS",
    "LOADGENS",
    "NO_COMPRESSION",
    "AlreadyClosed",
    "BackendError",
    "Completer",
    "Completion",
    "CompressionConfig",
    "CompressionError",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "DatasetError",
    "DispatchConfig",
    "EncodedSample",
    "EncodingQSL",
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
    "format_table",
    "make_binding",
    "synthetic_sample",
]
