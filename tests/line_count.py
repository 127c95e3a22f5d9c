"""Counting the Python lines a call executes: a speed check that a busy machine cannot upset.

Vectorized work runs a handful of Python lines however much data it handles, where a loop runs
at least one a data item; counting them tells the two apart without timing anything.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")


def count_python_lines(work: Callable[[], T]) -> tuple[T, int]:
    """What ``work()`` returns, and how many lines of Python it executed (all calls down)."""
    count = 0

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        nonlocal count
        if event == "line":
            count += 1
        return local

    previous = sys.gettrace()
    sys.settrace(lambda frame, event, arg: local)
    try:
        result = work()
    finally:
        sys.settrace(previous)
    return result, count
