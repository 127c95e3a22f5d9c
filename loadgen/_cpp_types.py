"""Assignments checked as the official pybind11 bindings check them, with the same verdicts.

The official settings objects hold C++ fields (uint64, int, double, bool, enums, strings), and
assigning a Python value that does not convert raises TypeError at once: -1 or 2**64 to a
uint64, 1.5 to any integer, 3 to an enum, "1.0" to a double. Taking such a value silently
would let a typo run (``min_query_count = -1``) where the official LoadGen refuses it, so the
same values are refused here, with a one-line message instead of pybind11's overload listing.
The stored value has the field's type, as reading it back from the official object does
(``offline_expected_qps = 5`` reads 5.0, ``min_query_count = True`` reads 1).
"""

from __future__ import annotations

import enum
import operator
import os
from collections.abc import Callable
from typing import Any

Converter = Callable[[Any], Any]

_U64_MAX = (1 << 64) - 1
_I32_MIN, _I32_MAX = -(1 << 31), (1 << 31) - 1


class _Refused(Exception):
    """A value the field's C++ type does not take; ``what`` says what it takes."""

    def __init__(self, what: str) -> None:
        self.what = what


def _integer(value: Any, low: int, high: int, what: str) -> int:
    """pybind11's integer caster: no floats; ``__index__``, else ``__int__``; then the range."""
    if isinstance(value, float):
        raise _Refused(what)
    try:
        number = operator.index(value)
    except TypeError:
        kind = type(value)
        if not (hasattr(kind, "__int__") or hasattr(kind, "__float__")):
            raise _Refused(what) from None
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise _Refused(what) from None
    if not low <= number <= high:
        raise _Refused(what)
    return number


def uint64(value: Any) -> int:
    if value.__class__ is int and 0 <= value <= _U64_MAX:  # the common case, at once
        return value
    return _integer(value, 0, _U64_MAX, f"an int in 0..{_U64_MAX} (uint64)")


def int32(value: Any) -> int:
    return _integer(value, _I32_MIN, _I32_MAX, f"an int in {_I32_MIN}..{_I32_MAX} (int)")


def double(value: Any) -> float:
    """pybind11's double caster: anything with ``__float__`` or ``__index__``, not text."""
    if isinstance(value, float):
        return float(value)  # a float subclass (numpy.float64) reads back as a plain float
    kind = type(value)
    if hasattr(kind, "__float__") or hasattr(kind, "__index__"):
        try:
            return float(value)
        except (TypeError, ValueError, OverflowError):
            pass
    raise _Refused("a number (double)")


def boolean(value: Any) -> bool:
    """pybind11's bool caster: True/False, None, or an object whose type defines __bool__
    (the official enums define none, so their members are refused although ours are ints)."""
    if value is True or value is False:
        return value
    if value is None:
        return False
    if hasattr(type(value), "__bool__") and not isinstance(value, enum.Enum):
        return bool(value)
    raise _Refused("a bool")


def string(value: Any) -> str:
    """pybind11's std::string caster: str, or UTF-8 bytes (read back as str). A path-like
    object is taken too (stored as its str), where the official binding refuses it: the
    Pythonic layer passes ``pathlib.Path`` directories. Bytes that are not UTF-8 are refused
    (the official binding stores them, then cannot read the field back)."""
    if isinstance(value, str):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
        if isinstance(value, str):
            return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            pass
    raise _Refused("a str")


def member_of(enum_type: type[enum.Enum]) -> Converter:
    """A pybind11 enum field takes members of its own enum only: not ints, not names."""
    what = f"a {enum_type.__name__} member (e.g. {enum_type.__name__}.{next(iter(enum_type)).name})"

    def convert(value: Any) -> Any:
        if isinstance(value, enum_type):
            return value
        raise _Refused(what)

    return convert


def instance_of(kind: type) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, kind):
            return value
        raise _Refused(f"a {kind.__name__}")

    return convert


def checked(owner: str, name: str, convert: Converter, value: Any) -> Any:
    """``value`` converted for field ``owner.name``, or TypeError saying what the field takes."""
    try:
        return convert(value)
    except _Refused as refused:
        raise TypeError(f"{owner}.{name} takes {refused.what}; got {value!r}") from None


def typed_setattr(owner: str, fields: dict[str, Converter]) -> Callable[[Any, str, Any], None]:
    """A ``__setattr__`` that checks the ``fields`` it has converters for (other names go to
    ``object.__setattr__``, which refuses names a slotted class does not have)."""

    def __setattr__(self: Any, name: str, value: Any) -> None:
        convert = fields.get(name)
        if convert is not None:
            value = checked(owner, name, convert, value)
        object.__setattr__(self, name, value)

    return __setattr__
