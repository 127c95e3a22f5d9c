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
blame, its ``response_id``. Each transport maps its own library's errors into these inside
itself (``qdl.transports._grpc_errors.map_grpc_exceptions`` for gRPC), so no gRPC error type
ever reaches a caller; this module imports no transport library.
"""

from __future__ import annotations


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

    def chained(self, message: str | None = None) -> QDLError:
        """A new error of this kind, about the same node and sample, saying ``message`` (by
        default what this one says), whose cause is this error.

        Raise it instead of raising a stored error again (which would pile up tracebacks on
        one object) or changing one (which would rewrite what its raiser reported).
        """
        new = QDLError.__new__(type(self))  # subclasses may take other __init__ arguments
        QDLError.__init__(
            new,
            self.message if message is None else message,
            node=self.node,
            response_id=self.response_id,
        )
        new.__cause__ = self
        return new


class ConfigError(QDLError, ValueError):
    """An option or value is invalid; the message names it."""


class DatasetError(QDLError):
    """A QSL's data set cannot be used; the message names the file or directory."""


class TransportError(QDLError):
    """Talking to a node failed."""


class ConnectError(TransportError):
    """A node could not be reached, or did not answer Describe, at start."""


class SecurityRefused(ConnectError):
    """The TLS handshake with a node failed (plaintext against TLS, a missing or untrusted
    certificate, a name mismatch): retrying cannot help, so connect gives up at once."""


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
]
