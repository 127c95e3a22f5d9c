"""Loaded sets and pre-generated queries, identical to the official LoadGen's for the same seeds.

Terms used below (as in the official LoadGen):

- *loaded set* ``L``: the QSL indices loaded for one series, in load order. MultiStream sets
  carry ``spq - 1`` padding entries at the end (copies of their first entries) so a query
  starting anywhere before ``E`` stays inside the set.
- ``E`` (``sample_distribution_end``): the number of entries of ``L`` without the padding;
  random positions are drawn from ``[0, E - 1]``.
- *position*: an index into ``L``; a query's samples are ``L[position]`` values.
- *series*: one GenerateQueries + issue cycle (one performance run, one accuracy chunk, one
  FindPeak probe).
- *sequence id*: every generated sample (and query) in one StartTest gets the next id,
  counting from 0 across every series, whether or not it is ever issued.

Everything here is pure: no I/O and no clocks, so the whole schedule can be checked exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._effective import EffectiveSettings
from ._enums import TestScenario
from ._records import GeneratedQueries
from ._rng import (
    MT19937,
    canonical,
    canonicals,
    exponential_offsets_ns,
    seconds_to_ns,
    shuffle,
    uniform_ints,
)

ACCURACY_LOG_DEFAULT_SEED = 5489  # the default-constructed std::mt19937 of SequenceGen
_VALS_CHUNK = 1 << 16  # accuracy-log values drawn per numpy call (bounds temporary memory)


@dataclass(frozen=True)
class LoadableSet:
    """One set of QSL indices loaded together (``indices`` includes MultiStream padding)."""

    indices: list[int]
    sample_distribution_end: int


def generate_loadable_sets(
    settings: EffectiveSettings, count: int, total_sample_count: int
) -> list[LoadableSet]:
    """Shuffle ``0..n-1`` (n = min(count, total)) with ``mt19937(qsl_rng_seed)`` and cut it.

    The chunks hold ``performance_sample_count`` indices each (the last may be shorter; a
    count of 0 means one chunk). The performance run uses the first set of
    ``count = performance_sample_count``; the accuracy run uses every set of
    ``count = accuracy_sample_count``.
    """
    n = max(0, min(int(count), int(total_sample_count)))
    samples = list(range(n))
    shuffle(MT19937(settings.qsl_rng_seed), samples)
    size = settings.performance_sample_count
    if size <= 0:
        chunks = [samples] if samples else []
    else:
        chunks = [samples[i : i + size] for i in range(0, n, size)]
    padding = settings.samples_per_query - 1 if settings.scenario == TestScenario.MultiStream else 0
    sets = []
    for chunk in chunks:
        end = len(chunk)
        for i in range(padding):
            # Grows while it copies, so sets shorter than the padding repeat cyclically.
            chunk.append(chunk[i])
        sets.append(LoadableSet(chunk, end))
    return sets


class SequenceGen:
    """Sequence ids and accuracy-log values for one whole StartTest.

    Sample and query ids start at 0 and are never reset between series. Every generated
    sample also gets one ``uniform_real(0, 1)`` draw from an engine seeded with the C++
    default (5489), in sample-id order; ``accuracy_log_rng_seed`` only shifts these values
    (see ``accuracy_log_mask``).
    """

    def __init__(self) -> None:
        self._sample_id = 0
        self._query_id = 0
        self._acc_rng = MT19937(ACCURACY_LOG_DEFAULT_SEED)

    @property
    def next_sample_id(self) -> int:
        """The id the next generated sample will get."""
        return self._sample_id

    @property
    def next_query_id(self) -> int:
        """The id the next generated query will get."""
        return self._query_id

    def take(self, samples: int, queries: int) -> tuple[int, int, np.ndarray]:
        """Hand out ids for a series: (first sample id, first query id, accuracy-log values)."""
        first_sample, first_query = self._sample_id, self._query_id
        self._sample_id += samples
        self._query_id += queries
        vals = np.empty(samples, dtype=np.float64)
        for lo in range(0, samples, _VALS_CHUNK):
            hi = min(samples, lo + _VALS_CHUNK)
            vals[lo:hi] = canonicals(self._acc_rng, hi - lo)
        return first_sample, first_query, vals


# --- query generation ------------------------------------------------------------------------


_INT64_MIN = -(1 << 63)


def _period_ns(target_qps: float) -> int:
    """The constant gap between queries outside Server: ``int((1 / qps) * 1e9)`` ns.

    An infinite rate (an expected latency of 0) gives 0. A rate of 0 (Offline's
    ``offline_expected_qps = 0``) makes the official period infinite, which its conversion to
    int64 nanoseconds turns into INT64_MIN on x86-64; Offline issues one query whatever the
    period, so only the logged ``generated_query_duration`` shows it, and it shows the same.
    """
    if not target_qps >= 0.0:
        raise ValueError(f"target_qps must be a non-negative number, got {target_qps!r}")
    if target_qps == 0.0:
        return _INT64_MIN
    seconds = 1.0 / target_qps
    return seconds_to_ns(seconds) if seconds * 1e9 < 2.0**63 else _INT64_MIN


def _wrap_int64(value: int) -> int:
    """``value`` as a C++ int64 sum wraps."""
    return (value - _INT64_MIN) % (1 << 64) + _INT64_MIN


def _query_count(n_time: int, min_queries: int, set_size: int, bump: bool) -> int:
    """How many queries the official generation loop makes.

    ``n_time`` is the smallest count whose last query is scheduled at or after the
    generation duration (0 when the duration is 0). Without equal issue the loop stops at
    ``max(min_queries, n_time)``. With equal issue (``bump``; min_queries already a multiple
    of the set size) the loop extends min_queries by whole sets while the duration is not
    reached, so it stops at the first multiple reaching ``n_time``.
    """
    if not bump or n_time <= min_queries:
        return max(min_queries, n_time)
    sets = -(-(n_time - min_queries) // set_size)
    return min_queries + sets * set_size


def _server_schedule(
    rng: MT19937, rate: float, gen_ns: int, min_queries: int, set_size: int, bump: bool
) -> tuple[int, np.ndarray]:
    """Draw Poisson gaps until the query count is known: (count, gaps of every query)."""
    est = int(gen_ns * rate / 1e9 * 1.02) + 64
    gaps = exponential_offsets_ns(rng, rate, max(est, min_queries) + 1)
    n_time = 0
    while gen_ns > 0:
        ts = np.cumsum(gaps[:-1])  # ts[i] = scheduled offset of query i + 1
        hit = np.flatnonzero(ts >= gen_ns)
        if len(hit):
            n_time = int(hit[0]) + 2
            break
        gaps = np.concatenate((gaps, exponential_offsets_ns(rng, rate, len(gaps) // 2 + 64)))
    count = _query_count(n_time, min_queries, set_size, bump)
    if count > len(gaps):
        gaps = np.concatenate((gaps, exponential_offsets_ns(rng, rate, count - len(gaps))))
    return count, gaps[:count]


def _positions(listing: list[int], n: int, what: str) -> np.ndarray:
    """The first ``n`` entries of a list that is handed out in order (and must not run out)."""
    if n > len(listing):
        raise ValueError(
            f"{what}: {n} positions needed but only {len(listing)} available in the loaded set"
        )
    return np.asarray(listing[:n], dtype=np.int64)


class OutsideLoadedSet(ValueError):
    """A series would issue samples from past the end of its loaded set.

    The official LoadGen logs the settings error and then reads whatever memory lies past its
    set (garbage sample indices, a result that looks VALID); the run stops here instead.
    """


def _check_positions(pos: np.ndarray, span: int, set_size: int) -> None:
    if len(pos) and (int(pos.min()) < 0 or int(pos.max()) + span > set_size):
        raise OutsideLoadedSet(
            f"sample position {int(pos.max())} (+{span - 1}) is outside the loaded set of "
            f"{set_size} samples (check performance_issue_same_index); nothing of this "
            "series was issued"
        )


def generate_queries(
    settings: EffectiveSettings, loaded: LoadableSet, accuracy_mode: bool, seq: SequenceGen
) -> GeneratedQueries:
    """Every query of one series, with its samples and scheduled offset (GenerateQueries).

    ``accuracy_mode`` selects the accuracy variant (every loaded sample at least once, in a
    shuffled order); otherwise the performance variant. Engines ``mt19937(sample_index_rng_seed)``
    and ``mt19937(schedule_rng_seed)`` are re-seeded on every call; ``seq`` hands out the
    sequence ids and accuracy-log values and is advanced by the generated counts.

    Raises ValueError for inputs the official LoadGen cannot run either (it crashes, hangs or
    reads out of bounds): an empty set, a negative target_qps, queries 0 ns apart over a
    duration, and (``OutsideLoadedSet``) a same-index outside the set.
    """
    scenario = settings.scenario
    L = loaded.indices
    n_set = len(L)
    end = loaded.sample_distribution_end
    if n_set == 0 or end <= 0:
        raise ValueError("cannot generate queries for an empty loaded set")
    offline = scenario == TestScenario.Offline
    multi = scenario == TestScenario.MultiStream

    gen_ns = (1 if scenario == TestScenario.Server else 2) * settings.target_duration_ms * 10**6
    min_queries = settings.min_query_count
    spq = settings.samples_per_query
    if accuracy_mode and offline:
        spq = end
    unique = settings.performance_issue_unique
    same = settings.performance_issue_same
    same_index = settings.performance_issue_same_index
    if accuracy_mode or unique:
        if spq <= 0:
            raise ValueError(f"samples_per_query must be positive, got {spq}")
        gen_ns = 0
        min_queries = n_set // spq

    sample_rng = MT19937(settings.sample_index_rng_seed)
    schedule_rng = MT19937(settings.schedule_rng_seed)

    # Lists built up front; their shuffles always consume sample_rng, used or not.
    stride = spq if multi else 1
    if multi and stride <= 0:
        raise ValueError(f"samples_per_query must be positive, got {spq}")
    main_list: list[int] = []
    if accuracy_mode:
        main_list = list(range(0, end, stride))
        shuffle(sample_rng, main_list)
    unique_list = list(range(0, end, stride))
    shuffle(sample_rng, unique_list)
    work = list(range(n_set))
    equal_list: list[int] = []
    for _ in range(0, min_queries, n_set):
        shuffle(sample_rng, work)
        equal_list.extend(work)

    equal_issue = settings.sample_concatenate_permutation
    if equal_issue and not accuracy_mode:
        if offline:
            if spq % n_set:
                spq += n_set - spq % n_set
        elif min_queries % n_set:
            min_queries += n_set - min_queries % n_set
    bump = equal_issue and not offline and gen_ns > 0

    # The schedule only depends on schedule_rng, so it fixes the query count first.
    if scenario == TestScenario.Server:
        count, gaps = _server_schedule(
            schedule_rng, settings.target_qps, gen_ns, min_queries, n_set, bump
        )
        sched = np.zeros(count, dtype=np.int64)
        np.cumsum(gaps[:-1], out=sched[1:])
        duration = int(sched[-1] + gaps[-1]) if count else 0
        del gaps  # 8 bytes a query, not needed past this point
    else:
        period = _period_ns(settings.target_qps)
        if gen_ns > 0 and period <= 0:
            raise ValueError(
                f"target_qps {settings.target_qps!r} puts queries {period} ns apart: the "
                "official LoadGen generates queries forever on it"
            )
        n_time = 0 if gen_ns <= 0 else -(-gen_ns // period) + 1
        count = _query_count(n_time, min_queries, n_set, bump)
        sched = np.arange(count, dtype=np.int64) * np.int64(period)
        duration = _wrap_int64(count * period)

    L_arr = np.asarray(L, dtype=np.int64)
    if multi:
        if unique:
            starts = _positions(unique_list, count, "performance_issue_unique")
        elif same:
            starts = np.full(count, same_index, dtype=np.int64)
        elif accuracy_mode:
            starts = _positions(main_list, count, "accuracy mode")
        else:
            starts = uniform_ints(sample_rng, 0, end - 1, count)
        _check_positions(starts, spq, n_set)
        pos = (starts[:, None] + np.arange(spq, dtype=np.int64)).ravel()
        sample_index = L_arr[pos]
    elif offline:
        sample_index = _offline_samples(
            L_arr, count, spq, same, same_index, equal_issue, sample_rng
        )
    else:
        n = count * spq
        if unique:
            pos = _positions(unique_list, n, "performance_issue_unique")
        elif same:
            pos = np.full(n, same_index, dtype=np.int64)
        elif equal_issue:
            if n and not equal_list:
                raise ValueError(
                    "sample_concatenate_permutation needs min_query_count > 0 in this scenario"
                )
            eq = np.asarray(equal_list, dtype=np.int64)
            pos = eq[np.arange(n, dtype=np.int64) % len(eq)] if n else eq[:0]
        elif accuracy_mode:
            pos = _positions(main_list, n, "accuracy mode")
        else:
            pos = uniform_ints(sample_rng, 0, end - 1, n)
        _check_positions(pos, 1, n_set)
        sample_index = np.take(L_arr, pos, out=pos, mode="clip")  # in place; checked above

    total = len(sample_index)
    first_sample, first_query, vals = seq.take(total, count)
    query_offsets = np.arange(count + 1, dtype=np.int64)
    query_offsets *= spq
    return GeneratedQueries(
        sample_index=sample_index,
        query_offsets=query_offsets,
        scheduled_offset_ns=sched,
        samples_per_query=spq,
        duration_ns=duration,
        first_sample_seq=first_sample,
        accuracy_log_vals=vals,
        first_query_seq=first_query,
    )


def _offline_samples(
    L_arr: np.ndarray,
    count: int,
    spq: int,
    same: bool,
    same_index: int,
    equal_issue: bool,
    rng: MT19937,
) -> np.ndarray:
    """Offline queries: the set repeated to fill ``spq`` (each copy shuffled in equal issue)."""
    n_set = len(L_arr)
    if same:
        _check_positions(np.array([same_index]), 1, n_set)
        return np.full(count * spq, L_arr[same_index], dtype=np.int64)
    copies, rem = divmod(spq, n_set)
    queries = []
    for _ in range(count):
        if equal_issue:
            parts = []
            for _ in range(copies):
                copy = L_arr.tolist()
                shuffle(rng, copy)
                parts.append(np.asarray(copy, dtype=np.int64))
            parts.append(L_arr[:rem])
            queries.append(np.concatenate(parts))
        else:
            queries.append(np.concatenate((np.tile(L_arr, copies), L_arr[:rem])))
    if not queries:
        return L_arr[:0].copy()
    return np.concatenate(queries)


# --- accuracy-log sampling in performance runs ------------------------------------------------


def accuracy_log_offset(seed: int) -> float:
    """The shift every sample's accuracy-log value gets: one ``uniform_real(0, 1)`` draw."""
    return canonical(MT19937(seed))


def accuracy_log_probability(settings: EffectiveSettings) -> float:
    """The logging probability of a performance series.

    ``accuracy_log_probability``, unless ``accuracy_log_sampling_target`` is set: then
    ``target / expected``, where ``expected`` is the sample count the run is expected to make
    (``uint64(target_qps * min_duration_ms / 1000)``, times spq outside Offline), at least
    ``min_query_count * spq`` (Offline: ``min_sample_count``).
    """
    prob = settings.accuracy_log_probability
    target = settings.accuracy_log_sampling_target
    if target <= 0:
        return prob
    raw = settings.target_qps * settings.min_duration_ms / 1000
    expected = int(raw) if math.isfinite(raw) and raw > 0 else 0
    if settings.scenario == TestScenario.Offline:
        minimum = settings.min_sample_count
    else:
        expected *= settings.samples_per_query
        minimum = settings.min_query_count * settings.samples_per_query
    expected = max(expected, minimum)
    return float(target) / expected if expected else math.inf


def accuracy_log_mask(
    settings: EffectiveSettings,
    generated: GeneratedQueries,
    probability: float | None = None,
) -> np.ndarray | None:
    """Which generated samples of a performance series get their response logged.

    Sample i is logged when ``v <= probability``, with ``v = vals[i] + offset`` wrapped back
    into [0, 1) and ``offset = accuracy_log_offset(accuracy_log_rng_seed)``. ``probability``
    defaults to ``accuracy_log_probability(settings)``. Returns a bool array over
    ``generated.sample_index``, or None when no sample is logged (the common case).
    Accuracy series log every sample and do not use this.
    """
    prob = accuracy_log_probability(settings) if probability is None else probability
    if not prob >= 0.0 or generated.sample_count == 0:  # v is never negative; NaN logs nothing
        return None
    offset = accuracy_log_offset(settings.accuracy_log_rng_seed)
    vals = generated.accuracy_log_vals
    mask = np.empty(len(vals), dtype=bool)
    for lo in range(0, len(vals), _VALS_CHUNK):  # in chunks: no per-sample temporaries
        v = vals[lo : lo + _VALS_CHUNK] + offset
        v[v >= 1.0] -= 1.0
        np.less_equal(v, prob, out=mask[lo : lo + _VALS_CHUNK])
    return mask if mask.any() else None
