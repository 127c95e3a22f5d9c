"""Loaded sets, generated queries and accuracy-log sampling, checked exactly.

Three layers of checks:
- hand-computed values and closed-form properties;
- a literal, one-draw-at-a-time reference of the official generation loop (written from the
  spec on the pure-Python engine of test_rng), compared over many settings;
- the official wheel itself (tests/loadgen/oracle.py): loaded sets, every issued index, the
  generated_* detail-log values and the accuracy-log sampling must all agree.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import loadgen as lg
from loadgen._effective import EffectiveSettings, effective_settings
from loadgen._querygen import (
    LoadableSet,
    SequenceGen,
    accuracy_log_mask,
    accuracy_log_offset,
    accuracy_log_probability,
    generate_loadable_sets,
    generate_queries,
)
from loadgen._records import GeneratedQueries
from tests.line_count import count_python_lines
from tests.loadgen.oracle import OracleRun, OracleSpec, run_official_batch
from tests.loadgen.test_rng import RefMT, ref_canonical, ref_shuffle, ref_uniform_int

V6_SEEDS = {
    "qsl_rng_seed": 2085463073848966840,
    "sample_index_rng_seed": 2747215439041700203,
    "schedule_rng_seed": 16159082839903944936,
}
SMALL_SEEDS = {"qsl_rng_seed": 1, "sample_index_rng_seed": 2, "schedule_rng_seed": 3}
BIG_SEEDS = {  # above 2^32: only the low 32 bits may matter
    "qsl_rng_seed": 2**40 + 12345,
    "sample_index_rng_seed": 2**63 + 777,
    "schedule_rng_seed": 2**33 + 5,
}
TEST01_SEED = 720381539243781796


def make_settings(fields: dict[str, Any]) -> lg.TestSettings:
    s = lg.TestSettings()
    for key, value in fields.items():
        if key == "scenario":
            value = lg.TestScenario[value]
        elif key == "mode":
            value = lg.TestMode[value]
        setattr(s, key, value)
    return s


def eff_for(fields: dict[str, Any], performance: int, total: int) -> EffectiveSettings:
    return effective_settings(make_settings(fields), performance, total)


def split(gen: GeneratedQueries) -> list[list[int]]:
    idx = gen.sample_index.tolist()
    offs = gen.query_offsets.tolist()
    return [idx[offs[q] : offs[q + 1]] for q in range(gen.query_count)]


# --- literal reference of the official generation loop ---------------------------------------


def ref_loadable_sets(eff: EffectiveSettings, count: int, total: int) -> list[tuple[list, int]]:
    samples = list(range(min(count, total)))
    ref_shuffle(RefMT(eff.qsl_rng_seed), samples)
    size = eff.performance_sample_count
    sets, cur = [], []
    for s in samples:
        cur.append(s)
        if len(cur) == size:
            sets.append((cur, size))
            cur = []
    if cur:
        sets.append((cur, len(cur)))
    pad = eff.samples_per_query - 1 if eff.scenario == lg.TestScenario.MultiStream else 0
    for st, _ in sets:
        for i in range(pad):
            st.append(st[i])
    return sets


def ref_generate(
    eff: EffectiveSettings, L: list[int], end: int, accuracy: bool
) -> tuple[list[list[int]], list[int], int, int]:
    """The official GenerateQueries loop, one draw at a time: (queries, sched, duration, spq)."""
    sc = eff.scenario
    server = sc == lg.TestScenario.Server
    offline = sc == lg.TestScenario.Offline
    multi = sc == lg.TestScenario.MultiStream
    gen = (1 if server else 2) * eff.target_duration_ms * 1_000_000
    minq = eff.min_query_count
    spq = eff.samples_per_query
    if accuracy and offline:
        spq = end
    if accuracy or eff.performance_issue_unique:
        gen = 0
        minq = len(L) // spq
    srng = RefMT(eff.sample_index_rng_seed)
    hrng = RefMT(eff.schedule_rng_seed)
    stride = spq if multi else 1
    main: list[int] = []
    if accuracy:
        main = list(range(0, end, stride))
        ref_shuffle(srng, main)
    uniq = list(range(0, end, stride))
    ref_shuffle(srng, uniq)
    eq: list[int] = []
    work = list(range(len(L)))
    j = 0
    while j < minq:
        ref_shuffle(srng, work)
        eq += work
        j += len(L)
    concat = eff.sample_concatenate_permutation
    if not accuracy and concat:
        if offline and spq % len(L):
            spq += len(L) - spq % len(L)
        elif not offline and minq % len(L):
            minq += len(L) - minq % len(L)
    counters = {"main": 0, "uniq": 0, "eq": 0}

    def take(name: str, seq: list[int]) -> int:
        i = counters[name]
        counters[name] += 1
        return seq[i % len(seq)] if name == "eq" else seq[i]

    def next_main() -> int:
        return take("main", main) if accuracy else ref_uniform_int(srng, 0, end - 1)

    same = eff.performance_issue_same_index
    queries: list[list[int]] = []
    sched: list[int] = []
    ts = prev = 0
    while prev < gen or len(queries) < minq:
        if multi:
            if eff.performance_issue_unique:
                s = take("uniq", uniq)
            elif eff.performance_issue_same:
                s = same
            else:
                s = next_main()
            q = [L[s + k] for k in range(spq)]
        elif offline:
            if eff.performance_issue_same:
                q = [L[same]] * spq
            else:
                q = []
                for _ in range(spq // len(L)):
                    c = list(L)
                    if concat:
                        ref_shuffle(srng, c)
                    q += c
                q += L[: spq % len(L)]
        else:
            q = []
            for _ in range(spq):
                if eff.performance_issue_unique:
                    q.append(L[take("uniq", uniq)])
                elif eff.performance_issue_same:
                    q.append(L[same])
                elif concat:
                    q.append(L[take("eq", eq)])
                else:
                    q.append(L[next_main()])
        queries.append(q)
        sched.append(ts)
        prev = ts
        if server:
            ts += int(-math.log(1.0 - ref_canonical(hrng)) / eff.target_qps * 1e9)
        else:
            ts += int((1.0 / eff.target_qps) * 1e9)
        if concat and len(queries) >= minq and prev < gen and not offline:
            minq += len(L)
    return queries, sched, ts, spq


def check_against_reference(fields: dict[str, Any], performance: int, total: int) -> None:
    eff = eff_for(fields, performance, total)
    accuracy = fields.get("mode") == "AccuracyOnly"
    count = eff.accuracy_sample_count if accuracy else eff.performance_sample_count
    sets = generate_loadable_sets(eff, count, total)
    ref_sets = ref_loadable_sets(eff, count, total)
    assert [(s.indices, s.sample_distribution_end) for s in sets] == ref_sets
    if not accuracy:
        sets = sets[:1]
    seq = SequenceGen()
    for loaded in sets:
        gen = generate_queries(eff, loaded, accuracy, seq)
        queries, sched, duration, spq = ref_generate(
            eff, loaded.indices, loaded.sample_distribution_end, accuracy
        )
        assert split(gen) == queries
        assert gen.scheduled_offset_ns.tolist() == sched
        assert gen.duration_ns == duration
        assert gen.samples_per_query == spq
        assert gen.sample_index.dtype == np.int64
        assert gen.scheduled_offset_ns.dtype == np.int64


SS = {"scenario": "SingleStream", "single_stream_expected_latency_ns": 1_000_000}
MS = {
    "scenario": "MultiStream",
    "multi_stream_expected_latency_ns": 8_000_000,
    "multi_stream_samples_per_query": 4,
}
SERVER = {"scenario": "Server", "server_target_qps": 2000.0}
OFFLINE = {"scenario": "Offline", "offline_expected_qps": 500.0}
SCENARIOS = {"SS": SS, "MS": MS, "Server": SERVER, "Offline": OFFLINE}

REFERENCE_CASES: dict[str, tuple[dict[str, Any], int, int]] = {}
for _name, _base in SCENARIOS.items():
    for _seeds_name, _seeds in (("v6", V6_SEEDS), ("small", SMALL_SEEDS), ("big", BIG_SEEDS)):
        _common = {**_base, **_seeds, "min_duration_ms": 40, "min_query_count": 20}
        REFERENCE_CASES[f"{_name}-perf-{_seeds_name}"] = (_common, 13, 100)
    _common = {**_base, **V6_SEEDS, "min_duration_ms": 40, "min_query_count": 20}
    REFERENCE_CASES[f"{_name}-accuracy"] = ({**_common, "mode": "AccuracyOnly"}, 16, 50)
    REFERENCE_CASES[f"{_name}-accuracy-concat"] = (
        {**_common, "mode": "AccuracyOnly", "sample_concatenate_permutation": True},
        16,
        50,
    )
    REFERENCE_CASES[f"{_name}-unique"] = ({**_common, "performance_issue_unique": True}, 13, 100)
    REFERENCE_CASES[f"{_name}-same"] = (
        {**_common, "performance_issue_same": True, "performance_issue_same_index": 3},
        13,
        100,
    )
    REFERENCE_CASES[f"{_name}-concat"] = (
        {**_common, "sample_concatenate_permutation": True},
        13,
        100,
    )
    if _name != "Server":  # Server has no equal-issue list to draw from then (see below)
        REFERENCE_CASES[f"{_name}-concat-nomin"] = (
            {**_common, "sample_concatenate_permutation": True, "min_query_count": 0},
            7,
            100,
        )
    REFERENCE_CASES[f"{_name}-minq-only"] = ({**_common, "min_duration_ms": 0}, 9, 30)
REFERENCE_CASES["SS-concat-override"] = (
    {**SS, **SMALL_SEEDS, "min_duration_ms": 10, "min_query_count": 5}
    | {"sample_concatenate_permutation": True, "performance_sample_count_override": 6},
    13,
    100,
)
REFERENCE_CASES["MS-tiny-set"] = (
    {**MS, **SMALL_SEEDS, "multi_stream_samples_per_query": 8, "min_query_count": 5}
    | {"min_duration_ms": 20},
    3,
    3,
)
REFERENCE_CASES["Offline-large-spq"] = (
    {**OFFLINE, **SMALL_SEEDS, "min_duration_ms": 1000, "min_query_count": 1}
    | {"sample_concatenate_permutation": True},
    37,
    100,
)


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_generation_matches_literal_reference(case: str) -> None:
    fields, performance, total = REFERENCE_CASES[case]
    check_against_reference(fields, performance, total)


# --- loaded sets -----------------------------------------------------------------------------


def test_performance_set_is_a_permutation_of_the_first_indices() -> None:
    eff = eff_for({**SS, **V6_SEEDS}, 64, 10_000)
    sets = generate_loadable_sets(eff, eff.performance_sample_count, 10_000)
    assert len(sets) == 1
    assert sorted(sets[0].indices) == list(range(64))
    assert sets[0].indices != list(range(64))
    assert sets[0].sample_distribution_end == 64


def test_accuracy_sets_cover_everything_in_chunks() -> None:
    eff = eff_for({**SS, **V6_SEEDS}, 16, 50)
    sets = generate_loadable_sets(eff, eff.accuracy_sample_count, 50)
    assert [len(s.indices) for s in sets] == [16, 16, 16, 2]
    assert sorted(i for s in sets for i in s.indices) == list(range(50))


def test_count_is_capped_at_the_qsl_total() -> None:
    eff = eff_for({**SS, **V6_SEEDS, "performance_sample_count_override": 500}, 10, 40)
    sets = generate_loadable_sets(eff, eff.performance_sample_count, 40)
    assert len(sets) == 1 and sorted(sets[0].indices) == list(range(40))


def test_multistream_padding_repeats_the_first_entries() -> None:
    eff = eff_for({**MS, **V6_SEEDS, "multi_stream_samples_per_query": 8}, 10, 13)
    sets = generate_loadable_sets(eff, 13, 13)
    first, last = sets
    assert first.sample_distribution_end == 10
    assert first.indices[10:] == first.indices[:7]
    # A chunk shorter than the padding repeats cyclically.
    assert last.sample_distribution_end == 3
    assert last.indices == (last.indices[:3] * 4)[:10]


# --- query counts and schedules ----------------------------------------------------------------


def test_singlestream_count_closed_form() -> None:
    # 1 ms period, min_duration 20 ms: 2 x 20 ms generated, so 41 queries (spec example).
    eff = eff_for({**SS, "min_duration_ms": 20, "min_query_count": 10}, 16, 100)
    loaded = generate_loadable_sets(eff, 16, 100)[0]
    gen = generate_queries(eff, loaded, False, SequenceGen())
    assert gen.query_count == 41
    assert gen.duration_ns == 41_000_000
    assert gen.scheduled_offset_ns[:3].tolist() == [0, 1_000_000, 2_000_000]
    assert gen.query_offsets.tolist() == list(range(42))


def test_offline_makes_one_padded_query() -> None:
    fields = {**OFFLINE, "min_duration_ms": 100, "min_query_count": 10}
    eff = eff_for({**fields, "sample_concatenate_permutation": True}, 16, 100)
    assert eff.samples_per_query == 55  # max(10, int(1.1 * 0.1 * 500))
    loaded = generate_loadable_sets(eff, 16, 100)[0]
    gen = generate_queries(eff, loaded, False, SequenceGen())
    assert gen.query_count == 1
    assert gen.samples_per_query == 64  # padded to a multiple of the set
    copies = gen.sample_index.reshape(4, 16)
    for c in copies:
        assert sorted(c.tolist()) == sorted(loaded.indices)
    assert gen.duration_ns == 2_000_000


def test_server_schedule_is_cumulative_exponential_gaps() -> None:
    eff = eff_for({**SERVER, **V6_SEEDS, "min_duration_ms": 100, "min_query_count": 10}, 16, 50)
    loaded = generate_loadable_sets(eff, 16, 50)[0]
    gen = generate_queries(eff, loaded, False, SequenceGen())
    ref = RefMT(eff.schedule_rng_seed)
    gaps = [int(-math.log(1.0 - ref_canonical(ref)) / 2000.0 * 1e9) for _ in range(gen.query_count)]
    assert gen.scheduled_offset_ns.tolist() == [sum(gaps[:i]) for i in range(len(gaps))]
    assert gen.duration_ns == sum(gaps)
    # The last query is the first one scheduled at or after min_duration.
    assert gen.scheduled_offset_ns[-1] >= 100_000_000 > gen.scheduled_offset_ns[-2]


def test_performance_issue_unique_issues_every_loaded_sample_once() -> None:
    for base in (SS, SERVER):
        eff = eff_for({**base, **V6_SEEDS, "performance_issue_unique": True}, 40, 100)
        loaded = generate_loadable_sets(eff, 40, 100)[0]
        gen = generate_queries(eff, loaded, False, SequenceGen())
        assert sorted(gen.sample_index.tolist()) == sorted(loaded.indices)


def test_performance_issue_same_repeats_one_sample() -> None:
    fields = {**SS, **V6_SEEDS, "performance_issue_same": True, "performance_issue_same_index": 5}
    eff = eff_for(fields, 40, 100)
    loaded = generate_loadable_sets(eff, 40, 100)[0]
    gen = generate_queries(eff, loaded, False, SequenceGen())
    assert set(gen.sample_index.tolist()) == {loaded.indices[5]}


def test_sequence_ids_and_values_continue_across_series() -> None:
    eff = eff_for({**MS, **V6_SEEDS, "min_duration_ms": 30, "min_query_count": 3}, 10, 30)
    seq = SequenceGen()
    sets = generate_loadable_sets(eff, 30, 30)
    gens = [generate_queries(eff, s, True, seq) for s in sets]
    perf = generate_queries(eff, sets[0], False, seq)
    gens.append(perf)
    ref = RefMT(5489)
    n = 0
    q = 0
    for g in gens:
        assert g.first_sample_seq == n
        assert g.first_query_seq == q
        assert g.accuracy_log_vals.tolist() == [ref_canonical(ref) for _ in range(g.sample_count)]
        n += g.sample_count
        q += g.query_count
    assert seq.next_sample_id == n and seq.next_query_id == q


def test_bad_inputs_raise_clear_errors() -> None:
    eff = eff_for(
        {**SS, "performance_issue_same": True, "performance_issue_same_index": 20}, 16, 30
    )
    loaded = generate_loadable_sets(eff, 16, 30)[0]
    with pytest.raises(ValueError, match="performance_issue_same_index"):
        generate_queries(eff, loaded, False, SequenceGen())
    with pytest.raises(ValueError, match="empty loaded set"):
        generate_queries(eff, LoadableSet([], 0), False, SequenceGen())
    eff = eff_for({**SERVER, "server_target_qps": 0.0}, 16, 30)
    with pytest.raises(ValueError, match="rate"):
        generate_queries(eff, loaded, False, SequenceGen())
    fields = {**SERVER, "sample_concatenate_permutation": True, "min_query_count": 0}
    eff = eff_for({**fields, "min_duration_ms": 10}, 16, 30)
    with pytest.raises(ValueError, match="min_query_count"):
        generate_queries(eff, loaded, False, SequenceGen())
    eff = eff_for({**SS, "single_stream_expected_latency_ns": 0.5}, 16, 30)
    with pytest.raises(ValueError, match="0 ns apart"):
        generate_queries(eff, loaded, False, SequenceGen())


def test_million_server_samples_are_fast() -> None:
    fields = {**V6_SEEDS, "scenario": "Server", "server_target_qps": 10_000.0}
    eff = eff_for({**fields, "min_duration_ms": 100_000, "min_query_count": 100}, 1024, 5000)
    loaded = generate_loadable_sets(eff, 1024, 5000)[0]
    seq = SequenceGen()
    # Fast means vectorized: the Python lines run (counted, not timed, so a busy machine does
    # not matter) are a small fraction of the queries, where a loop would run one per query.
    gen, lines = count_python_lines(lambda: generate_queries(eff, loaded, False, seq))
    assert gen.query_count > 990_000
    mask = accuracy_log_mask(eff, gen, probability=0.001)
    assert mask is not None and 500 < int(mask.sum()) < 1500
    assert lines < gen.query_count // 10, f"{lines} Python lines for {gen.query_count} queries"


# --- accuracy-log sampling --------------------------------------------------------------------


def test_accuracy_log_offset_is_one_uniform_draw() -> None:
    assert accuracy_log_offset(0) == ref_canonical(RefMT(0))
    assert accuracy_log_offset(TEST01_SEED) == ref_canonical(RefMT(TEST01_SEED & 0xFFFFFFFF))


def test_sampling_target_probability() -> None:
    fields = {**SERVER, "server_target_qps": 100.0, "min_duration_ms": 60_000}
    eff = eff_for({**fields, "min_query_count": 100, "accuracy_log_sampling_target": 4096}, 16, 30)
    assert accuracy_log_probability(eff) == 4096 / 6000
    eff = eff_for({**fields, "min_query_count": 9000, "accuracy_log_sampling_target": 4096}, 16, 30)
    assert accuracy_log_probability(eff) == 4096 / 9000  # floored at min_query_count * spq
    ms = {**MS, "min_duration_ms": 1000, "min_query_count": 1}
    eff = eff_for({**ms, "accuracy_log_sampling_target": 10}, 16, 30)
    assert accuracy_log_probability(eff) == 10 / (125 * 4)  # times spq outside Offline
    off = {**OFFLINE, "min_duration_ms": 1000, "min_query_count": 1000}
    eff = eff_for({**off, "accuracy_log_sampling_target": 50}, 16, 30)
    assert accuracy_log_probability(eff) == 50 / 1000  # Offline: at least min_sample_count
    eff = eff_for({**SS, "accuracy_log_probability": 0.25}, 16, 30)
    assert accuracy_log_probability(eff) == 0.25


def test_accuracy_log_mask_follows_the_wrapped_values() -> None:
    fields = {**SS, **V6_SEEDS, "accuracy_log_rng_seed": TEST01_SEED, "min_query_count": 500}
    eff = eff_for({**fields, "min_duration_ms": 0, "accuracy_log_probability": 0.1}, 16, 30)
    loaded = generate_loadable_sets(eff, 16, 30)[0]
    gen = generate_queries(eff, loaded, False, SequenceGen())
    mask = accuracy_log_mask(eff, gen)
    offset = accuracy_log_offset(TEST01_SEED)
    expected = []
    for v in gen.accuracy_log_vals.tolist():
        w = v + offset if v + offset < 1.0 else v + offset - 1.0
        expected.append(w <= 0.1)
    assert mask is not None and mask.tolist() == expected
    assert 20 < sum(expected) < 80
    eff_off = eff_for({**fields, "min_duration_ms": 0}, 16, 30)
    assert accuracy_log_mask(eff_off, gen) is None
    assert accuracy_log_mask(eff_off, gen, probability=1.0) is not None


# --- the official wheel as oracle ------------------------------------------------------------

FAST = {"min_duration_ms": 0}
ORACLE_CASES: dict[str, tuple[dict[str, Any], int, int]] = {
    "SS-perf-v6": ({**SS, **V6_SEEDS, "min_duration_ms": 20, "min_query_count": 10}, 100, 1000),
    "SS-perf-minq-big": ({**SS, **BIG_SEEDS, **FAST, "min_query_count": 300}, 64, 500),
    "MS-perf-v6": (
        {**MS, **V6_SEEDS, "min_duration_ms": 100, "min_query_count": 20}
        | {"multi_stream_samples_per_query": 8},
        50,
        200,
    ),
    "MS-perf-big": ({**MS, **BIG_SEEDS, **FAST, "min_query_count": 40}, 30, 100),
    "Server-perf-v6": (
        {**SERVER, **V6_SEEDS, "server_target_qps": 20_000.0, "min_duration_ms": 50}
        | {"min_query_count": 100},
        256,
        1000,
    ),
    "Server-perf-big": (
        {**SERVER, **BIG_SEEDS, "server_target_qps": 5_000.0, "min_duration_ms": 40}
        | {"min_query_count": 300},
        100,
        1000,
    ),
    "Offline-perf-v6": (
        {**OFFLINE, **V6_SEEDS, "offline_expected_qps": 1000.0, "min_duration_ms": 100}
        | {"min_query_count": 10},
        64,
        500,
    ),
    "Offline-perf-small": ({**OFFLINE, **SMALL_SEEDS, **FAST, "min_query_count": 300}, 70, 90),
    "large-shuffle-70000": ({**SS, **SMALL_SEEDS, **FAST, "min_query_count": 5}, 70_000, 70_000),
    "shuffle-65535": ({**SS, **V6_SEEDS, **FAST, "min_query_count": 5}, 65_535, 65_535),
    "shuffle-65536": ({**SS, **V6_SEEDS, **FAST, "min_query_count": 5}, 65_536, 65_536),
    "SS-same": (
        {**SS, **V6_SEEDS, **FAST, "min_query_count": 50, "performance_issue_same": True}
        | {"performance_issue_same_index": 3},
        64,
        200,
    ),
    "MS-same": (
        {**MS, **V6_SEEDS, **FAST, "min_query_count": 30, "performance_issue_same": True}
        | {"performance_issue_same_index": 3},
        64,
        200,
    ),
    "Server-same": (
        {**SERVER, **V6_SEEDS, "server_target_qps": 20_000.0, "min_duration_ms": 10}
        | {"min_query_count": 50, "performance_issue_same": True}
        | {"performance_issue_same_index": 3},
        64,
        200,
    ),
    "Offline-same": (
        {**OFFLINE, **V6_SEEDS, **FAST, "min_query_count": 100, "performance_issue_same": True}
        | {"performance_issue_same_index": 3},
        64,
        200,
    ),
    "SS-unique": ({**SS, **BIG_SEEDS, **FAST, "performance_issue_unique": True}, 64, 200),
    "MS-unique": ({**MS, **BIG_SEEDS, **FAST, "performance_issue_unique": True}, 66, 200),
    "Server-unique": (
        {**SERVER, **BIG_SEEDS, **FAST, "server_target_qps": 20_000.0}
        | {"performance_issue_unique": True},
        64,
        200,
    ),
    "Offline-unique": ({**OFFLINE, **BIG_SEEDS, **FAST, "performance_issue_unique": True}, 64, 200),
    "SS-concat": (
        {**SS, **V6_SEEDS, "min_duration_ms": 5, "min_query_count": 20}
        | {"sample_concatenate_permutation": True},
        13,
        100,
    ),
    "MS-concat": (
        {**MS, **V6_SEEDS, "min_duration_ms": 50, "min_query_count": 5}
        | {"sample_concatenate_permutation": True},
        13,
        100,
    ),
    "Server-concat": (
        {**SERVER, **V6_SEEDS, "server_target_qps": 20_000.0, "min_duration_ms": 20}
        | {"min_query_count": 10, "sample_concatenate_permutation": True},
        64,
        100,
    ),
    "Offline-concat": (
        {**OFFLINE, **V6_SEEDS, "offline_expected_qps": 1000.0, "min_duration_ms": 100}
        | {"min_query_count": 10, "sample_concatenate_permutation": True},
        48,
        100,
    ),
    "SS-accuracy": ({**SS, **V6_SEEDS, "mode": "AccuracyOnly"}, 64, 300),
    "MS-accuracy": ({**MS, **BIG_SEEDS, "mode": "AccuracyOnly"}, 62, 300),
    "Server-accuracy": (
        {**SERVER, **V6_SEEDS, "mode": "AccuracyOnly", "server_target_qps": 50_000.0},
        64,
        300,
    ),
    "Offline-accuracy": ({**OFFLINE, **V6_SEEDS, "mode": "AccuracyOnly"}, 64, 300),
    "SS-accuracy-concat": (
        {**SS, **V6_SEEDS, "mode": "AccuracyOnly", "sample_concatenate_permutation": True},
        64,
        150,
    ),
    "Offline-accuracy-concat": (
        {**OFFLINE, **V6_SEEDS, "mode": "AccuracyOnly", "sample_concatenate_permutation": True},
        64,
        150,
    ),
    "accuracy-override": (
        {**SS, **SMALL_SEEDS, "mode": "AccuracyOnly", "accuracy_sample_count_override": 70},
        32,
        300,
    ),
    "SS-log-probability": (
        {**SS, **V6_SEEDS, **FAST, "min_query_count": 400, "accuracy_log_probability": 0.3}
        | {"accuracy_log_rng_seed": TEST01_SEED},
        64,
        200,
    ),
    "Server-log-target": (
        {**SERVER, **V6_SEEDS, "server_target_qps": 10_000.0, "min_duration_ms": 20}
        | {"min_query_count": 100, "accuracy_log_sampling_target": 50}
        | {"accuracy_log_rng_seed": TEST01_SEED},
        64,
        200,
    ),
    "Offline-log-target": (
        {**OFFLINE, **V6_SEEDS, "offline_expected_qps": 1000.0, "min_duration_ms": 50}
        | {
            "min_query_count": 10,
            "accuracy_log_sampling_target": 11,
            "accuracy_log_rng_seed": 2**35 + 2,
        },
        40,
        200,
    ),
    "MS-log-target": (
        {**MS, **BIG_SEEDS, **FAST, "min_query_count": 50, "accuracy_log_sampling_target": 40}
        | {"accuracy_log_rng_seed": 2**35 + 9},
        40,
        200,
    ),
    "SS-submission-log": (
        {**SS, **V6_SEEDS, **FAST, "mode": "SubmissionRun", "min_query_count": 100}
        | {"accuracy_log_probability": 0.2, "accuracy_log_rng_seed": TEST01_SEED},
        16,
        60,
    ),
    "MS-submission": (
        {**MS, **SMALL_SEEDS, **FAST, "mode": "SubmissionRun", "min_query_count": 30}
        | {"accuracy_log_probability": 0.5},
        16,
        40,
    ),
}


@pytest.fixture(scope="module")
def oracle() -> dict[str, OracleRun]:
    pytest.importorskip("mlperf_loadgen")
    names = sorted(ORACLE_CASES)
    specs = [OracleSpec(ORACLE_CASES[n][0], ORACLE_CASES[n][2], ORACLE_CASES[n][1]) for n in names]
    return dict(zip(names, run_official_batch(specs)))


def our_series(
    fields: dict[str, Any], performance: int, total: int
) -> tuple[EffectiveSettings, list[tuple[bool, LoadableSet, GeneratedQueries]]]:
    """The series one StartTest runs, in order: (accuracy?, loaded set, generated queries)."""
    eff = eff_for(fields, performance, total)
    seq = SequenceGen()
    out = []
    mode = eff.mode
    if mode in (lg.TestMode.SubmissionRun, lg.TestMode.AccuracyOnly):
        for loaded in generate_loadable_sets(eff, eff.accuracy_sample_count, total):
            out.append((True, loaded, generate_queries(eff, loaded, True, seq)))
    if mode in (lg.TestMode.SubmissionRun, lg.TestMode.PerformanceOnly):
        loaded = generate_loadable_sets(eff, eff.performance_sample_count, total)[0]
        out.append((False, loaded, generate_queries(eff, loaded, False, seq)))
    return eff, out


@pytest.mark.parametrize("case", sorted(ORACLE_CASES))
def test_matches_official_loadgen(case: str, oracle: dict[str, OracleRun]) -> None:
    fields, performance, total = ORACLE_CASES[case]
    official = oracle[case]
    eff, series = our_series(fields, performance, total)

    assert official.loads == [loaded.indices for _, loaded, _ in series]
    assert official.unloads == official.loads
    assert official.flushes == len(series)
    assert official.values("generated_query_count") == [g.query_count for _, _, g in series]
    assert official.values("generated_samples_per_query") == [
        g.samples_per_query for _, _, g in series
    ]
    assert official.values("generated_query_duration") == [g.duration_ns for _, _, g in series]

    expected_log: set[tuple[int, int]] = set()
    issued = official.queries
    for accuracy, _, gen in series:
        ours = split(gen)
        if accuracy or eff.scenario == lg.TestScenario.Server:
            n = gen.query_count  # every generated query is issued
        else:
            n = len(issued)  # a performance run stops at its natural end
            assert n >= min(gen.query_count, eff.min_query_count)
        assert issued[:n] == ours[:n]
        issued = issued[n:]
        n_samples = int(gen.query_offsets[n])
        seq_ids = range(gen.first_sample_seq, gen.first_sample_seq + n_samples)
        if accuracy:
            logged = [True] * n_samples
        else:
            mask = accuracy_log_mask(eff, gen)
            logged = [False] * n_samples if mask is None else mask[:n_samples].tolist()
        idx = gen.sample_index.tolist()
        expected_log.update((s, idx[i]) for i, s in enumerate(seq_ids) if logged[i])
    assert issued == []
    got_log = {(e["seq_id"], e["qsl_idx"]) for e in official.accuracy}
    assert len(got_log) == len(official.accuracy)
    assert got_log == expected_log
    if "log" in case:
        assert 0 < len(got_log) < sum(len(q) for q in official.queries)
