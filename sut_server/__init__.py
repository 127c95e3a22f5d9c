"""A SUT node: serves inference over gRPC (lon.v1.SutNode) for the QDL on the LoadGen side.

Start one with the ``sut-server`` command, or in-process::

    with run_server(NodeConfig(listen="127.0.0.1:0", backend="echo")) as node:
        print(node.port)

Backends are plugins, batch (``Backend``) or per-request (``AsyncBackend``); see
``sut_server.backends.base`` for the interface.
"""

from ._config import NodeConfig
from ._errors import BackendError, BindError, ConfigError, SutServerError
from ._server import NodeServer, NodeStatistics, State, run_server
from .backends.base import AsyncBackend, Backend, InferRequest, InferResult, OptionReader

__all__ = [
    "AsyncBackend",
    "Backend",
    "BackendError",
    "BindError",
    "ConfigError",
    "InferRequest",
    "InferResult",
    "NodeConfig",
    "NodeServer",
    "NodeStatistics",
    "OptionReader",
    "State",
    "SutServerError",
    "run_server",
]
