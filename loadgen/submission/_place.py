"""Copy a finished run's logs into its place in the tree, beside the configs that made it.

A rerun replaces the run before it (never mixes with it), except that an INVALID performance
run does not replace a VALID one unless the caller says so: a short try must not silently
destroy the result a submission rests on. The run's own logs stay where the run wrote them.
"""

from __future__ import annotations

import os
import shutil
from importlib import resources

from ..logs import read_validity
from ._errors import ReplaceRefused, SubmissionError
from ._layout import RUN_DIRS, Layout

LOG_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "mlperf_log_accuracy.json",
)
"""The logs a submission holds. The trace (``mlperf_log_trace.json``) is not among them: the
rules never ask for it (the submission checker lists it as optional), and an accuracy run's
is many megabytes; it stays in the run's own output directory."""


def summary_validity(run_dir: str) -> str | None:
    """ "VALID"/"INVALID" as the run's summary says it, or None when there is no such line."""
    return read_validity(os.path.join(run_dir, LOG_FILES[0]))


def place_run(
    layout: Layout,
    scenario: str,
    mode: str,
    output: str,
    user_conf: str,
    *,
    validity: str | None,
    replace_valid: bool = False,
) -> str:
    """Copy the logs in ``output`` to the run's directory; return that directory.

    ``user_conf`` is the text of the scenario's user.conf (the settings that reproduce the
    run); the performance run's is the one kept (the checker reads the result it configured),
    an accuracy run's is written only where there is none yet. The embedded mlperf.conf is
    written beside it. Raises ReplaceRefused when an
    INVALID performance run would replace a VALID one and ``replace_valid`` is false.
    """
    target = layout.run_dir(scenario, mode)
    performance = RUN_DIRS[mode] != RUN_DIRS["AccuracyOnly"]
    if (
        performance
        and validity == "INVALID"
        and summary_validity(target) == "VALID"
        and not replace_valid
    ):
        raise ReplaceRefused(
            f"not placed: this INVALID run would replace the VALID one in {target} "
            "(--replace-valid allows it)"
        )
    base = layout.scenario_dir(scenario)
    try:
        if os.path.isdir(target):
            shutil.rmtree(target)
        os.makedirs(target)
        for name in LOG_FILES:
            source = os.path.join(output, name)
            if os.path.isfile(source):
                shutil.copyfile(source, os.path.join(target, name))
        mlperf_conf = resources.files("loadgen").joinpath("mlperf.conf").read_text("utf-8")
        _write(os.path.join(base, "mlperf.conf"), mlperf_conf)
        if performance or not os.path.isfile(os.path.join(base, "user.conf")):
            _write(os.path.join(base, "user.conf"), user_conf)
    except OSError as exc:
        raise SubmissionError(
            f"--submission-dir {layout.root}: cannot write {exc.filename or target} "
            f"({exc.strerror})"
        ) from None
    return target


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
