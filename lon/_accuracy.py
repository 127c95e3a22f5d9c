"""Score a run's accuracy log against what the numpy-mlp model answers on a synthetic data set.

A ``--synthetic`` data set and the ``numpy-mlp`` backend are both seeded, so the right answer for
every sample can be recomputed here: regenerate sample ``qsl_idx`` (``synthetic_sample``) and run
the model the ``numpy-mlp`` docstring specifies. That model is reimplemented below, on purpose
without importing ``sut_server``: an independent implementation is what makes the check mean
something (a test holds the two together).

Scoring follows the MLPerf accuracy scripts: each ``qsl_idx`` counts once, at its first entry in
the log (later entries are duplicates, e.g. from MultiStream padding); an answer that is not
exactly one little-endian int32 is malformed and counts as wrong.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from loadgen import logs
from qdl import ConfigError, DatasetError, SyntheticSpec, synthetic_sample

ACCURACY_LOG_FILE = "mlperf_log_accuracy.json"
ACCURACY_RESULT_FILE = "accuracy.txt"
SCORED_BACKEND = "numpy-mlp"
ANSWER = struct.Struct("<i")  # one class id, int32 little-endian

# Rows recomputed per matrix product: bounds the float64 feature block to about 64 MiB.
_CHUNK_BYTES = 64 * 1024 * 1024

_Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class MLPModel:
    """The numpy-mlp backend's model; the defaults are ``sut-server --backend numpy-mlp``'s."""

    seed: int = 0
    hidden: int = 64
    classes: int = 10

    def __post_init__(self) -> None:
        if self.seed < 0:
            raise ConfigError(f"numpy-mlp seed must be >= 0, got {self.seed}")
        if self.hidden < 1 or self.classes < 1:
            raise ConfigError(
                f"numpy-mlp needs hidden >= 1 and classes >= 1, got {self.hidden} and "
                f"{self.classes}"
            )

    def weights(self, inputs: int) -> _Weights:
        """W1, b1, W2, b2 for ``inputs`` features, drawn in the documented order."""
        rng = np.random.default_rng(self.seed)
        w1 = rng.standard_normal((inputs, self.hidden)) / np.sqrt(inputs)
        b1 = 0.1 * rng.standard_normal(self.hidden)
        w2 = rng.standard_normal((self.hidden, self.classes)) / np.sqrt(self.hidden)
        b2 = 0.1 * rng.standard_normal(self.classes)
        return w1, b1, w2, b2

    def classify(self, features: np.ndarray, weights: _Weights | None = None) -> np.ndarray:
        """Class ids (int64) for a (rows, D) float32 feature matrix; the lowest index wins ties."""
        w1, b1, w2, b2 = weights if weights is not None else self.weights(features.shape[1])
        hidden = np.maximum(features.astype(np.float64) @ w1 + b1, 0.0)
        classes: np.ndarray = np.argmax(hidden @ w2 + b2, axis=1)
        return classes


def check_nodes_ran_the_model(
    nodes: Sequence[Mapping[str, object]], where: str, scored: str = SCORED_BACKEND
) -> None:
    """Refuse to score a run whose nodes did not all run the ``scored`` backend: the expected
    answers are that model's, so any other backend's answers would score as noise."""
    backends = sorted({str(n.get("backend") or "unknown") for n in nodes})
    if backends and backends != [scored]:
        ran = (
            "backend " + backends[0]
            if len(backends) == 1
            else "mixed backends " + ", ".join(backends)
        )
        raise ConfigError(
            f"{where}: the nodes ran {ran}, not {scored}; lon-accuracy scores only "
            f"{SCORED_BACKEND} and onnx runs (score this log with your model's accuracy script)"
        )


def features(sample: np.ndarray) -> np.ndarray:
    """The flat float32 vector a node computes from a sample (uint8 scaled to [0, 1])."""
    x = np.ascontiguousarray(sample).reshape(-1).astype(np.float32)
    if sample.dtype == np.uint8:
        x = x / np.float32(255.0)
    return x


def check_spec_fits_model(spec: SyntheticSpec) -> None:
    """numpy-mlp takes integer and float samples only; a bool data set cannot be scored."""
    if np.dtype(spec.dtype).kind not in "uif":
        raise ConfigError(
            f"synthetic spec {spec}: numpy-mlp takes integer or float samples, not {spec.dtype}"
        )


def expected_classes(
    spec: SyntheticSpec,
    indices: Iterable[int],
    *,
    synthetic_seed: int = 0,
    model: MLPModel = MLPModel(),  # noqa: B008 (frozen, so one shared default is safe)
) -> dict[int, int]:
    """The class numpy-mlp gives each of ``indices`` in ``SyntheticQSL(spec, seed=...)``."""
    check_spec_fits_model(spec)
    wanted = sorted(set(indices))
    for index in wanted:
        if not 0 <= index < spec.count:
            raise ConfigError(
                f"sample index {index} is out of range 0..{spec.count - 1} for {spec}"
            )
    inputs = int(np.prod(spec.shape))
    weights = model.weights(inputs)
    rows = max(1, _CHUNK_BYTES // (8 * inputs))
    out: dict[int, int] = {}
    for start in range(0, len(wanted), rows):
        chunk = wanted[start : start + rows]
        block = np.stack([features(synthetic_sample(spec, synthetic_seed, i)) for i in chunk])
        for index, class_id in zip(chunk, model.classify(block, weights)):
            out[index] = int(class_id)
    return out


@dataclass(frozen=True)
class AccuracyEntry:
    """One line of ``mlperf_log_accuracy.json``: a sample index and the answer's bytes."""

    qsl_idx: int
    data: bytes


def read_accuracy_log(path: str | os.PathLike[str]) -> list[AccuracyEntry]:
    """The entries of an accuracy log in file order; DatasetError names the file and entry."""
    name = os.fspath(path)
    try:
        entries = logs.read_accuracy_log(name)
    except logs.LogError as exc:
        raise DatasetError(str(exc)) from exc
    return [_entry(name, i, item) for i, item in enumerate(entries)]


def _entry(name: str, position: int, item: dict[str, Any]) -> AccuracyEntry:
    """The entry's answer as bytes (the reader checked that ``data`` is a string)."""
    data = item["data"]
    try:
        raw = bytes.fromhex(data)
    except ValueError:
        raise DatasetError(
            f"accuracy log {name}: entry {position}: data {data[:40]!r} is not hex"
        ) from None
    return AccuracyEntry(item["qsl_idx"], raw)


@dataclass(frozen=True)
class Mismatch:
    """A sample answered wrongly: what the model computes and what the log holds."""

    qsl_idx: int
    expected: int
    found: int | None  # None: the answer was malformed


@dataclass(frozen=True)
class AccuracyReport:
    """How a log scored.

    total:        distinct samples in the log (each scored once, at its first entry).
    good:         of those, answered with the expected class.
    entries:      entries in the log.
    malformed:    scored answers that were not exactly 4 bytes (counted as wrong).
    duplicates:   entries for a sample already seen (not scored).
    disagreeing:  duplicates whose answer differs from the scored one.
    missing:      data-set samples with no entry (0 after a complete accuracy run).
    mismatches:   every wrong answer, in log order.
    """

    total: int
    good: int
    entries: int
    malformed: int
    duplicates: int
    disagreeing: int
    missing: int
    mismatches: tuple[Mismatch, ...] = field(default=(), repr=False)

    @property
    def accuracy(self) -> float:
        """Percent of scored samples answered right (0.0 when nothing was scored)."""
        return 100.0 * self.good / self.total if self.total else 0.0

    def result_line(self) -> str:
        """The MLPerf-style line an ``accuracy.txt`` starts with (submission checkers parse it)."""
        return json.dumps(
            {"accuracy": round(self.accuracy, 6), "good": self.good, "total": self.total}
        )


def decode_class(data: bytes) -> int | None:
    """A numpy-mlp answer's class id; None when it is not exactly one int32."""
    return ANSWER.unpack(data)[0] if len(data) == ANSWER.size else None


def score(
    entries: Sequence[AccuracyEntry],
    expected: Mapping[int, int],
    count: int,
    decode: Callable[[bytes], int | None] = decode_class,
) -> AccuracyReport:
    """Score ``entries`` against ``expected`` (qsl_idx -> class) for a data set of ``count``;
    ``decode`` reads an answer's class (None: malformed)."""
    first: dict[int, bytes] = {}
    duplicates = disagreeing = good = malformed = 0
    mismatches: list[Mismatch] = []
    for entry in entries:
        seen = first.get(entry.qsl_idx)
        if seen is not None:
            duplicates += 1
            disagreeing += seen != entry.data
            continue
        first[entry.qsl_idx] = entry.data
        want = expected[entry.qsl_idx]
        found = decode(entry.data)
        if found is None:
            malformed += 1
            mismatches.append(Mismatch(entry.qsl_idx, want, None))
            continue
        if found == want:
            good += 1
        else:
            mismatches.append(Mismatch(entry.qsl_idx, want, found))
    return AccuracyReport(
        total=len(first),
        good=good,
        entries=len(entries),
        malformed=malformed,
        duplicates=duplicates,
        disagreeing=disagreeing,
        missing=count - len(first),
        mismatches=tuple(mismatches),
    )


def check_accuracy_log(
    path: str | os.PathLike[str],
    spec: SyntheticSpec,
    *,
    synthetic_seed: int = 0,
    model: MLPModel = MLPModel(),  # noqa: B008 (frozen, so one shared default is safe)
) -> AccuracyReport:
    """Read and score one accuracy log of a numpy-mlp run on ``SyntheticQSL(spec, seed)``.

    Raises DatasetError for an unreadable or malformed log (or one with no entries) and
    ConfigError for a spec numpy-mlp cannot take or a qsl_idx outside the data set.
    """
    check_spec_fits_model(spec)
    name = os.fspath(path)
    entries = read_scorable_log(name, spec)
    expected = expected_classes(
        spec, (e.qsl_idx for e in entries), synthetic_seed=synthetic_seed, model=model
    )
    return score(entries, expected, spec.count)


def read_scorable_log(name: str, spec: SyntheticSpec) -> list[AccuracyEntry]:
    """The log's entries, refused when it has none or names a sample outside ``spec``."""
    entries = read_accuracy_log(name)
    if not entries:
        raise DatasetError(
            f"accuracy log {name} has no entries; only AccuracyOnly and SubmissionRun runs "
            "(or accuracy_log_probability > 0) log answers"
        )
    for position, entry in enumerate(entries):
        if entry.qsl_idx >= spec.count:
            raise ConfigError(
                f"accuracy log {name}: entry {position}: qsl_idx {entry.qsl_idx} is out of "
                f"range 0..{spec.count - 1} for --synthetic {spec}; is it the run's data set?"
            )
    return entries
