"""What the LoadGen process and a dispatch worker say to each other, besides ring records.

Rings carry the traffic: messages out (``MESSAGE``), and back, in the order the worker saw
them, responses (``RESPONSE``), send stamps (``SENT``) and a node's failure (``BROKEN``), so a
failure never overtakes the answers read before it. The control connection (pickled tuples
on a socket pair) carries the rare calls, each answered once: ``(id, op, node, args)`` out,
``(id, ok, value)`` back.
"""

from __future__ import annotations

import struct
from typing import Any

from .._exceptions import QDLError

# issue ring (LoadGen process -> worker): tag = node, count = samples, stamp = message number
MESSAGE = 1
# completion ring (worker -> LoadGen process): tag = node
RESPONSE = 1  # stamp = when the worker read it; data = the ResponseBatch as received
SENT = 2  # stamp = when it left; data = the message numbers, int64 each
BROKEN = 3  # data = an encoded error (``encode_error``)

SEQUENCES = struct.Struct("<q")


def encode_error(exc: BaseException) -> tuple[str, str, str | None, int | None]:
    """An exception as plain values that cross a pickle whatever its class takes to build."""
    if isinstance(exc, QDLError):
        return type(exc).__name__, exc.message, exc.node, exc.response_id
    return "QDLError", f"{type(exc).__name__}: {exc}", None, None


def _error_classes(cls: type[QDLError] = QDLError) -> dict[str, type[QDLError]]:
    found = {cls.__name__: cls}
    for sub in cls.__subclasses__():
        found.update(_error_classes(sub))
    return found


def decode_error(value: Any) -> QDLError:
    """The QDLError ``encode_error`` described (the base class for names it does not know)."""
    name, message, node, response_id = value
    cls = _error_classes().get(name, QDLError)
    error = QDLError.__new__(cls)
    QDLError.__init__(error, message, node=node, response_id=response_id)
    return error
