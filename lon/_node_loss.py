"""lon-run's side of losing a node: the per-sample deadline it derives from the settings, and
the record of each loss in the printout, the detail log and the node stats."""

from __future__ import annotations

from typing import Any, TextIO

import loadgen
from loadgen import logs
from qdl import QueryDispatchLibrary

SAMPLE_TIMEOUT_FLOOR_S = 10.0
"""No sample is called hung sooner than this, however tight the latency bound."""
SAMPLE_TIMEOUT_BOUNDS = 20
"""The derived deadline is this many latency bounds (Server: server_target_latency_ns)."""


def default_sample_timeout(scenario: str, settings: loadgen.TestSettings) -> float:
    """The per-sample deadline when --sample-timeout is not given: 20 latency bounds, at least
    10 s. Offline has no latency bound and SingleStream/MultiStream only an expected latency,
    so those get the floor: a sample still owed 10 s after a later one was answered is hung."""
    bound_s = 0.0
    if scenario == "Server":
        bound_s = settings.server_target_latency_ns / 1e9
    elif scenario == "SingleStream":
        bound_s = settings.single_stream_expected_latency_ns / 1e9
    elif scenario == "MultiStream":
        bound_s = settings.multi_stream_expected_latency_ns / 1e9
    return max(SAMPLE_TIMEOUT_FLOOR_S, SAMPLE_TIMEOUT_BOUNDS * bound_s)


def loss_lines(qdl: QueryDispatchLibrary) -> list[str]:
    """One line per lost node, and one for the late answers dropped; empty if none was lost."""
    lines = [f"node loss: {loss.describe()}" for loss in qdl.losses]
    if lines:
        lines.append(
            f"node loss: {qdl.samples_resent} samples re-sent in all; "
            f"{qdl.late_answers_dropped} late answers from lost nodes dropped"
        )
    return lines


def record_losses(out: TextIO, detail_path: str, qdl: QueryDispatchLibrary) -> None:
    """Print the losses and add them to the detail log as warnings."""
    lines = loss_lines(qdl)
    if not lines:
        return
    for line in lines:
        out.write(line + "\n")
    out.flush()
    logs.append_warnings(detail_path, lines)


def loss_record(qdl: QueryDispatchLibrary) -> dict[str, Any]:
    """The node stats' record of the losses."""
    return {
        "node_losses": [
            {"node": loss.node, "address": loss.address, "reason": loss.reason,
             "samples_resent": loss.resent, "unix_time": round(loss.wall_s, 3)}
            for loss in qdl.losses
        ],
        "samples_resent": qdl.samples_resent,
        "late_answers_dropped": qdl.late_answers_dropped,
    }  # fmt: skip
