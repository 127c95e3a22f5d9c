"""Early stopping: the official numbers, the exact series arithmetic and the scenario texts."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
import pytest

from loadgen._early_stopping import (
    MinPassingQueriesFinder,
    beta_regularized,
    early_stopping,
    find_min_passing_in,
    hypergeometric_2f1_a1,
    lbeta,
    odds,
)
from loadgen._enums import TestScenario

SS, MS, SERVER, OFFLINE = (
    TestScenario.SingleStream,
    TestScenario.MultiStream,
    TestScenario.Server,
    TestScenario.Offline,
)


def scalar_2f1(b: int, c: int, x: float) -> float:
    """The series exactly as the official loop writes it, one term at a time."""
    term = 1.0
    result = 1.0
    i = 0
    while abs(term) > 1.0 / (1 << 33):
        term *= (b + i) * x / (c + i)
        result += term
        i += 1
    return result


def test_known_values_verified_against_the_official_wheel():
    assert MinPassingQueriesFinder()(1, 0.90) == 63
    assert MinPassingQueriesFinder()(1, 0.99) == 661
    assert MinPassingQueriesFinder()(0, 0.99) == 459


@pytest.mark.parametrize(
    "p, expected",
    [(0.90, [44, 63, 79, 94, 109, 122]), (0.99, [459, 661, 836, 998, 1153, 1302])],
)
def test_tables_for_t_0_to_5(p, expected):
    find = MinPassingQueriesFinder()
    assert [find(t, p) for t in range(6)] == expected


def test_p999_and_the_config_rounded_percentile():
    assert MinPassingQueriesFinder()(1, 0.999) == 6635
    assert MinPassingQueriesFinder()(1, 99.9 * 0.01) == 6635  # 0.9990000000000001


def test_the_answer_is_the_first_h_whose_odds_drop_below_one_percent():
    for t, p in [(0, 0.9), (3, 0.9), (2, 0.99), (40, 0.9)]:
        h = MinPassingQueriesFinder()(t, p)
        assert odds(h, t, p, 0.0) < 0.01 <= odds(h - 1, t, p, 0.0)


def test_bounded_search_returns_max_h_when_nothing_in_range_passes():
    # The true answer for t=1, p=.9 is 63: a range below it has no passing h.
    assert find_min_passing_in(10, 40, 1, 0.9, 0.0, 0.99) == 40
    assert find_min_passing_in(10, 100, 1, 0.9, 0.0, 0.99) == 63
    assert find_min_passing_in(70, 100, 1, 0.9, 0.0, 0.99) == 70


def test_cache_is_per_instance_and_reused_within_one():
    find = MinPassingQueriesFinder()
    first = [find(t, 0.9) for t in range(1, 30)]
    assert [find(t, 0.9) for t in range(1, 30)] == first
    assert [MinPassingQueriesFinder()(t, 0.9) for t in (5, 17, 29)] == [
        first[4],
        first[16],
        first[28],
    ]


def test_series_matches_the_scalar_loop_bit_for_bit_across_chunk_boundaries():
    rng = random.Random(7)
    cases = [
        (-t, 1 + h, p / (p - 1)) for t, h, p in [(0, 10, 0.9), (1, 63, 0.9), (5000, 45000, 0.9)]
    ]
    cases += [
        (-rng.randint(0, 20000), 1 + rng.randint(1, 200000), p / (p - 1))
        for p in (0.5, 0.9, 0.99, 0.999)
        for _ in range(25)
    ]
    for b, c, x in cases:
        ours, theirs = hypergeometric_2f1_a1(b, c, x), scalar_2f1(b, c, x)
        assert struct.pack("<d", ours) == struct.pack("<d", theirs), (b, c, x, ours, theirs)


def test_series_stops_on_overflow_like_the_c_loop():
    # Terms overflow to inf, then inf * 0 gives nan, which ends the official loop.
    ours = hypergeometric_2f1_a1(-400, 1, -1e6)
    assert math.isnan(ours) and math.isnan(scalar_2f1(-400, 1, -1e6))


def test_beta_function_identities():
    assert lbeta(2, 3) == pytest.approx(math.log(1 / 12))
    assert beta_regularized(0.3, 1, 4) == pytest.approx(1 - 0.7**4)
    assert beta_regularized(0.3, 5, 1) == pytest.approx(0.3**5)
    # P(X <= 1) for X ~ Binomial(10, 0.1): the tail the odds function computes.
    binom = 0.9**10 + 10 * 0.1 * 0.9**9
    assert odds(9, 1, 0.9, 0.0) == pytest.approx(binom)


def test_single_stream_201_queries_discards_9_and_reads_sorted_191():
    lat = np.arange(1000, 1201, dtype=np.int64)  # sorted, lat[i] = 1000 + i
    out = early_stopping(SS, 201, lat, lat, 0.9, 0)
    assert out.met
    assert out.latency_ss == 1191
    assert out.text == (
        " * Processed at least 64 queries (201).\n"
        " * Would discard 9 highest latency queries.\n"
        " * Early stopping 90.0th percentile estimate: 1191\n"
        " * Not enough queries processed for 99.0th percentile\n"
        " early stopping estimate (would need to process at\n"
        " least 662 total queries)."
    )
    assert out.latency_ms is None


def test_single_stream_too_few_queries_fails():
    lat = np.arange(63, dtype=np.int64)
    out = early_stopping(SS, 63, lat, lat, 0.9, 0)
    assert not out.met
    assert out.text == (
        " * Only processed 63 queries.\n * Need to process at least 64 queries for early stopping."
    )
    assert early_stopping(SS, 64, np.arange(64), np.arange(64), 0.9, 0).met


def test_single_stream_also_estimates_the_99th_percentile():
    lat = np.arange(2000, dtype=np.int64)
    out = early_stopping(SS, 2000, lat, lat, 0.9, 0)
    find = MinPassingQueriesFinder()
    t99 = max(i for i in range(1, 2001) if all(find(j, 0.99) + j <= 2000 for j in range(1, i + 1)))
    assert out.latency_ms == 2000 - t99
    assert out.text.endswith(f"\n * Early stopping 99.0th percentile estimate: {2000 - t99}")


def test_multi_stream_reads_the_query_latencies():
    queries = np.arange(10_000, 10_662, dtype=np.int64)
    samples = np.zeros(662 * 8, dtype=np.int64)
    out = early_stopping(MS, 662, samples, queries, 0.99, 0)
    assert out.met
    assert out.latency_ms == int(queries[661])  # t = 1: the maximum
    assert out.latency_ss is None
    assert out.text == (
        " * Processed at least 662 queries (662).\n"
        " * Would discard 0 highest latency queries.\n"
        " * Early stopping 99.0th percentile estimate: 10661"
    )
    assert not early_stopping(MS, 661, samples, queries[:661], 0.99, 0).met


def test_server_counts_strictly_over_latency_samples():
    target = 100
    lat = np.full(459, target, dtype=np.int64)  # at the target is not over it
    assert early_stopping(SERVER, 459, lat, lat, 0.99, target) == early_stopping(
        SERVER, 459, lat, lat, 0.99, target
    )
    ok = early_stopping(SERVER, 459, lat, lat, 0.99, target)
    assert ok.met and ok.text == " * Run successful."
    lat[-1] = target + 1  # t = 1 needs 661 + 1 queries
    out = early_stopping(SERVER, 459, lat, lat, 0.99, target)
    assert not out.met
    assert out.text == (
        " * Run unsuccessful.\n * Processed 459 queries.\n"
        " * Would need to run at least 203 more queries,\n"
        " with the run being successful if every additional\n"
        " query were under latency."
    )


def test_offline_always_passes_without_text():
    out = early_stopping(OFFLINE, 1, np.arange(5), np.zeros(0), 0.99, 0)
    assert out.met and out.text == "" and out.latency_ss is None and out.latency_ms is None


@pytest.mark.parametrize("p", [0.0, 1.0, 99.0])
def test_a_percentile_outside_0_1_is_a_clear_error(p):
    with pytest.raises(ValueError, match="between 0 and 1"):
        early_stopping(SS, 100, np.arange(100), np.arange(100), p, 0)
