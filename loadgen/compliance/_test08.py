"""TEST08 (dlrm-v3): a performance run's predictions score as the accuracy run's did.

dlrm-v3 serves a streaming data set in its own order, so a response is matched to the accuracy
run's not by ``qsl_idx`` but by the ``(ts_idx, query_idx)`` pair at the start of its data. Each
logged response is float32: the accuracy run's ``[ts_idx, query_idx, predictions...,
labels..., weights..., candidate_size]``, the performance run's ``[ts_idx, query_idx,
predictions...]``. For every performance response, the normalized entropy (NE) of its
predictions against the accuracy run's labels and weights must be within ``tolerance``
(relative) of the accuracy run's own NE; every response must find its pair, and at least one
must. The official script only prints its findings; the submission checker reads them from
``TEST08/verify_accuracy.txt``, which is what this writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import VerifyError
from ._logs import (
    ACCURACY_MODES,
    PERFORMANCE_MODES,
    decode,
    entry_name,
    read_accuracy_log,
    require_file,
    require_mode,
)
from ._output import test_dir, write_text
from ._verdict import Check, Verdict

TEST = "TEST08"
TOLERANCE = 0.001
EPS = 1e-7  # probabilities are kept this far from 0 and 1 before taking logs
_FLOAT32: dict[str, type] = {"float32": np.float32}


@dataclass(frozen=True)
class Reference:
    """What the accuracy run says about one ``(ts_idx, query_idx)``."""

    ne: Any  # a numpy float32, or 0.0
    labels: np.ndarray
    weights: np.ndarray


def normalized_entropy(predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> Any:
    """Weighted cross entropy over the entropy of the weighted mean label (0.0 if undefined).

    Computed in the data's float32, in the official script's order of operations: the verdict
    compares NEs within a relative tolerance, and the report prints them.
    """
    total = np.sum(weights)
    if total == 0:
        return 0.0
    p_hat = np.clip(predictions, EPS, 1 - EPS)
    y = np.clip(labels, EPS, 1 - EPS)
    cross = -np.sum(weights * (y * np.log(p_hat) + (1 - y) * np.log(1 - p_hat)))
    p = np.clip(np.sum(weights * y) / total, EPS, 1 - EPS)
    base = -p * np.log(p) - (1 - p) * np.log(1 - p)
    if base == 0:
        return 0.0
    return cross / (base * total)


def _values(path: Path, i: int, e: dict[str, Any]) -> np.ndarray:
    return decode(e["data"], "float32", _FLOAT32, entry_name(path, i, e))


def read_reference(path: Path) -> tuple[int, dict[tuple[int, int], Reference]]:
    """The accuracy run's entries by ``(ts_idx, query_idx)`` (a later one wins); and how many."""
    entries = read_accuracy_log(path)
    samples: dict[tuple[int, int], Reference] = {}
    for i, e in enumerate(entries):
        data = _values(path, i, e)
        n = _candidates(path, i, e, data)
        if data.size != 3 + 3 * n:
            raise VerifyError(
                f"{entry_name(path, i, e)}: {data.size} values, but candidate_size {n} makes "
                f"{3 + 3 * n} (ts_idx, query_idx, predictions, labels, weights, candidate_size); "
                "is this the accuracy run's log?"
            )
        predictions, labels, weights = (
            data[2 : 2 + n],
            data[2 + n : 2 + 2 * n],
            data[2 + 2 * n : -1],
        )
        ne = normalized_entropy(predictions, labels, weights)
        samples[_key(path, i, e, data)] = Reference(ne, labels, weights)
    return len(entries), samples


def _key(path: Path, i: int, e: dict[str, Any], data: np.ndarray) -> tuple[int, int]:
    """The ``(ts_idx, query_idx)`` a response starts with."""
    if not np.all(np.isfinite(data[:2])):
        raise VerifyError(f"{entry_name(path, i, e)}: ts_idx and query_idx are not numbers")
    return int(data[0]), int(data[1])


def _candidates(path: Path, i: int, e: dict[str, Any], data: np.ndarray) -> int:
    if data.size < 3 or not np.isfinite(data[-1]) or data[-1] < 0:
        raise VerifyError(
            f"{entry_name(path, i, e)}: not a dlrm-v3 accuracy-run response "
            "(ts_idx, query_idx, predictions, labels, weights, candidate_size)"
        )
    return int(data[-1])


@dataclass
class Comparison:
    """The counts the report prints, and a line per NE mismatch."""

    entries: int = 0
    matched: int = 0
    unmatched: int = 0
    mismatches: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.mismatches and self.matched > 0 and self.unmatched == 0


def compare(
    path: Path, reference: dict[tuple[int, int], Reference], tolerance: float
) -> Comparison:
    """Match each performance-run response with the reference and compare their NEs."""
    entries = read_accuracy_log(path)
    result = Comparison(entries=len(entries))
    mismatches: list[str] = []
    for i, e in enumerate(entries):
        data = _values(path, i, e)
        if data.size < 2:
            raise VerifyError(f"{entry_name(path, i, e)}: no ts_idx and query_idx in its data")
        key = _key(path, i, e, data)
        ref = reference.get(key)
        if ref is None:
            result.unmatched += 1
            continue
        result.matched += 1
        predictions = data[2:]
        if predictions.size != ref.labels.size:
            raise VerifyError(
                f"{entry_name(path, i, e)}: {predictions.size} predictions for {key}, but the "
                f"accuracy run has {ref.labels.size} candidates for it"
            )
        ne = normalized_entropy(predictions, ref.labels, ref.weights)
        if ref.ne == 0 and ne == 0:
            continue
        if ref.ne == 0 or ne == 0:
            mismatches.append(f"  NE mismatch at {key}: acc_ne={ref.ne}, perf_ne={ne}")
            continue
        diff = abs(ne - ref.ne) / abs(ref.ne)
        if diff > tolerance:
            mismatches.append(
                f"  NE mismatch at {key}: acc_ne={ref.ne:.6f}, perf_ne={ne:.6f}, "
                f"diff={diff * 100:.4f}%"
            )
    result.mismatches = tuple(mismatches)
    return result


def _accuracy_log(path: str | Path, inside: str, role: str) -> Path:
    """``path`` if it is a file, else the accuracy log ``inside`` the directory it names (or
    directly in it)."""
    p = Path(path)
    if p.is_dir():
        direct = p / "mlperf_log_accuracy.json"
        if not (p / inside).is_file() and direct.is_file():
            return direct
        return require_file(p / inside, f"{role} accuracy log")
    if not p.exists():
        raise VerifyError(f"{role} {p} does not exist")
    return p


def verify_test08(
    reference: str | Path,
    compliance: str | Path,
    output_dir: str | Path,
    *,
    tolerance: float = TOLERANCE,
) -> Verdict:
    """Compare the TEST08 run's logged predictions with the accuracy run's; write
    ``OUTPUT/TEST08/verify_accuracy.txt``.

    ``reference`` is the accuracy run's ``mlperf_log_accuracy.json``, the directory holding it,
    or the results directory holding it in ``accuracy/``; ``compliance`` the TEST08 run's, or
    the directory holding it. Each log's run must have left its ``mlperf_log_detail.txt`` beside it.
    """
    if not tolerance >= 0:
        raise VerifyError(f"--tolerance {tolerance} must be a number >= 0")
    ref_log = _accuracy_log(reference, "accuracy/mlperf_log_accuracy.json", "accuracy-run")
    test_log = _accuracy_log(compliance, "mlperf_log_accuracy.json", "TEST08")
    ref_detail = require_file(ref_log.parent / "mlperf_log_detail.txt", "accuracy-run detail log")
    test_detail = require_file(test_log.parent / "mlperf_log_detail.txt", "TEST08 detail log")
    require_mode(ref_detail, ACCURACY_MODES, "the accuracy run (--results-dir)")
    require_mode(test_detail, PERFORMANCE_MODES, "the TEST08 run (made with its audit.config)")

    ref_entries, samples = read_reference(ref_log)
    result = compare(test_log, samples, tolerance)
    lines = [
        "Verifying accuracy. This might take a while...",
        "Reading accuracy mode results...",
        "Reading performance mode results...",
        *result.mismatches,
        "",
        f"num_acc_log_entries = {ref_entries}",
        f"num_perf_log_entries = {result.entries}",
        f"num_matched = {result.matched}",
        f"num_unmatched = {result.unmatched}",
        f"num_ne_mismatch = {len(result.mismatches)}",
        f"tolerance = {tolerance * 100:.2f}%",
        "",
        "TEST PASS" if result.passed else "TEST FAIL",
    ]
    report = "".join(f"{line}\n" for line in lines)
    closing = ("TEST08 verification complete",)
    notes: tuple[str, ...] = ()
    if result.matched == 0:
        notes = (f"No response in {test_log} has a (ts_idx, query_idx) that {ref_log} logged.",)

    out = test_dir(output_dir, TEST)
    write_text(out / "verify_accuracy.txt", report + closing[0] + "\n")
    check = Check("accuracy", result.passed, report, notes)
    return Verdict(TEST, (check,), closing, out)
