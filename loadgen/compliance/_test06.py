"""TEST06: an LLM's logged outputs are consistent with what it reported while running.

A 100-query performance run logs every response with its token count (and, except Offline,
the first token reported through FirstTokenComplete). Three checks over all entries:

* first token (skipped for Offline): the reported first token(s) equal the start of the output;
* EOS: an output ends with at most one EOS token (the first position is not counted), so a SUT
  cannot pad outputs with EOS to look faster per token;
* length: the output has exactly ``token_count`` tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ._errors import VerifyError
from ._logs import (
    check_dtype,
    decode,
    entry_name,
    read_accuracy_log,
    read_detail_log,
    require,
    require_dir,
    require_file,
)
from ._output import copy_into, test_dir, write_text
from ._verdict import Check, Verdict

TEST = "TEST06"
DTYPES: dict[str, type] = {
    "int64": np.int64,
    "int32": np.int32,
    "int16": np.int16,
    "float32": np.float32,
}
SCENARIOS = ("Offline", "Server", "Interactive", "SingleStream", "MultiStream")


def _tokens(path: Path, i: int, e: dict[str, Any], key: str, dtype: str) -> np.ndarray:
    return decode(e[key], dtype, DTYPES, f"{entry_name(path, i, e)} {key}")


def first_token_check(path: Path, entries: list[dict[str, Any]], dtype: str) -> Check:
    """Each entry's ``token_data`` must equal the leading tokens of its ``data``."""
    for i, e in enumerate(entries):
        if not isinstance(e.get("token_data"), str):
            return Check(
                "first token",
                False,
                notes=(
                    f"{entry_name(path, i, e)} has no token_data: report the first token with "
                    "FirstTokenComplete (and set use_token_latencies).",
                ),
            )
        data = _tokens(path, i, e, "data", dtype)
        first = _tokens(path, i, e, "token_data", dtype)
        n = min(data.size, first.size)
        if not np.array_equal(data[:n], first[:n]):
            return Check(
                "first token",
                False,
                notes=(
                    f"{entry_name(path, i, e)}: first token(s) {first[:n].tolist()} but the "
                    f"output starts with {data[:n].tolist()}.",
                ),
            )
    return Check("first token", True)


def eos_check(path: Path, entries: list[dict[str, Any]], dtype: str, eos_token_id: int) -> Check:
    """No output may end with two or more EOS tokens (position 0 is not looked at)."""
    for i, e in enumerate(entries):
        data = _tokens(path, i, e, "data", dtype)
        trailing = 0
        for token in data[:0:-1]:  # last to second
            if token != eos_token_id:
                break
            trailing += 1
        if trailing >= 2:
            return Check(
                "EOS",
                False,
                notes=(
                    f"{entry_name(path, i, e)} ends with {trailing} EOS ({eos_token_id}) tokens.",
                ),
            )
    return Check("EOS", True)


def length_check(path: Path, entries: list[dict[str, Any]], dtype: str) -> Check:
    """Each output must have exactly ``token_count`` tokens."""
    for i, e in enumerate(entries):
        data = _tokens(path, i, e, "data", dtype)
        if data.size != _token_count(path, i, e):
            return Check(
                "sample length",
                False,
                notes=(
                    f"{entry_name(path, i, e)} has {data.size} tokens but token_count "
                    f"{e['token_count']}.",
                ),
            )
    return Check("sample length", True)


def _token_count(path: Path, i: int, e: dict[str, Any]) -> int:
    count = e.get("token_count")
    if count is None:
        raise VerifyError(
            f"{entry_name(path, i, e)} has no token_count: TEST06 needs a run with "
            "use_token_latencies on"
        )
    try:
        return int(count)
    except (TypeError, ValueError):
        raise VerifyError(
            f"{entry_name(path, i, e)}: token_count {count!r} is not a number"
        ) from None


def _scenario(scenario: str | None, compliance: Path) -> str:
    """The scenario given, or else the one the compliance run's detail log names."""
    if scenario is None:
        detail = compliance / "mlperf_log_detail.txt"
        if not detail.is_file():
            raise VerifyError(f"TEST06 needs --scenario (no {detail} to read it from)")
        scenario = str(require(read_detail_log(detail), "effective_scenario"))
    if scenario not in SCENARIOS:
        raise VerifyError(f"scenario {scenario!r} is not one of {', '.join(SCENARIOS)}")
    return scenario


def verify_test06(
    compliance_dir: str | Path,
    output_dir: str | Path,
    *,
    scenario: str | None = None,
    dtype: str = "int32",
    eos_token_id: int = 2,
) -> Verdict:
    """Run the three token checks and write ``output_dir/TEST06``.

    ``compliance_dir`` holds the TEST06 run's ``mlperf_log_accuracy.json``. Without
    ``scenario``, it is read from the run's detail log.
    """
    check_dtype(dtype, DTYPES, TEST)
    compliance = require_dir(compliance_dir, "compliance directory")
    scenario = _scenario(scenario, compliance)
    accuracy_log = require_file(compliance / "mlperf_log_accuracy.json", "TEST06 accuracy log")
    entries = read_accuracy_log(accuracy_log)

    length = length_check(accuracy_log, entries, dtype)  # first: it rejects unusable logs
    eos = eos_check(accuracy_log, entries, dtype, eos_token_id)
    if scenario == "Offline":
        first = Check("first token", None)
    else:
        first = first_token_check(accuracy_log, entries, dtype)
    checks = (first, eos, length)
    passed = all(c.passed is not False for c in checks)
    lines = (
        f"First token check pass: {'Skipped' if first.passed is None else first.passed}",
        f"EOS check pass: {eos.passed}",
        f"Sample length check pass: {length.passed}",
        "TEST06 verification complete" if passed else "TEST06 verification failed",
    )
    notes: tuple[str, ...] = ()
    if not entries:
        notes = (f"Warning: {accuracy_log} has no entries, so every check passes vacuously.",)

    out = test_dir(output_dir, TEST, "accuracy")
    write_text(out / "verify_accuracy.txt", "".join(f"{line}\n" for line in lines))
    copy_into(accuracy_log, out / "accuracy")
    return Verdict(TEST, checks, lines, out, notes)
