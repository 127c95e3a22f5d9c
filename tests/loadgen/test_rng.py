"""The C++ random primitives against hand-computed values and plain sequential references.

The references below are written straight from the libstdc++ algorithms, one draw at a time,
on a pure-Python mt19937 (``random.Random`` with an init_genrand state), so they share no
code with the vectorised numpy implementation under test.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from loadgen import _rng

V6_QSL_SEED = 2085463073848966840
V6_SAMPLE_SEED = 2747215439041700203
V6_SCHEDULE_SEED = 16159082839903944936


# --- sequential references -------------------------------------------------------------------


class RefMT:
    """std::mt19937 on Python's own Mersenne Twister: init_genrand state, then getrandbits."""

    def __init__(self, seed: int = 5489) -> None:
        mt = [seed & 0xFFFFFFFF]
        for i in range(1, 624):
            mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
        self._r = random.Random()
        self._r.setstate((3, (*mt, 624), None))

    def __call__(self) -> int:
        return self._r.getrandbits(32)


def ref_uniform_int(g: RefMT, a: int, b: int) -> int:
    r = b - a + 1
    x = g() * r
    if x % 2**32 < r:
        thr = (2**32 - r) % r
        while x % 2**32 < thr:
            x = g() * r
    return a + (x >> 32)


def ref_shuffle(g: RefMT, a: list) -> None:
    n = len(a)
    if n == 0:
        return
    if (2**32 - 1) // n >= n:
        i = 1
        if n % 2 == 0:
            j = ref_uniform_int(g, 0, 1)
            a[i], a[j] = a[j], a[i]
            i = 2
        while i < n:
            r = i + 1
            x = ref_uniform_int(g, 0, r * (r + 1) - 1)
            j, k = x // (r + 1), x % (r + 1)
            a[i], a[j] = a[j], a[i]
            a[i + 1], a[k] = a[k], a[i + 1]
            i += 2
    else:
        for i in range(1, n):
            j = ref_uniform_int(g, 0, i)
            a[i], a[j] = a[j], a[i]


def ref_canonical(g: RefMT) -> float:
    s = float(g())
    s += float(g()) * 2.0**32
    u = s / 2.0**64
    return math.nextafter(1.0, 0.0) if u >= 1.0 else u


# --- engine ----------------------------------------------------------------------------------


def test_default_seed_sanity_values() -> None:
    eng = _rng.MT19937()
    assert eng.next_u32() == 3499211612
    eng.skip(9998)
    assert eng.next_u32() == 4123659995


def test_seed_is_truncated_to_32_bits() -> None:
    assert _rng.MT19937(V6_QSL_SEED).take(3).tolist() == [144363858, 3947231266, 1102009372]
    low = V6_QSL_SEED & 0xFFFFFFFF
    assert _rng.MT19937(low).take(5).tolist() == _rng.MT19937(V6_QSL_SEED).take(5).tolist()


@pytest.mark.parametrize("seed", [0, 1, 5489, V6_SAMPLE_SEED, V6_SCHEDULE_SEED, 2**64 - 1])
def test_engine_matches_reference_across_peek_skip_take(seed: int) -> None:
    ref = RefMT(seed)
    expected = [ref() for _ in range(3000)]
    eng = _rng.MT19937(seed)
    got = eng.peek(10).tolist()  # peeking consumes nothing
    got = [eng.next_u32()] + eng.take(700).tolist()
    eng.peek(1000)
    got += eng.take(99).tolist()
    eng.skip(1500)  # partly beyond what was peeked
    got += [-1] * 1500 + eng.take(700).tolist()
    assert got[:800] == expected[:800]
    assert got[2300:] == expected[2300:3000]


# --- uniform_int -----------------------------------------------------------------------------


def test_uniform_int_hand_computed() -> None:
    # 3499211612 * 10 = 34992116120 = 8 * 2^32 + 632377752, and 632377752 >= 10: no rejection.
    assert _rng.uniform_int(_rng.MT19937(), 0, 9) == 8
    assert _rng.uniform_int(_rng.MT19937(), 5, 14) == 13


def test_uniform_int_single_value_still_draws() -> None:
    eng = _rng.MT19937()
    assert _rng.uniform_int(eng, 7, 7) == 7
    assert eng.next_u32() == RefMT()._r.getrandbits(64) >> 32  # the second output


def test_uniform_int_rejection_hand_computed() -> None:
    # With r = 3 * 2^30 the low word of g * r is ((3g) mod 4) * 2^30 and the threshold is
    # 2^32 mod r = 2^30, so exactly the outputs divisible by 4 are rejected; an accepted g
    # gives floor(3g / 4).
    r = 3 * 2**30
    ref = RefMT(12345)
    outs = [ref() for _ in range(200)]
    assert any(g % 4 == 0 for g in outs[:50])
    eng = _rng.MT19937(12345)
    expected = [3 * g // 4 for g in outs if g % 4][:100]
    assert [_rng.uniform_int(eng, 0, r - 1) for _ in range(100)] == expected
    assert _rng.uniform_ints(_rng.MT19937(12345), 0, r - 1, 100).tolist() == expected


@pytest.mark.parametrize(
    "bounds", [(0, 0), (0, 1), (0, 9), (3, 24578), (0, 2**31 - 2), (0, 2**32 - 1)]
)
def test_uniform_ints_matches_sequential_reference(bounds: tuple[int, int]) -> None:
    a, b = bounds
    ref = RefMT(V6_SAMPLE_SEED)
    if b - a + 1 < 2**32:
        expected = [ref_uniform_int(ref, a, b) for _ in range(5000)]
    else:  # the full 32-bit range returns the raw outputs
        expected = [a + ref() for _ in range(5000)]
    eng = _rng.MT19937(V6_SAMPLE_SEED)
    got = _rng.uniform_ints(eng, a, b, 4000).tolist() + [
        _rng.uniform_int(eng, a, b) for _ in range(1000)
    ]
    assert got == expected


def test_uniform_int_rejects_impossible_ranges() -> None:
    with pytest.raises(ValueError, match="range"):
        _rng.uniform_int(_rng.MT19937(), 5, 4)
    with pytest.raises(ValueError, match="range"):
        _rng.uniform_ints(_rng.MT19937(), 0, 2**32, 3)


# --- shuffle ---------------------------------------------------------------------------------


def test_shuffle_hand_computed_small() -> None:
    # n = 2 is even: one draw U(0, 1) decides whether positions 1 and 0 swap.
    first = RefMT()()
    a = ["x", "y"]
    _rng.shuffle(_rng.MT19937(), a)
    swapped = (first * 2) >> 32 == 0
    assert a == (["y", "x"] if swapped else ["x", "y"])
    # n = 3 is odd: one draw x = U(0, 2*3 - 1) swaps 1 <-> x // 3 and 2 <-> x % 3.
    x = (first * 6) >> 32
    b = [0, 1, 2]
    b[1], b[x // 3] = b[x // 3], b[1]
    b[2], b[x % 3] = b[x % 3], b[2]
    c = [0, 1, 2]
    _rng.shuffle(_rng.MT19937(), c)
    assert c == b


def test_shuffle_of_zero_or_one_element_draws_nothing() -> None:
    eng = _rng.MT19937()
    _rng.shuffle(eng, [])
    _rng.shuffle(eng, [42])
    assert eng.next_u32() == 3499211612


@pytest.mark.parametrize("n", [2, 3, 10, 11, 1000, 4097, 65534, 65535, 65536, 70001])
def test_shuffle_matches_reference_both_branches(n: int) -> None:
    ref = RefMT(V6_QSL_SEED)
    expected = list(range(n))
    ref_shuffle(ref, expected)
    after = [ref() for _ in range(5)]
    eng = _rng.MT19937(V6_QSL_SEED)
    got = list(range(n))
    _rng.shuffle(eng, got)
    assert got == expected
    assert eng.take(5).tolist() == after  # exactly as many draws consumed


def test_shuffle_consecutive_calls_share_the_engine() -> None:
    ref = RefMT(7)
    eng = _rng.MT19937(7)
    ra, rb = list(range(300)), list("abcdefghij")
    ref_shuffle(ref, ra)
    ref_shuffle(ref, rb)
    ga, gb = list(range(300)), list("abcdefghij")
    _rng.shuffle(eng, ga)
    _rng.shuffle(eng, gb)
    assert (ga, gb) == (ra, rb)


# --- reals -----------------------------------------------------------------------------------


def test_canonical_hand_computed() -> None:
    # The first two default outputs: 3499211612, then 581869302 as the high word.
    u = _rng.canonical(_rng.MT19937())
    assert u == (3499211612 + 581869302 * 2.0**32) / 2.0**64
    assert u == pytest.approx(0.1354770042967805)


def test_canonical_rounding_to_one_is_clamped() -> None:
    top = np.array([2**32 - 1], dtype=np.uint64)
    u = _rng.canonical_from_words(top, top)
    assert u[0] == math.nextafter(1.0, 0.0)


def test_canonicals_match_reference() -> None:
    ref = RefMT(99)
    expected = [ref_canonical(ref) for _ in range(3000)]
    eng = _rng.MT19937(99)
    got = [_rng.canonical(eng)] + _rng.canonicals(eng, 2999).tolist()
    assert got == expected


@pytest.mark.parametrize("rate", [1.0, 3.7, 1000.0, 123456.789])
def test_exponential_offsets_match_reference(rate: float) -> None:
    ref = RefMT(V6_SCHEDULE_SEED)
    expected = [int(-math.log(1.0 - ref_canonical(ref)) / rate * 1e9) for _ in range(5000)]
    got = _rng.exponential_offsets_ns(_rng.MT19937(V6_SCHEDULE_SEED), rate, 5000)
    assert got.dtype == np.int64
    assert got.tolist() == expected


def test_exponential_rejects_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="rate"):
        _rng.exponential_offsets_ns(_rng.MT19937(), 0.0, 3)


def test_seconds_to_ns_truncates() -> None:
    assert _rng.seconds_to_ns(1.0 / 3.0) == 333333333
    assert _rng.seconds_to_ns(1e-3) == 1000000
    assert _rng.seconds_to_ns(1.0 / 1e10) == 0


def test_varying_ranges_with_frequent_rejections_match_reference() -> None:
    # Ranges near 2^32 reject up to half the outputs; each step must retry in place.
    ranges = [3 * 2**30, 5, 2**31 + 1, 70_000, 3 * 2**30 + 7] * 2000
    ref = RefMT(V6_SAMPLE_SEED)
    expected = [ref_uniform_int(ref, 0, r - 1) for r in ranges]
    after = ref()
    eng = _rng.MT19937(V6_SAMPLE_SEED)
    got = _rng._bounded_steps(eng, np.array(ranges, dtype=np.uint64))
    assert got.tolist() == expected
    assert eng.next_u32() == after
