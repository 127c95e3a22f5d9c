"""gRPC's failures as QDL errors: the one place a ``grpc.RpcError`` is looked at.

Like httpx's ``map_httpcore_exceptions``, the transport runs every gRPC call inside
``map_grpc_exceptions``, which raises the QDL error for the status code ``from`` the gRPC one,
naming the node (and the sample, where one is to blame). No gRPC type leaves the transport.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from .._exceptions import (
    ConnectError,
    ConnectTimeout,
    FlushTimeout,
    ProtocolError,
    QDLTimeout,
    ResponseTimeout,
    SecurityRefused,
    StreamBroken,
    TransportError,
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


def _security_problem(text: str, tls: bool) -> str | None:
    """What went wrong in a failed TLS handshake, in words, or None if ``text`` shows none."""
    if "Hostname Verification" in text:
        return (
            "its certificate does not name the host dialled (give lon-run --tls-server-name "
            "with a name the certificate holds)"
        )
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return "its certificate is not signed by the CA given with lon-run --tls-ca"
    if "WRONG_VERSION_NUMBER" in text and tls:
        return (
            "the TLS handshake failed: the node serves plaintext (start it with --tls-cert and "
            "--tls-key, or run lon-run without --tls-ca)"
        )
    if "handshake" in text.lower() and tls:
        return f"the TLS handshake failed ({text})"
    if "Socket closed" in text:
        if tls:
            return (
                "the node refused the TLS handshake: it requires a client certificate signed by "
                "its --tls-client-ca (lon-run --tls-cert and --tls-key)"
            )
        return (
            "the node closed the connection during setup: it requires TLS (lon-run --tls-ca, "
            "and --tls-cert/--tls-key where it requires client certificates)"
        )
    return None


@contextlib.contextmanager
def map_grpc_exceptions(
    node: str,
    phase: str,
    *,
    label: str | None = None,
    timeout: float | None = None,
    response_id: int | None = None,
    tls: bool | None = None,
) -> Iterator[None]:
    """Turn gRPC failures inside the block into QDL errors naming the node and the ``phase``.

    ``node`` is the node's address (kept as ``error.node``); messages show ``label`` (e.g.
    "node-a at 10.0.0.2:50051") when given, else the address.

    ``phase`` is "connect", "flush", or what else was running (an Infer stream, "Describe"
    asked mid-run); it picks the error class for codes that
    mean different things at different times (UNAVAILABLE at connect is a ConnectError, on an
    open stream it is StreamBroken). ``tls`` (whether the channel uses TLS) lets a failed
    handshake at connect be told apart and explained (``SecurityRefused``).
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
        if code == grpc.StatusCode.RESOURCE_EXHAUSTED and phase == "connect":
            # A node whose calls are all taken (by strangers, or a run that just ended): slots
            # come free, so connecting retries this until its timeout, as for a refused port.
            raise ConnectError(
                f"node {shown}: busy, it refused the call ({text})",
                node=node,
                response_id=response_id,
            ) from exc
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
            problem = _security_problem(text, bool(tls)) if tls is not None else None
            if problem is not None:
                raise SecurityRefused(
                    f"node {shown}: cannot connect: {problem}", node=node, response_id=response_id
                ) from exc
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
