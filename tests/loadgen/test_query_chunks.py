"""Queries made a chunk at a time are exactly the queries made all at once."""

from __future__ import annotations

import numpy as np
import pytest

from loadgen._query_chunks import QueryChunks
from loadgen._records import GeneratedQueries


def generated(sizes: list[int]) -> GeneratedQueries:
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n = int(offsets[-1])
    return GeneratedQueries(
        sample_index=(np.arange(n, dtype=np.int64) * 7) % 11,
        query_offsets=offsets,
        scheduled_offset_ns=np.arange(len(sizes), dtype=np.int64) * 1000 + 5,
        samples_per_query=max(sizes),
        duration_ns=0,
        first_sample_seq=0,
        accuracy_log_vals=np.zeros(n),
    )


def walk(chunks: QueryChunks) -> tuple[list[list[tuple[int, int]]], list[int], list[int]]:
    queries, offsets, chunk_samples = [], [], []
    k = 0
    while k < chunks.query_count:
        lo, hi, part, offs = chunks.chunk(k)
        assert lo == k < hi <= chunks.query_count and len(part) == len(offs) == hi - lo
        queries += [[(s.id, s.index) for s in q] for q in part]
        offsets += offs
        chunk_samples.append(sum(len(q) for q in part))
        k = hi
    return queries, offsets, chunk_samples


@pytest.mark.parametrize("sizes", [[1] * 10, [8] * 5, [3, 1, 4, 1, 5, 9, 2, 6], [100]])
@pytest.mark.parametrize("chunk_samples", [1, 3, 8, 4096])
def test_chunks_hold_every_query_once_in_order(sizes, chunk_samples):
    gen = generated(sizes)
    base = 1000
    queries, offsets, per_chunk = walk(QueryChunks(gen, base, chunk_samples))
    ids = iter(range(base, base + sum(sizes)))
    index = iter(gen.sample_index.tolist())
    assert queries == [[(next(ids), next(index)) for _ in range(n)] for n in sizes]
    assert offsets == gen.scheduled_offset_ns.tolist()
    # A chunk is never much more than its size: whole queries, at least one.
    assert all(n <= max(chunk_samples, max(sizes)) for n in per_chunk)
