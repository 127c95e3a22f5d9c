"""``lon-accuracy``: score a numpy-mlp or onnx run on a synthetic data set from its accuracy log.

    lon-accuracy --accuracy-log OUT_DIR --synthetic 8x8x3:uint8:256 [--output]

prints the MLPerf-style result line first (``{"accuracy": 100.0, "good": 256, "total": 256}``),
then the counts behind it; ``--output`` also writes that text to ``accuracy.txt`` next to the log
(or to the file given), which is what a submission's ``accuracy/`` directory holds.

Exit codes: 0 scored, 1 scored below ``--min-accuracy``, 2 bad input (one line on stderr).
The data set and the model options (numpy-mlp's seed, hidden, classes) default to what lon-run
recorded in ``lon_node_stats.json`` beside the log, else to the defaults of ``sut-server --backend
numpy-mlp`` and ``lon-run`` (both seeds 0). A run whose record says its nodes ran another backend
(or a mix) is refused: the expected answers here are numpy-mlp's, so another model's would score
as a meaningless percentage. A run of ``--backend onnx`` nodes is scored against the model file
they reported, run here on onnxruntime's CPU provider (``lon._accuracy_onnx``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from loadgen.cli import EXIT_BAD_INPUT, Parser
from qdl import ConfigError, QDLError, SyntheticSpec

from ._accuracy import (
    ACCURACY_LOG_FILE,
    ACCURACY_RESULT_FILE,
    AccuracyReport,
    MLPModel,
    check_accuracy_log,
    check_nodes_ran_the_model,
)
from ._accuracy_onnx import (
    OnnxReference,
    check_onnx_accuracy_log,
    ran_onnx,
    reference_from_record,
)
from ._node_stats import NODE_STATS_FILE, read_node_stats

EXIT_OK, EXIT_BELOW_MINIMUM = 0, 1

SHOWN_MISMATCHES = 20

MODEL_OPTIONS = (
    ("--mlp-seed", "mlp_seed", "seed", 0),
    ("--hidden", "hidden", "hidden", 64),
    ("--classes", "classes", "classes", 10),
)
"""(flag, its argparse dest, the numpy-mlp option it stands for, numpy-mlp's default)."""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="lon-accuracy",
        description="Score a run of sut-server --backend numpy-mlp on a --synthetic data set "
        "from its mlperf_log_accuracy.json.",
    )
    p.add_argument(
        "--accuracy-log",
        required=True,
        metavar="PATH",
        help=f"the run's {ACCURACY_LOG_FILE}, or the lon-run --output directory holding it",
    )
    p.add_argument(
        "--synthetic",
        metavar="SHAPE:DTYPE:COUNT",
        help="the data set the run used (lon-run --synthetic), e.g. 224x224x3:uint8:1024; "
        f"default: the one recorded in {NODE_STATS_FILE} next to the log",
    )
    p.add_argument(
        "--synthetic-seed",
        type=int,
        metavar="N",
        help="the data set's seed (default: the recorded one, else 0, the one lon-run uses)",
    )
    for flag, dest, key, default in MODEL_OPTIONS:
        p.add_argument(
            flag,
            dest=dest,
            type=int,
            metavar="N",
            help=f"the nodes' --{key} (default: what the nodes reported in {NODE_STATS_FILE}, "
            f"else {default})",
        )
    p.add_argument(
        "--onnx-model",
        metavar="FILE",
        help="score a run of sut-server --backend onnx against this model file run here on "
        f"onnxruntime's CPU provider (default: the model the nodes reported in {NODE_STATS_FILE};"
        " its sha256 must match theirs)",
    )
    p.add_argument(
        "--output",
        nargs="?",
        const="",
        metavar="FILE",
        help=f"also write the result to FILE (no FILE: {ACCURACY_RESULT_FILE} next to the log)",
    )
    p.add_argument(
        "--min-accuracy",
        type=float,
        metavar="PCT",
        help="exit 1 when the accuracy is below PCT percent",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="list the wrongly answered samples")
    return p


def resolve_log_path(path: str) -> str:
    """A directory means the accuracy log inside it (what ``lon-run --output`` wrote)."""
    return os.path.join(path, ACCURACY_LOG_FILE) if os.path.isdir(path) else path


def format_report(report: AccuracyReport, spec: SyntheticSpec, verbose: bool = False) -> str:
    """The result line, then one line of counts (and, if ``verbose``, the wrong answers)."""
    lines = [
        report.result_line(),
        f"scored {report.total} of {spec.count} samples of {spec} from {report.entries} "
        f"log entries: {report.malformed} malformed answer(s) (not 4 bytes), "
        f"{report.duplicates} duplicate(s) ({report.disagreeing} disagreeing), "
        f"{report.missing} missing",
    ]
    if verbose:
        for m in report.mismatches[:SHOWN_MISMATCHES]:
            found = "malformed" if m.found is None else str(m.found)
            lines.append(f"  qsl_idx {m.qsl_idx}: expected {m.expected}, found {found}")
        if len(report.mismatches) > SHOWN_MISMATCHES:
            lines.append(f"  ... and {len(report.mismatches) - SHOWN_MISMATCHES} more")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``lon-accuracy`` minus the argument parsing: returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    log_path = resolve_log_path(args.accuracy_log)
    try:
        reference = _fill_from_run_record(args, log_path)
        spec = SyntheticSpec.parse(args.synthetic)
        _check_minimums(args)
        if reference is not None:
            report = check_onnx_accuracy_log(
                log_path, spec, reference, synthetic_seed=args.synthetic_seed
            )
        else:
            model = MLPModel(seed=args.mlp_seed, hidden=args.hidden, classes=args.classes)
            report = check_accuracy_log(
                log_path, spec, synthetic_seed=args.synthetic_seed, model=model
            )
        text = format_report(report, spec, args.verbose)
        if args.output is not None:
            _write(
                args.output or os.path.join(os.path.dirname(log_path), ACCURACY_RESULT_FILE), text
            )
    except QDLError as exc:
        err.write(f"lon-accuracy: error: {exc}\n")
        return EXIT_BAD_INPUT
    out.write(text)
    out.flush()
    if args.min_accuracy is not None and report.accuracy < args.min_accuracy:
        err.write(
            f"lon-accuracy: accuracy {report.accuracy:g}% is below --min-accuracy "
            f"{args.min_accuracy:g}%\n"
        )
        return EXIT_BELOW_MINIMUM
    return EXIT_OK


def _fill_from_run_record(args: argparse.Namespace, log_path: str) -> OnnxReference | None:
    """Take what was not given from the lon-run record beside the log: the data set (--synthetic
    and its seed) and the model the nodes reported (numpy-mlp's seed, hidden, classes; or the
    onnx model, returned as the reference to score against)."""
    record, record_path = read_node_stats(os.path.dirname(log_path))
    reference = _onnx_reference(args, record, record_path)
    if reference is None:
        _fill_model_options(args, record, record_path)
    if args.synthetic is not None:
        if args.synthetic_seed is None:
            args.synthetic_seed = 0
        return reference
    dataset = record.get("dataset")
    if not isinstance(dataset, dict):
        dataset = {}
    if "synthetic" not in dataset:
        raise ConfigError(
            f"give --synthetic SHAPE:DTYPE:COUNT: {record_path} does not record a synthetic "
            "data set"
        )
    args.synthetic = str(dataset["synthetic"])
    if args.synthetic_seed is None:
        args.synthetic_seed = int(dataset.get("synthetic_seed", 0))
    return reference


def _recorded_nodes(record: dict) -> list[dict]:
    nodes = record.get("nodes")
    return [n for n in (nodes if isinstance(nodes, list) else []) if isinstance(n, dict)]


def _onnx_reference(
    args: argparse.Namespace, record: dict, record_path: str
) -> OnnxReference | None:
    """The onnx model to score against: the run's nodes ran onnx, or --onnx-model says so."""
    nodes = _recorded_nodes(record)
    if ran_onnx(nodes):
        return reference_from_record(nodes, record_path, args.onnx_model)
    if args.onnx_model is None:
        return None
    if nodes:
        check_nodes_ran_the_model(nodes, record_path, "onnx")
    return OnnxReference(os.path.abspath(args.onnx_model))


def _fill_model_options(args: argparse.Namespace, record: dict, record_path: str) -> None:
    nodes = record.get("nodes")
    check_nodes_ran_the_model(
        [n for n in (nodes if isinstance(nodes, list) else []) if isinstance(n, dict)],
        record_path,
    )
    reported = [
        n.get("backend_options") or {}
        for n in (nodes if isinstance(nodes, list) else [])
        if isinstance(n, dict)
    ]
    for flag, attr, key, default in MODEL_OPTIONS:
        if getattr(args, attr) is not None:
            continue
        values = sorted({str(r[key]) for r in reported if isinstance(r, dict) and key in r})
        if len(values) > 1:
            raise ConfigError(
                f"the nodes in {record_path} ran with different {key} values "
                f"({', '.join(values)}): their answers are not one model's; give {flag} to score "
                "against one of them"
            )
        try:
            setattr(args, attr, int(values[0]) if values else default)
        except ValueError:
            raise ConfigError(
                f"{record_path}: a node reported {key}={values[0]!r}, not an integer"
            ) from None


def _check_minimums(args: argparse.Namespace) -> None:
    for flag, value, minimum in (
        ("--synthetic-seed", args.synthetic_seed, 0),
        ("--mlp-seed", args.mlp_seed, 0),
        ("--hidden", args.hidden, 1),
        ("--classes", args.classes, 1),
    ):
        if value is not None and value < minimum:
            raise ConfigError(f"{flag} must be >= {minimum}, got {value}")


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot write ({exc.strerror})") from exc


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
