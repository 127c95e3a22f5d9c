"""TEST01: the responses of a performance run are the ones the accuracy run produced.

An audit.config makes a performance run log a random subset of its responses. Two checks:

* accuracy: for every logged response whose sample the accuracy run also logged, the first
  value of the response (decoded with ``dtype``) must equal the accuracy run's; at least one
  sample must be compared. ``unixmode`` instead compares whole log lines (without commas and
  ``seq_id``) by md5, the low-memory way.
* performance: the run's metric must be within 10 % (20 % for short SingleStream and
  MultiStream latencies) of the submission run's, judged from the two detail logs.

When responses differ only through allowed non-determinism, the submitter proves quality with
the benchmark's own accuracy script; :func:`write_baseline` prepares the comparable subset.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import VerifyError
from ._logs import (
    DetailLog,
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

TEST = "TEST01"
DTYPES: dict[str, type] = {
    "byte": np.int8,
    "float32": np.float32,
    "int32": np.int32,
    "int64": np.int64,
}
# The metric the checker reads per scenario; latencies in ns, throughputs in samples/s.
RESULT_KEYS = {
    "Offline": "result_samples_per_second",
    "SingleStream": "early_stopping_latency_ss",
    "MultiStream": "early_stopping_latency_ms",
    "Server": "result_completed_samples_per_sec",
}
# Latencies at or under these (ns) vary more run to run, so they get the wider tolerance.
SHORT_LATENCY_NS = {"SingleStream": 200_000, "MultiStream": 1_600_000}


def _verdict_line(passed: bool) -> str:
    return "TEST PASS\n\n" if passed else "TEST FAIL\n\n"


def check_accuracy(reference: Path, test: Path, dtype: str = "byte") -> Check:
    """Compare the first decoded value of each test response with the reference's.

    A later response for the same sample is compared with the most recent earlier one (from
    either log); a test response for a sample the reference never logged is only counted.
    """
    check_dtype(dtype, DTYPES, TEST)
    ref_entries = read_accuracy_log(reference)
    test_entries = read_accuracy_log(test)
    latest: dict[int, tuple[str, str]] = {}  # qsl_idx -> (hex data, where it came from)
    duplicates = ref_mismatches = 0
    for i, e in enumerate(ref_entries):
        if e["qsl_idx"] in latest:
            duplicates += 1
            ref_mismatches += latest[e["qsl_idx"]][0] != e["data"]
        else:
            latest[e["qsl_idx"]] = (e["data"], entry_name(reference, i, e))
    matched = mismatched = missing = 0
    for i, e in enumerate(test_entries):
        where = entry_name(test, i, e)
        values = decode(e["data"], dtype, DTYPES, where)
        if e["qsl_idx"] in latest:
            matched += 1
            prior, prior_where = latest[e["qsl_idx"]]
            expected = decode(prior, dtype, DTYPES, prior_where)
            if values.size == 0 or expected.size == 0:
                mismatched += values.size != expected.size
            else:
                mismatched += bool(values[0] != expected[0])
        else:
            missing += 1
        latest[e["qsl_idx"]] = (e["data"], where)
    passed = mismatched == 0 and matched > 0
    report = (
        "Verifying accuracy. This might take a while...\n"
        "Reading accuracy mode results...\n"
        "Reading performance mode results...\n"
        f"num_acc_log_entries = {len(ref_entries)}\n"
        f"num_acc_log_duplicate_keys = {duplicates}\n"
        f"num_acc_log_data_mismatch = {ref_mismatches}\n"
        f"num_perf_log_entries = {len(test_entries)}\n"
        f"num_perf_log_qsl_idx_match = {matched}\n"
        f"num_perf_log_data_mismatch = {mismatched}\n"
        f"num_missing_qsl_idxs = {missing}\n" + _verdict_line(passed)
    )
    notes: tuple[str, ...] = ()
    if matched == 0:
        notes = (f"No response in {test} is for a sample that {reference} logged.",)
    return Check("accuracy", passed, report, notes)


_SEQ_ID = re.compile(r'"seq_id"\s*:\s*\S+')
_QSL_IDX = re.compile(r'"qsl_idx" : ([^,]*),')


def _normalised(line: str) -> bytes:
    """A log line as unixmode compares it: stripped, without commas and without its seq_id."""
    return _SEQ_ID.sub("", line.strip().replace(",", "")).encode("utf-8")


def check_accuracy_unixmode(reference: Path, test: Path) -> Check:
    """Compare each test log line with all reference lines for its sample, by md5.

    Needs one entry per line (LoadGen's layout). Streams both files, keeping one running md5 per
    sample of the reference, so memory stays small. Token fields are compared too.
    """
    digests: dict[str, Any] = {}
    ref_lines = 0
    try:
        with open(reference, encoding="utf-8") as f:
            for line in f:
                ref_lines += 1
                for key in dict.fromkeys(m.group(1) for m in _QSL_IDX.finditer(line)):
                    if key in digests:
                        digests[key].update(b"\n" + _normalised(line))
                    else:
                        digests[key] = hashlib.md5(_normalised(line))
        with open(test, encoding="utf-8") as f:
            test_lines = sum(1 for _ in f)
        matched = mismatched = 0
        with open(test, encoding="utf-8") as f:
            for number, line in enumerate(f):
                if number in (0, test_lines - 1):  # the brackets
                    continue
                fields = re.split(r": |,", line.strip())
                if len(fields) < 4:
                    raise VerifyError(f"{test}:{number + 1}: not a LoadGen accuracy-log entry")
                expected = digests.get(fields[3].strip(), hashlib.md5(b"")).hexdigest()
                if hashlib.md5(_normalised(line)).hexdigest() == expected:
                    matched += 1
                else:
                    mismatched += 1
    except OSError as exc:
        raise VerifyError(f"cannot read {exc.filename}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{reference} or {test}: not UTF-8 text") from None
    step = test_lines // 100
    dots = "." * (-(-test_lines // step)) if step else ""
    passed = mismatched == 0 and matched > 0
    notes: tuple[str, ...] = ()
    if not step:
        notes = (
            f"Note: {test} has under 100 lines; the official verify_accuracy.py --unixmode "
            "stops with an error on such logs, so leave out --unixmode for it.",
        )
    report = (
        "Verifying accuracy. This might take a while...\n"
        "Each dot represents 1% completion:\n"
        f"{dots}\n"
        f"num_acc_log_entries = {ref_lines - 2}\n"
        f"num_perf_log_data_mismatch = {mismatched}\n"
        f"num_perf_log_entries = {test_lines - 2}\n" + _verdict_line(passed)
    )
    return Check("accuracy", passed, report, notes)


def _metric(log: DetailLog) -> tuple[str, float]:
    scenario = require(log, "effective_scenario")
    if scenario not in RESULT_KEYS:
        raise VerifyError(f"{log.path}: unknown effective_scenario {scenario!r}")
    value = require(log, RESULT_KEYS[scenario])
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise VerifyError(f"{log.path}: {RESULT_KEYS[scenario]} is {value!r}, not a number")
    return scenario, float(value)


def _unusable(log: DetailLog) -> str | None:
    """Why a run cannot be compared: not VALID, or LoadGen logged errors."""
    if log.get("result_validity") != "VALID":
        return f"TEST FAIL: Invalid results in {log.path}"
    if log.error_count:
        return f"TEST FAIL: {log.error_count} ERROR reported in {log.path}"
    return None


def check_performance(reference: Path, test: Path) -> Check:
    """Compare the metric of two detail logs; the test must be within the tolerance."""
    ref_log, test_log = read_detail_log(reference), read_detail_log(test)
    (ref_scenario, ref_score), (test_scenario, test_score) = _metric(ref_log), _metric(test_log)
    lines = ["Verifying performance."]
    failure = _unusable(ref_log) or _unusable(test_log)
    if failure is None and test_scenario != ref_scenario:
        failure = "TEST FAIL: Test and reference scenarios do not match!"
    target_key = "effective_target_latency_ns"
    if (
        failure is None
        and ref_scenario == "Server"
        and test_log.get(target_key) != ref_log.get(target_key)
    ):
        failure = "TEST FAIL: Server target latency mismatch"
    if failure is not None:
        return Check("performance", False, "\n".join([*lines, failure]) + "\n")
    lines += [f"Reference score = {ref_score}", f"Test score = {test_score}"]
    short = ref_score <= SHORT_LATENCY_NS.get(ref_scenario, -1)
    tolerance = 0.20 if short else 0.10
    passed = ref_score * (1 - tolerance) <= test_score <= ref_score * (1 + tolerance)
    lines.append("TEST PASS" if passed else "TEST FAIL: Test score invalid")
    return Check("performance", passed, "\n".join(lines) + "\n")


def _entry_line(entry: dict[str, Any]) -> str:
    """One accuracy-log entry in LoadGen's one-line layout."""
    return "{ " + ", ".join(f'"{k}" : {json.dumps(v)}' for k, v in entry.items()) + " }"


def write_baseline(reference: Path, test: Path, baseline: Path) -> int:
    """Write the reference entries for the samples the test logged; return how many.

    Scoring this baseline and the test log with the benchmark's accuracy script compares like
    with like when the responses differ only through allowed non-determinism.
    """
    wanted = {e["qsl_idx"] for e in read_accuracy_log(test)}
    kept = [e for e in read_accuracy_log(reference) if e["qsl_idx"] in wanted]
    body = ",\n".join(_entry_line(e) for e in kept)
    write_text(baseline, "[\n" + body + ("\n" if kept else "") + "]\n")
    return len(kept)


def _fallback_notes(
    out: Path, compliance_log: Path, baseline: Path | None, count: int
) -> tuple[str, ...]:
    acc = out / "accuracy"
    made = (
        f"Wrote {baseline} ({count} entries of the accuracy run, for the samples the compliance "
        "run logged)."
        if baseline is not None
        else "Run with --baseline-file PATH to write the accuracy run's entries for those samples."
    )
    return (
        "The responses differ from the accuracy run's. If that is allowed non-determinism, "
        "prove the quality instead:",
        made,
        f"Score that baseline with the benchmark's accuracy script; save its output as "
        f"{acc / 'baseline_accuracy.txt'}.",
        f"Score {compliance_log} the same way; save its output as "
        f"{acc / 'compliance_accuracy.txt'}.",
        f"Copy the accuracy run's accuracy.txt to {acc / 'accuracy.txt'}.",
        "The two scores may differ by at most 1 % (0.1 % for 99.9 % accuracy targets).",
    )


def verify_test01(
    results_dir: str | Path,
    compliance_dir: str | Path,
    output_dir: str | Path,
    *,
    dtype: str = "byte",
    unixmode: bool = False,
    baseline_file: str | Path | None = None,
) -> Verdict:
    """Run both TEST01 checks and write ``output_dir/TEST01`` as the submission expects.

    ``results_dir`` holds ``accuracy/mlperf_log_accuracy.json`` and
    ``performance/run_1/mlperf_log_detail.txt`` of the submission runs; ``compliance_dir`` the
    logs of the TEST01 run. If the accuracy check fails and ``baseline_file`` is given, the
    baseline accuracy log for the fallback comparison is written there.
    """
    check_dtype(dtype, DTYPES, TEST)
    results = require_dir(results_dir, "results directory")
    compliance = require_dir(compliance_dir, "compliance directory")
    ref_accuracy = require_file(
        results / "accuracy" / "mlperf_log_accuracy.json", "accuracy-run accuracy log"
    )
    ref_detail = require_file(
        results / "performance" / "run_1" / "mlperf_log_detail.txt", "performance-run detail log"
    )
    test_accuracy = require_file(compliance / "mlperf_log_accuracy.json", "TEST01 accuracy log")
    test_detail = require_file(compliance / "mlperf_log_detail.txt", "TEST01 detail log")
    test_summary = require_file(compliance / "mlperf_log_summary.txt", "TEST01 summary log")

    if unixmode:
        accuracy = check_accuracy_unixmode(ref_accuracy, test_accuracy)
    else:
        accuracy = check_accuracy(ref_accuracy, test_accuracy, dtype)
    performance = check_performance(ref_detail, test_detail)

    out = test_dir(output_dir, TEST, "accuracy", "performance/run_1")
    write_text(out / "verify_accuracy.txt", accuracy.report)
    write_text(out / "verify_performance.txt", performance.report)
    copy_into(test_accuracy, out / "accuracy")
    copy_into(test_summary, out / "performance" / "run_1")
    copy_into(test_detail, out / "performance" / "run_1")

    notes: tuple[str, ...] = ()
    if not accuracy.passed:
        baseline = Path(baseline_file) if baseline_file is not None else None
        count = write_baseline(ref_accuracy, test_accuracy, baseline) if baseline else 0
        notes = _fallback_notes(out, test_accuracy, baseline, count)
    lines = (
        f"Accuracy check pass: {accuracy.passed}",
        f"Performance check pass: {performance.passed}",
        "TEST01 verification complete",
    )
    return Verdict(TEST, (accuracy, performance), lines, out, notes)
