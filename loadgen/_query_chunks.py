"""A series' queries as the SUT receives them, made a chunk at a time as issuing reaches them.

The schedule itself (``GeneratedQueries``: sample indices, query offsets, scheduled times) is
numpy arrays, 8 bytes a number. The QuerySample objects and lists the SUT is handed are ~150
bytes a sample more; made all before the run, a 600 s Server run at 20,000 QPS would hold
12 M of them (~2 GB), and a SingleStream test builds a million it never issues. So they are
made ``CHUNK_SAMPLES`` at a time, the next chunk right after the last query of the one before
it was issued (in Server, while the loop would sleep anyway): the cost per sample is the same,
and only one chunk is alive on the LoadGen's side.
"""

from __future__ import annotations

from ._gc import acyclic_burst
from ._records import GeneratedQueries
from ._samples import QuerySample

CHUNK_SAMPLES = 1024


class QueryChunks:
    """``chunk(k)`` gives the queries from ``k`` on: ``(k, hi, queries, offsets)``, with
    ``queries[j - k]`` the QuerySample list and ``offsets[j - k]`` the scheduled offset (ns) of
    query ``j`` for ``k <= j < hi``. A chunk holds at least one query, and whole queries."""

    def __init__(self, gen: GeneratedQueries, base: int, chunk_samples: int = CHUNK_SAMPLES):
        self._index = gen.sample_index
        self._offs = gen.query_offsets
        self._sched = gen.scheduled_offset_ns
        self._base = base
        self._chunk_samples = chunk_samples
        self.query_count = gen.query_count
        self._single = gen.query_count == gen.sample_count  # one sample per query
        # The first chunk is made now, before the series starts (see _gc.frozen_heap).
        self._first = self._make(0) if self.query_count else None

    def chunk(self, k: int) -> tuple[int, int, list[list[QuerySample]], list[int]]:
        if k == 0 and self._first is not None:
            first, self._first = self._first, None
            return first
        return self._make(k)

    def _make(self, k: int) -> tuple[int, int, list[list[QuerySample]], list[int]]:
        with acyclic_burst():
            return self._build(k)

    def _build(self, k: int) -> tuple[int, int, list[list[QuerySample]], list[int]]:
        offs = self._offs
        first = int(offs[k])
        if self._single:
            hi = min(self.query_count, k + self._chunk_samples)
        else:
            hi = int(offs.searchsorted(first + self._chunk_samples, side="right")) - 1
            hi = min(self.query_count, max(hi, k + 1))
        last = int(offs[hi])
        base = self._base
        samples = list(
            map(QuerySample, range(base + first, base + last), self._index[first:last].tolist())
        )
        if self._single:
            queries = [[s] for s in samples]
        else:
            bounds = (offs[k : hi + 1] - first).tolist()
            queries = [samples[bounds[q] : bounds[q + 1]] for q in range(hi - k)]
        return k, hi, queries, self._sched[k:hi].tolist()
