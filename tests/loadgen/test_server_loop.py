"""The Server loop of its own issues exactly what the shared issue loop does."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen._completion import Series
from loadgen._effective import effective_settings
from loadgen._enums import TestMode, TestScenario
from loadgen._issue import _issue_loop, _server_loop
from loadgen._query_chunks import QueryChunks
from loadgen._querygen import LoadableSet, SequenceGen, generate_queries
from loadgen._settings import TestSettings
from loadgen.clock import VirtualClock


class LateSUT:
    """Answers every third query 2 ms later (on the clock), the others inside the call; with
    ``abort_at``, aborts the series in that call."""

    def __init__(self, clock: VirtualClock, abort_at: int = 0) -> None:
        self.clock = clock
        self.abort_at = abort_at
        self.series: Series | None = None
        self.calls: list[tuple[int, list[tuple[int, int]]]] = []

    def issue_query(self, samples: list) -> None:
        assert self.series is not None
        self.calls.append((self.clock.now_ns(), [(s.id, s.index) for s in samples]))
        ids = [s.id for s in samples]
        if len(self.calls) == self.abort_at:
            self.series.abort("AbortTest called")
        if len(self.calls) % 3:
            self.answer(ids)
        else:
            self.clock.call_later(2_000_000, self.answer, ids)

    def answer(self, ids: list[int]) -> None:
        assert self.series is not None
        self.series.complete([_Response(i) for i in ids], self.clock.now_ns())


class _Response:
    def __init__(self, id: int) -> None:  # noqa: A002 - the official name
        self.id = id
        self.n_tokens = 0


def run(loop, trace: bool, accuracy: bool, abort_at: int = 0, **fields):
    s = TestSettings()
    s.scenario = TestScenario.Server
    s.mode = TestMode.PerformanceOnly
    s.server_target_qps = 20_000.0
    s.min_duration_ms = 50
    s.min_query_count = 100
    for name, value in fields.items():
        setattr(s, name, value)
    eff = effective_settings(s, 64, 64)
    gen = generate_queries(eff, LoadableSet(list(range(64)), 64), accuracy, SequenceGen())
    clock = VirtualClock()
    series = Series(gen.sample_index, 0, error_sink=print, clock=clock)
    sut = LateSUT(clock, abort_at)
    sut.series = series
    out = loop(sut, eff, QueryChunks(gen, series.base, 16), series, accuracy, clock, trace)
    nq = out.queries_issued
    ends = None if out.issue_end_ns is None else out.issue_end_ns[:nq].tolist()
    calls = [(t, [(i - series.base, index) for i, index in q]) for t, q in sut.calls]
    return (
        out.start_ns, nq, out.samples_issued, out.issue_ns[:nq].tolist(), ends,
        out.end_messages, out.stopped_by, out.natural_end, out.ran_out, calls,
    )  # fmt: skip


def shared(sut, eff, chunks, series, accuracy, clock, trace):
    return _issue_loop(sut, eff, chunks, series, accuracy, 10**12, clock, False, trace)


@pytest.mark.parametrize("trace", [False, True])
@pytest.mark.parametrize("accuracy", [False, True])
@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"abort_at": 40},
        {"max_query_count": 300},
        {"max_duration_ms": 20},
        {"server_max_async_queries": 2},
    ],
)
def test_server_loop_matches_the_shared_loop(trace, accuracy, fields):
    ours = run(_server_loop, trace, accuracy, **fields)
    assert ours == run(shared, trace, accuracy, **fields)
    assert ours[1] > 0
    assert np.all(np.diff(ours[3]) >= 0)
