"""Every error the QDL raises, in one tree, so callers can catch at the level they care about.

::

    QDLError                      anything that went wrong in the QDL
    ├── ConfigError               a bad option or value (also a ValueError)
    ├── DatasetError              a QSL cannot read its data set (missing dir, bad file)
    ├── TransportError            talking to a node failed
    │   ├── ConnectError          a node could not be reached or described at start
    │   │   └── ConnectTimeout    ... within the connect timeout (also a QDLTimeout)
    │   └── StreamBroken          an open stream to a node broke or ended mid-run
    ├── QDLTimeout                a phase took longer than its timeout (``Timeouts``)
    │   ├── ConnectTimeout
    │   ├── IssueTimeout          a full send queue to a node sent nothing for too long
    │   ├── ResponseTimeout       a node answered nothing for too long with samples outstanding
    │   └── FlushTimeout          a node did not answer Flush in time
    ├── ProtocolError             a node broke the wire contract (unknown or duplicate id, ...)
    ├── CompressionError          unknown or unsupported compression, or a codec failure
    ├── BackendError              a node reported that its backend failed on a sample
    ├── NodeProcessError          a node process we started did not come up
    └── UsageError                the QDL was used the wrong way (fixed messages say what to do)
        ├── NotStarted
        ├── AlreadyClosed
        └── SampleNotLoaded

Every error carries the ``node`` address it concerns (or None) and, where one sample is to
blame, its ``response_id``. ``map_grpc_exceptions`` is the only place that turns
``grpc.RpcError`` into these, so no gRPC error type ever reaches a caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc


class QDLError(Exception):
    """Base of every QDL error."""

    def __init__(
        self, message: str, *, node: str | None = None, response_id: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.node = node
        self.response_id = response_id

    def __str__(self) -> str:
        return self.message


class ConfigError(QDLError, ValueError):
    """An option or value is invalid; the message names it."""


class DatasetError(QDLError):
    """A QSL's data set cannot be used; the message names the file or directory."""


class TransportError(QDLError):
    """Talking to a node failed."""


class ConnectError(TransportError):
    """A node could not be reached, or did not answer Describe, at start."""


class StreamBroken(TransportError):
    """An open Infer stream to a node failed or ended while the run needed it."""


class QDLTimeout(QDLError):
    """Base of the per-phase timeouts (see ``Timeouts``)."""


class ConnectTimeout(ConnectError, QDLTimeout):
    """A node was not reachable within ``Timeouts.connect``."""


class IssueTimeout(QDLTimeout):
    """A full send queue to a node sent nothing for ``Timeouts.issue``."""


class ResponseTimeout(QDLTimeout):
    """A node sent nothing for ``Timeouts.response`` while samples were outstanding on it."""


class FlushTimeout(QDLTimeout):
    """A node did not answer Flush within ``Timeouts.flush``."""


class ProtocolError(QDLError):
    """A node sent something the wire contract does not allow."""


class CompressionError(QDLError):
    """Unknown or unsupported compression, or compressing a sample failed."""


class BackendError(QDLError):
    """A node's backend failed on a sample; the run cannot be valid."""


class NodeProcessError(QDLError):
    """A node process started by ``lon._nodes`` exited or never reported ready."""


class UsageError(QDLError):
    """The QDL was used in a way it does not support."""


class NotStarted(UsageError):
    def __init__(self, what: str = "the QDL") -> None:
        super().__init__(f"{what} is not connected yet; call connect() or use it in a with-block")


class AlreadyClosed(UsageError):
    def __init__(self, what: str = "the QDL") -> None:
        super().__init__(f"{what} is closed; create a new one to run again")


class SampleNotLoaded(UsageError):
    def __init__(self, index: int) -> None:
        super().__init__(
            f"sample index {index} is not loaded; the LoadGen must call load_samples_to_ram "
            "for it before issuing it"
        )


_STREAM_CODES = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DATA_LOSS,
}


_SILENT_NODE_SIGNS = ("ping timeout", "keepalive", "Connection timed out")
"""What grpc core says when a peer stops answering pings (a frozen process) or stops
acknowledging TCP data (a cut link; keepalive also sets TCP_USER_TIMEOUT)."""


def _describe_rpc_error(exc: grpc.RpcError) -> tuple[grpc.StatusCode | None, str]:
    # Sync errors are grpc.Call objects; grpc.aio's AioRpcError is not, but has the same methods.
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else None
    name = code.name if code is not None else "RPC error"
    return code, f"{name}: {details or 'no details'}"


@contextlib.contextmanager
def map_grpc_exceptions(
    node: str,
    phase: str,
    *,
    label: str | None = None,
    timeout: float | None = None,
    response_id: int | None = None,
) -> Iterator[None]:
    """Turn gRPC failures inside the block into QDL errors naming the node and the ``phase``.

    ``node`` is the node's address (kept as ``error.node``); messages show ``label`` (e.g.
    "node-a at 10.0.0.2:50051") when given, else the address.

    ``phase`` is one of "connect", "stream", "flush"; it picks the error class for codes that
    mean different things at different times (UNAVAILABLE at connect is a ConnectError, on an
    open stream it is StreamBroken).
    """
    shown = label or node
    try:
        yield
    except grpc.FutureTimeoutError as exc:
        raise _timeout_error(node, shown, phase, timeout, response_id) from exc
    except grpc.RpcError as exc:
        code, text = _describe_rpc_error(exc)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise _timeout_error(node, shown, phase, timeout, response_id) from exc
        if code in (
            grpc.StatusCode.UNIMPLEMENTED,
            grpc.StatusCode.INVALID_ARGUMENT,
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            grpc.StatusCode.FAILED_PRECONDITION,
            grpc.StatusCode.OUT_OF_RANGE,
        ):
            raise ProtocolError(
                f"node {shown}: {phase} failed, the node rejected the request ({text})",
                node=node,
                response_id=response_id,
            ) from exc
        if phase == "connect":
            raise ConnectError(
                f"node {shown}: cannot connect ({text})", node=node, response_id=response_id
            ) from exc
        if code in _STREAM_CODES or code is None:
            if any(sign in text for sign in _SILENT_NODE_SIGNS):
                text += "; the node went silent (no keepalive or TCP answer): frozen or unreachable"
            raise StreamBroken(
                f"node {shown}: {phase} failed ({text})", node=node, response_id=response_id
            ) from exc
        raise TransportError(
            f"node {shown}: {phase} failed ({text})", node=node, response_id=response_id
        ) from exc


def _timeout_error(
    node: str, shown: str, phase: str, timeout: float | None, response_id: int | None
) -> QDLTimeout:
    after = f" within {timeout:g} s" if timeout is not None else " in time"
    if phase == "connect":
        return ConnectTimeout(
            f"node {shown}: not reachable{after}", node=node, response_id=response_id
        )
    if phase == "flush":
        return FlushTimeout(
            f"node {shown}: Flush not answered{after}", node=node, response_id=response_id
        )
    return ResponseTimeout(
        f"node {shown}: {phase} not answered{after}", node=node, response_id=response_id
    )


__all__ = [
    "AlreadyClosed",
    "BackendError",
    "CompressionError",
    "ConfigError",
    "ConnectError",
    "ConnectTimeout",
    "DatasetError",
    "FlushTimeout",
    "IssueTimeout",
    "NodeProcessError",
    "NotStarted",
    "ProtocolError",
    "QDLError",
    "QDLTimeout",
    "ResponseTimeout",
    "SampleNotLoaded",
    "StreamBroken",
    "TransportError",
    "UsageError",
    "map_grpc_exceptions",
]
