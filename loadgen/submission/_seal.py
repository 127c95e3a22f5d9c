"""Truncate a submission's accuracy logs and record their hashes, as the checker expects.

A submission carries only the head and tail of each ``mlperf_log_accuracy.json``; the SHA-256
of the whole file goes into the ``accuracy.txt`` beside it as a ``hash=<hex>`` line, so the
full log kept elsewhere can be matched to it later. The checker fails an accuracy directory
whose log is over 10 KiB or whose accuracy.txt has no hash line.

This is done last, once the compliance checks (which read the full accuracy-run log) are done.
TEST01's ``accuracy/`` needs an accuracy.txt too; when there is none, the accuracy run's result
lines are copied into it (the official compliance instructions' fallback).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from ._errors import SubmissionError
from ._layout import DIVISIONS
from ._rehearsal import rehearsal_marks

ACCURACY_LOG = "mlperf_log_accuracy.json"
ACCURACY_TXT = "accuracy.txt"
MAX_TRUNCATED_BYTES = 10 * 1024  # what the checker accepts
KEPT_BYTES = 4096  # kept from the head and from the tail
ELLIPSIS = b"\n\n...\n\n"
_HASH_LINE = re.compile(r"^hash=([\w\d]+)$", re.MULTILINE)
_TESTS_WITH_ACCURACY = ("TEST01",)  # accuracy.txt: the accuracy run's result lines, then the hash
_TESTS_WITH_HASH_ONLY = ("TEST07", "TEST09")  # accuracy.txt: the hash alone, as officially


def file_hash(path: str) -> str:
    """SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def truncated(data: bytes) -> bytes:
    """Head, an ellipsis and tail; data under KEPT_BYTES is kept whole."""
    if len(data) < KEPT_BYTES:
        return data
    return data[:KEPT_BYTES] + ELLIPSIS + data[-KEPT_BYTES:]


def recorded_hash(accuracy_txt: str) -> str | None:
    """The hash an accuracy.txt records, if any."""
    try:
        with open(accuracy_txt, encoding="utf-8", errors="replace") as f:
            match = _HASH_LINE.search(f.read())
    except OSError:
        return None
    return match.group(1) if match else None


def result_lines(accuracy_txt: str) -> str:
    """An accuracy.txt without its hash line(s): the scoring script's output."""
    with open(accuracy_txt, encoding="utf-8") as f:
        text = f.read()
    return _HASH_LINE.sub("", text).rstrip("\n") + "\n"


@dataclass(frozen=True)
class Sealed:
    """What sealing one accuracy directory did: "sealed", "already sealed" or "still needs"."""

    directory: str
    outcome: str
    detail: str = ""

    def line(self) -> str:
        return f"{self.outcome}: {self.directory}" + (f" ({self.detail})" if self.detail else "")


def seal_accuracy_dir(directory: str, fallback_result: str | None = None) -> Sealed:
    """Hash and truncate ``directory``'s accuracy log; record the hash in its accuracy.txt.

    ``fallback_result`` is written as the accuracy.txt when there is none (TEST01).
    """
    log = os.path.join(directory, ACCURACY_LOG)
    txt = os.path.join(directory, ACCURACY_TXT)
    try:
        if not os.path.isfile(log):
            return Sealed(directory, "still needs", f"{ACCURACY_LOG} is missing")
        if not os.path.isfile(txt):
            if fallback_result is None:
                return Sealed(
                    directory,
                    "still needs",
                    f"{ACCURACY_TXT}: the benchmark's accuracy script's output for {ACCURACY_LOG}",
                )
            with open(txt, "w", encoding="utf-8") as f:
                f.write(fallback_result)
        if recorded_hash(txt) and os.path.getsize(log) < MAX_TRUNCATED_BYTES:
            return Sealed(directory, "already sealed")
        digest = file_hash(log)
        with open(log, "rb") as f:
            data = f.read()
        separator = "\n" if os.path.getsize(txt) else ""
        with open(txt, "a", encoding="utf-8") as f:
            f.write(f"{separator}hash={digest}\n")
        with open(log, "wb") as f:
            f.write(truncated(data))
    except OSError as exc:
        raise SubmissionError(f"cannot seal {exc.filename or directory}: {exc.strerror}") from None
    return Sealed(directory, "sealed", f"hash={digest}")


def _dirs(*path: str) -> list[str]:
    where = os.path.join(*path)
    if not os.path.isdir(where):
        return []
    return sorted(d for d in os.listdir(where) if os.path.isdir(os.path.join(where, d)))


def _submitter_dirs(root: str) -> list[str]:
    """Every ``<division>/<submitter>`` under root."""
    return [
        os.path.join(root, division, submitter)
        for division in _dirs(root)
        if division in DIVISIONS
        for submitter in _dirs(root, division)
    ]


def scenario_dirs(root: str) -> list[str]:
    """Every ``<division>/<submitter>/results/<system>/<benchmark>/<scenario>`` under root."""
    found = []
    for submitter in _submitter_dirs(root):
        results = os.path.join(submitter, "results")
        for system in _dirs(results):
            for benchmark in _dirs(results, system):
                for scenario in _dirs(results, system, benchmark):
                    found.append(os.path.join(results, system, benchmark, scenario))
    return found


def system_jsons(root: str) -> list[str]:
    """Every ``<division>/<submitter>/systems/*.json`` under root."""
    found = []
    for submitter in _submitter_dirs(root):
        systems = os.path.join(submitter, "systems")
        if os.path.isdir(systems):
            found += [os.path.join(systems, f) for f in sorted(os.listdir(systems))]
    return [f for f in found if f.endswith(".json")]


def seal_tree(root: str) -> list[Sealed]:
    """Seal every accuracy directory of the submission tree at ``root``."""
    if not os.path.isdir(root):
        raise SubmissionError(f"{root}: no such directory")
    scenarios = scenario_dirs(root)
    marked = rehearsal_marks(scenarios, system_jsons(root))
    if marked:
        raise SubmissionError(
            f"{root} is a rehearsal (marked in {marked[0]}"
            + (f" and {len(marked) - 1} more" if len(marked) > 1 else "")
            + "): its runs did not come from the official LoadGen, so it is not sealed"
        )
    outcomes = []
    for scenario in scenarios:
        accuracy = os.path.join(scenario, "accuracy")
        if not os.path.isdir(accuracy):
            outcomes.append(Sealed(accuracy, "still needs", "an AccuracyOnly run placed here"))
            continue
        outcomes.append(seal_accuracy_dir(accuracy))
        txt = os.path.join(accuracy, ACCURACY_TXT)
        fallback = result_lines(txt) if os.path.isfile(txt) else None
        for test in _TESTS_WITH_ACCURACY + _TESTS_WITH_HASH_ONLY:
            test_accuracy = os.path.join(scenario, test, "accuracy")
            if os.path.isdir(test_accuracy):
                result = fallback if test in _TESTS_WITH_ACCURACY else ""
                outcomes.append(seal_accuracy_dir(test_accuracy, result))
    return outcomes
