"""Query samples handed to the SUT and the responses it hands back."""

from __future__ import annotations

import ctypes
from typing import Any


class QuerySample:
    """One sample of a query: ``id`` is an opaque non-zero token, ``index`` the QSL index."""

    __slots__ = ("id", "index")

    def __init__(self, id: int = 0, index: int = 0) -> None:  # noqa: A002 - official name
        self.id = id
        self.index = index

    def __repr__(self) -> str:
        return f"QuerySample(id={self.id}, index={self.index})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuerySample):
            return NotImplemented
        return self.id == other.id and self.index == other.index

    def __hash__(self) -> int:
        return hash((self.id, self.index))

    def __getstate__(self) -> tuple[int, int]:
        return (self.id, self.index)

    def __setstate__(self, state: tuple[int, int]) -> None:
        self.id, self.index = state


class QuerySampleResponse:
    """The SUT's answer for one sample.

    ``data`` is either a raw address (``array.buffer_info()[0]``, ``ndarray.ctypes.data``) of
    ``size`` bytes, as with the official bindings, or any bytes-like object; for a bytes-like
    object ``size`` defaults to its length. The bytes are read only when the response is logged
    for accuracy.
    """

    __slots__ = ("id", "data", "size", "n_tokens")

    def __init__(
        self,
        id: int = 0,  # noqa: A002 - official name
        data: Any = 0,
        size: int | None = None,
        n_tokens: int = 0,
    ) -> None:
        self.id = id
        self.data = data
        if size is None:
            size = 0 if isinstance(data, int) else memoryview(data).nbytes
        self.size = size
        self.n_tokens = n_tokens

    def __repr__(self) -> str:
        return f"QuerySampleResponse(id={self.id}, size={self.size}, n_tokens={self.n_tokens})"


def response_bytes(data: Any, size: int) -> bytes:
    """The ``size`` bytes a response points at, whether ``data`` is an address or bytes-like."""
    if size <= 0:
        return b""
    if isinstance(data, int):
        if data == 0:
            raise ValueError(f"response has size {size} but a null data address")
        return ctypes.string_at(data, size)
    view = memoryview(data).cast("B")
    if view.nbytes < size:
        raise ValueError(f"response says size {size} but its data holds {view.nbytes} bytes")
    return view[:size].tobytes()
