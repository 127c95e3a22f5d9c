"""lon-run's side of ``--submission-dir``: hand a finished run to ``loadgen.submission``.

The layout itself lives in ``loadgen.submission`` (it has nothing to do with the network);
this module only turns lon-run's options, settings and node reports into what that package
takes, scores an accuracy run where lon-accuracy can, and says what is still needed.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, TextIO

from loadgen import submission
from qdl import ConfigError

from . import _accuracy_cli as lon_accuracy

TRANSPORT = "gRPC"
CONF_HEADER = "# user.conf of the run placed here: lon-run --user-conf, then every --set\n"


@dataclass(frozen=True)
class SubmissionRequest:
    """What lon-run was asked to place, as plain values."""

    root: str
    division: str | None
    submitter: str | None
    system: str | None
    model: str | None
    replace_valid: bool = False
    loadgen: str = "official"
    rehearsal: bool = False


def layout_for(request: SubmissionRequest, mode: str) -> submission.Layout:
    """Check the options before any node is contacted; ConfigError names the problem."""
    for flag, value in (
        ("--division {closed,open,network}", request.division),
        ("--submitter ORG", request.submitter),
        ("--system NAME (the system description id)", request.system),
        ("--model BENCHMARK", request.model),
    ):
        if not value:
            raise ConfigError(f"--submission-dir needs {flag}")
    assert request.division and request.submitter and request.system and request.model
    if request.loadgen != "official" and not request.rehearsal:
        raise ConfigError(
            f"--submission-dir with --loadgen {request.loadgen}: MLPerf results must come from "
            "the official LoadGen (the default here); add --rehearsal for a tree marked as a "
            "rehearsal, which lon-submission seal refuses"
        )
    try:
        layout = submission.Layout(
            request.root, request.division, request.submitter, request.system, request.model
        )
        if mode not in submission.RUN_DIRS:
            layout.run_dir("Offline", mode)  # raises, naming the modes a submission takes
    except submission.SubmissionError as exc:
        raise ConfigError(f"--submission-dir: {exc}") from None
    return layout


def user_conf_text(user_conf: str | None, conf_lines: Sequence[str]) -> str:
    """The user.conf that reproduces the run: the one given, then the command line's --set."""
    parts = [CONF_HEADER.rstrip("\n")]
    if user_conf is not None:
        with open(user_conf, encoding="utf-8") as f:
            parts.append(f.read().rstrip("\n"))
    if conf_lines:
        parts.append("# set on the lon-run command line")
        parts.extend(conf_lines)
    return "\n".join(parts) + "\n"


def network_record(
    nodes: Sequence[Mapping[str, Any]], compression: str, streams_per_node: int
) -> dict[str, str]:
    """What the client side knows about the network, for the system description."""
    return {
        "protocol": TRANSPORT,
        "compression": compression,
        "connections": str(len(nodes) * streams_per_node),
        "client_software": f"lon QDL over grpcio {version('grpcio')}, compression {compression}",
    }


def place(
    layout: submission.Layout,
    *,
    scenario: str,
    mode: str,
    output: str,
    user_conf: str,
    validity: str | None,
    replace_valid: bool,
    nodes: Sequence[Mapping[str, Any]],
    network: Mapping[str, str],
    command: str,
    scorable: bool,
    out: TextIO,
    rehearsal_loadgen: str | None = None,
) -> str | None:
    """Place the run, write the skeletons, score accuracy; print where and what is missing.

    ``rehearsal_loadgen`` names the LoadGen of a rehearsal run: the tree is marked as such.
    Returns the run directory, or None when placing was refused (VALID kept over INVALID).
    """
    try:
        run_dir = submission.place_run(
            layout,
            scenario,
            mode,
            output,
            user_conf,
            validity=validity,
            replace_valid=replace_valid,
        )
    except submission.ReplaceRefused as exc:
        out.write(f"lon-run: {exc}; the run's logs stay in {output}\n")
        out.flush()
        return None
    except submission.SubmissionError as exc:
        raise ConfigError(str(exc)) from None
    try:
        written = submission.write_records(layout, scenario, nodes, network)
        readme = submission.append_command(layout, scenario, run_dir, command)
        if rehearsal_loadgen is not None:
            submission.mark_rehearsal(layout, scenario, rehearsal_loadgen)
    except submission.SubmissionError as exc:
        raise ConfigError(str(exc)) from None
    out.write(f"submission: {run_dir}\n")
    if rehearsal_loadgen is not None:
        out.write(f"  marked {submission.REHEARSAL_MARK}: not to be filed (--rehearsal)\n")
    for path in written:
        out.write(f"  wrote skeleton {path}\n")
    needed = []
    if mode == "AccuracyOnly":
        needed.extend(_score(run_dir, output, scorable))
        needed.append(
            f"lon-submission seal {layout.root}, last (after lon-verify): truncates the "
            "accuracy logs and records their hashes"
        )
    scenario_dir = layout.scenario_dir(scenario)
    for path, count in submission.unfilled(
        [layout.system_json, os.path.join(scenario_dir, "measurements.json"), readme]
    ).items():
        needed.append(f"{path}: {count} value(s) marked {submission.FILL_ME}")
    for item in needed:
        out.write(f"  still needed: {item}\n")
    out.flush()
    return run_dir


def _score(run_dir: str, output: str, scorable: bool) -> list[str]:
    """Write accuracy.txt with lon-accuracy when it can score the run; else say what to do."""
    txt = os.path.join(run_dir, "accuracy.txt")
    log = os.path.join(run_dir, "mlperf_log_accuracy.json")
    instead = (
        f"accuracy.txt: score {log} with the benchmark's accuracy script and save its output "
        f"as {txt}"
    )
    if not scorable:
        return [f"{instead} (lon-accuracy scores only numpy-mlp and onnx runs on --synthetic data)"]
    err = io.StringIO()
    args = lon_accuracy.build_parser().parse_args(["--accuracy-log", output, "--output", txt])
    code = lon_accuracy.run(args, out=io.StringIO(), err=err)
    if code != 0:
        why = err.getvalue().strip().removeprefix("lon-accuracy: error: ")
        return [f"{instead} (lon-accuracy could not: {why})"]
    return []
