"""Shared pieces for the QDL tests: a recording stand-in for the LoadGen, echo nodes."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Sequence

import pytest

import loadgen
from qdl import (
    NO_COMPRESSION,
    Completer,
    CompressionConfig,
    SyntheticQSL,
    SyntheticSpec,
)

from .echo_node import EchoNode, serve


class RecordingLoadgen(Completer):
    """Plays the LoadGen's side for the QDL: records every completion, first token and abort."""

    def __init__(self) -> None:
        self.completions: list[tuple[int, bytes, int]] = []
        self.first_tokens: list[tuple[int, bytes, int]] = []
        self.complete_calls = 0
        self.aborts: list[tuple[str, list[int]]] = []
        self._cond = threading.Condition()

    def complete(self, completions):
        with self._cond:
            self.completions.extend(completions)
            self.complete_calls += 1
            self._cond.notify_all()

    def first_token(self, completions):
        with self._cond:
            self.first_tokens.extend(completions)

    def abort(self, reason, outstanding_ids):
        with self._cond:
            self.aborts.append((reason, list(outstanding_ids)))
        self.complete([(rid, b"", 0) for rid in outstanding_ids])

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.completions) >= n, timeout):
                raise AssertionError(f"only {len(self.completions)} of {n} samples completed")

    def completed_ids(self) -> collections.Counter[int]:
        with self._cond:
            return collections.Counter(rid for rid, _, _ in self.completions)


def queries(indices_per_query: Sequence[Sequence[int]], first_id: int = 1):
    """LoadGen-style queries: lists of QuerySample with unique ids."""
    out = []
    rid = first_id
    for indices in indices_per_query:
        q = []
        for index in indices:
            q.append(loadgen.QuerySample(rid, index))
            rid += 1
        out.append(q)
    return out


def loaded_qsl(
    count: int = 16, shape=(4, 4), dtype="uint8", compression: CompressionConfig = NO_COMPRESSION
) -> SyntheticQSL:
    qsl = SyntheticQSL(SyntheticSpec(tuple(shape), dtype, count), compression=compression)
    qsl.load_samples_to_ram(list(range(count)))
    return qsl


@pytest.fixture
def recording() -> RecordingLoadgen:
    return RecordingLoadgen()


@pytest.fixture
def echo_nodes():
    """Factory: ``echo_nodes(n, **EchoNode kwargs)`` -> list of (node, address), served here."""
    with contextlib.ExitStack() as stack:

        def make(n: int = 1, **kwargs) -> list[tuple[EchoNode, str]]:
            out = []
            for i in range(n):
                node = EchoNode(kwargs.pop("name", None) or f"echo-{i}", **kwargs)
                out.append((node, stack.enter_context(serve(node))))
            return out

        yield make
