"""Early stopping: how many queries a run needs before its latency percentile can be trusted.

The official LoadGen treats each query as a Bernoulli trial ("over latency" or not) and asks for
the smallest number ``h`` of passing queries such that, with ``t`` failing ones, the chance of
seeing at most ``t`` failures in ``h + t`` trials is below ``1 - confidence``. That chance is a
regularized incomplete beta function, computed here with the same series, the same bounded
binary search and the same per-call cache as the official code, in the same floating-point
operation order, so every ``h`` and every estimate matches it exactly (spec §5.4).

Terms: ``p`` is the target percentile (0.90 means 90 %), ``d`` the tolerance (always 0),
``c`` the confidence (always 0.99), ``t`` the number of over-latency queries, ``n`` the number
of queries issued. Latency arrays given to the scenario functions are sorted ascending.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ._enums import TestScenario

CONFIDENCE = 0.99
TOLERANCE = 0.0
MULTI_STREAM_PERCENTILE = 0.99  # SingleStream also estimates this one, to infer MultiStream

_SERIES_TOLERANCE = 1.0 / (1 << 33)
_FIRST_CHUNK = 256


def _libm_lgamma() -> Callable[[float], float]:
    """The C library's lgamma: the one the official build calls, so results agree to the bit.

    CPython's math.lgamma is its own implementation and differs in the last bit for many
    arguments; it is only the fallback where no C math library can be loaded.
    """
    try:
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = libm.lgamma
    except (OSError, AttributeError):
        return math.lgamma
    fn.restype = ctypes.c_double
    fn.argtypes = [ctypes.c_double]
    return fn


_lgamma = _libm_lgamma()


def lbeta(x: int, y: int) -> float:
    """ln B(x, y) for integer arguments."""
    return _lgamma(float(x)) + _lgamma(float(y)) - _lgamma(float(x + y))


_index = np.arange(1 << 12, dtype=np.float64)  # 0, 1, 2, ... as doubles (exact), grown as needed


def hypergeometric_2f1_a1(b: int, c: int, x: float) -> float:
    """Gauss's 2F1(1, b; c; x), summed until a term is at most 2**-33 (b <= 0 here).

    Term ``i+1`` is term ``i`` times ``(b+i)·x / (c+i)``, and terms are added one by one, as the
    official loop does; numpy's accumulate functions are strictly sequential, so computing the
    terms in chunks gives the same bits as the scalar loop. ``b + i`` and ``c + i`` are summed
    as doubles: exact for integers below 2**53, so the same as the loop's int-to-double.
    """
    global _index
    term = 1.0
    result = 1.0
    start = 0
    # Near the early-stopping threshold about 5·sqrt(-b) terms are needed, and never more
    # than 1 - b (the term for i = -b is exactly 0): size the first chunk to fit.
    size = min(1 - b, 64 + 6 * math.isqrt(-b)) if b <= 0 else _FIRST_CHUNK
    with np.errstate(all="ignore"):  # overflow to inf/nan is part of the official behaviour
        while True:
            if start + size > len(_index):
                _index = np.arange(2 * (start + size), dtype=np.float64)
            i = _index[start : start + size]
            terms = i + b
            terms *= x
            terms /= i + c
            terms[0] *= term  # term_{start+1} = term_start * ratio_start
            np.multiply.accumulate(terms, out=terms)
            # The loop runs while |term| > tolerance, so a NaN term stops it too.
            last = np.abs(terms) <= _SERIES_TOLERANCE
            last |= np.isnan(terms)
            stop = int(last.argmax())
            done = bool(last[stop])
            count = stop + 1 if done else size
            sums = np.empty(count + 1)
            sums[0] = result
            sums[1:] = terms[:count]
            result = float(np.add.accumulate(sums, out=sums)[-1])
            if done:
                return result
            term = float(terms[-1])
            start += size
            size *= 2


def beta_regularized(x: float, a: int, b: int) -> float:
    """I_x(a, b), the regularized incomplete beta function, via DLMF 15.8.1."""
    exponent = a * math.log(x) + (b - 1) * math.log(1 - x) - lbeta(a, b)
    try:
        scale = math.exp(exponent) / a
    except OverflowError:  # C's exp gives inf here; keep going as it does
        scale = math.inf
    return scale * hypergeometric_2f1_a1(1 - b, 1 + a, x / (x - 1))


def odds(h: int, t: int, p: float, d: float) -> float:
    """Probability of at most ``t`` over-latency queries among ``h + t``."""
    return beta_regularized(p - d, h, 1 + t)


def find_min_passing_in(min_h: int, max_h: int, t: int, p: float, d: float, c: float) -> int:
    """The first ``h`` in [min_h, max_h) with ``odds < 1 - c``; ``max_h`` if none passes."""
    count = max_h - min_h
    while count > 0:
        step = count // 2
        h = min_h + step
        if odds(h, t, p, d) < 1 - c:
            count = step
        else:
            min_h = h + 1
            count -= step + 1
    return min_h


class MinPassingQueriesFinder:
    """``find(t)`` with the official cache: one instance per early-stopping evaluation.

    The cache bounds each search by the two nearest smaller ``t`` already solved, so the
    search range (and with it the result) depends on what was asked before, exactly as in the
    official LoadGen; that is why each evaluation must start with a fresh instance.
    """

    def __init__(self) -> None:
        # (p, d, c) -> (sorted solved t values, t -> h)
        self._caches: dict[tuple[float, float, float], tuple[list[int], dict[int, int]]] = {}

    def __call__(self, t: int, p: float, d: float = TOLERANCE, c: float = CONFIDENCE) -> int:
        keys, cache = self._caches.setdefault((p, d, c), ([], {}))
        if t in cache:
            return cache[t]
        pos = bisect.bisect_left(keys, t)  # keys[:pos] are the solved t below this one
        x0, y0 = -1, 0
        x1, y1 = 0, math.ceil(math.log(1 - c) / math.log(p - d))
        if pos >= 1:
            x1, y1 = keys[pos - 1], cache[keys[pos - 1]]
        if pos >= 2:
            x0, y0 = keys[pos - 2], cache[keys[pos - 2]]
        min_slope = (p - d) / (1 - p + d)
        max_slope = float((y1 - y0) * (x1 - x0))
        min_h = int((t - x1) * min_slope + y1)
        max_h = int((t - x1) * max_slope + y1 + 1)
        h = find_min_passing_in(min_h, max_h, t, p, d, c)
        keys.insert(pos, t)
        cache[t] = h
        return h


@dataclass(frozen=True)
class EarlyStoppingOutcome:
    """One early-stopping evaluation: pass/fail, the report text and the estimates it set.

    ``text`` keeps its newlines (the summary prints it as is; the detail log replaces them by
    spaces). An estimate is None when this evaluation did not set it.
    """

    met: bool
    text: str
    latency_ss: int | None = None  # early_stopping_latency_ss (SingleStream)
    latency_ms: int | None = None  # early_stopping_latency_ms (SingleStream 99 %, MultiStream)


def _discard_count(n: int, p: float, find: MinPassingQueriesFinder) -> int:
    """The largest ``t`` such that ``n`` queries suffice with ``t - 1`` discarded (t >= 1)."""
    for i in range(2, n + 1):
        if n < find(i, p) + i:
            return i - 1
    return 1


def _pick(latencies: Sequence[int] | np.ndarray, index: int) -> int:
    return int(latencies[index]) if 0 <= index < len(latencies) else 0


def _pct(p: float) -> str:
    return f"{p * 100:.1f}"


def _percentile_estimate(
    n: int, p: float, latencies: Sequence[int] | np.ndarray, find: MinPassingQueriesFinder
) -> tuple[bool, str, int]:
    """The SingleStream/MultiStream estimate at ``p``: (enough queries, text, estimate)."""
    h_min = find(1, p)
    if n < h_min + 1:
        text = (
            f" * Only processed {n} queries.\n"
            f" * Need to process at least {h_min + 1} queries for early stopping."
        )
        return False, text, 0
    t = _discard_count(n, p, find)
    estimate = _pick(latencies, n - t)
    text = (
        f" * Processed at least {h_min + 1} queries ({n}).\n"
        f" * Would discard {t - 1} highest latency queries.\n"
        f" * Early stopping {_pct(p)}th percentile estimate: {estimate}"
    )
    return True, text, estimate


def early_stopping(
    scenario: TestScenario,
    queries_issued: int,
    sorted_sample_latencies: np.ndarray,
    sorted_query_latencies: np.ndarray,
    percentile: float,
    target_latency_ns: int,
) -> EarlyStoppingOutcome:
    """Evaluate early stopping for one latency array, as the official EarlyStopping does.

    SingleStream and Server read ``sorted_sample_latencies`` (the TPOT or TTFT array in token
    runs); MultiStream reads ``sorted_query_latencies`` (also in token runs). Only Server uses
    ``target_latency_ns``. Offline always passes with an empty text.
    """
    if not 0.0 < percentile < 1.0:
        raise ValueError(
            f"target latency percentile must be strictly between 0 and 1, got {percentile!r}"
        )
    find = MinPassingQueriesFinder()
    n = int(queries_issued)
    if scenario == TestScenario.SingleStream:
        ok, text, estimate = _percentile_estimate(n, percentile, sorted_sample_latencies, find)
        if not ok:
            return EarlyStoppingOutcome(False, text)
        p99 = MULTI_STREAM_PERCENTILE
        h99 = find(1, p99)
        if n < h99 + 1:
            text += (
                f"\n * Not enough queries processed for {_pct(p99)}th percentile\n"
                " early stopping estimate (would need to process at\n"
                f" least {h99 + 1} total queries)."
            )
            return EarlyStoppingOutcome(True, text, latency_ss=estimate)
        t99 = _discard_count(n, p99, find)
        estimate99 = _pick(sorted_sample_latencies, n - t99)
        text += f"\n * Early stopping {_pct(p99)}th percentile estimate: {estimate99}"
        return EarlyStoppingOutcome(True, text, latency_ss=estimate, latency_ms=estimate99)
    if scenario == TestScenario.MultiStream:
        ok, text, estimate = _percentile_estimate(n, percentile, sorted_query_latencies, find)
        if not ok:
            return EarlyStoppingOutcome(False, text)
        return EarlyStoppingOutcome(True, text, latency_ms=estimate)
    if scenario == TestScenario.Server:
        lat = np.asarray(sorted_sample_latencies)
        t = int(np.count_nonzero(lat > target_latency_ns))
        h = find(t, percentile)
        if n >= h + t:
            return EarlyStoppingOutcome(True, " * Run successful.")
        text = (
            f" * Run unsuccessful.\n * Processed {n} queries.\n"
            f" * Would need to run at least {h + t - n} more queries,\n"
            " with the run being successful if every additional\n"
            " query were under latency."
        )
        return EarlyStoppingOutcome(False, text)
    return EarlyStoppingOutcome(True, "")
