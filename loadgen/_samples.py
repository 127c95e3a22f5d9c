"""Query samples handed to the SUT and the responses it hands back."""

from __future__ import annotations

import ctypes
from collections.abc import Iterable
from typing import Any, SupportsIndex, TypeVar


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


_V = TypeVar("_V", bound="_TypedVector")


class _TypedVector(list[Any]):
    """A list that holds one item type only, as the official ``bind_vector`` containers do.

    The official 6.0.17 wheel has these names, but every method of its containers (even
    ``len``) raises RecursionError; these behave as the containers are meant to: a list whose
    items are checked on the way in, and whose slices keep the container type.
    """

    __slots__ = ()
    _item: type = object

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(self._all(items))

    def _one(self, value: Any) -> Any:
        if not isinstance(value, self._item):
            raise TypeError(
                f"{type(self).__name__} holds {self._item.__name__} objects; got {value!r}"
            )
        return value

    def _all(self, values: Iterable[Any]) -> list[Any]:
        return [self._one(v) for v in values]

    def append(self, value: Any) -> None:
        super().append(self._one(value))

    def insert(self, index: SupportsIndex, value: Any) -> None:
        super().insert(index, self._one(value))

    def extend(self, values: Iterable[Any]) -> None:
        super().extend(self._all(values))

    def __iadd__(self: _V, values: Iterable[Any]) -> _V:  # type: ignore[misc]
        self.extend(values)
        return self

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, slice):
            super().__setitem__(key, self._all(value))
        else:
            super().__setitem__(key, self._one(value))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return type(self)(super().__getitem__(key))
        return super().__getitem__(key)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({list.__repr__(self)})"


class VectorQuerySample(_TypedVector):
    """A list of QuerySample (the official ``VectorQuerySample``)."""

    __slots__ = ()
    _item = QuerySample


class VectorQuerySampleResponse(_TypedVector):
    """A list of QuerySampleResponse (the official ``VectorQuerySampleResponse``); it can be
    passed to QuerySamplesComplete as any sequence can."""

    __slots__ = ()
    _item = QuerySampleResponse
