"""Lay a finished run out the way an MLPerf submission's ``results/`` tree expects it.

``<results>/<system>/<model>/<scenario>/`` holds ``performance/run_1/`` (PerformanceOnly and
SubmissionRun) or ``accuracy/`` (AccuracyOnly), next to the ``mlperf.conf`` and ``user.conf``
the run used. The user.conf written there is the one given plus the command line's settings as
``model.scenario.key = value`` lines, so it reproduces the run. Compliance runs are
placed by ``lon-verify``, which writes the ``TEST0x/`` directories with their verdicts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from importlib import resources

from ._exceptions import ConfigError

LOG_FILES = (
    "mlperf_log_summary.txt",
    "mlperf_log_detail.txt",
    "mlperf_log_accuracy.json",
    "mlperf_log_trace.json",
)
SUBDIRS = {
    "PerformanceOnly": os.path.join("performance", "run_1"),
    "SubmissionRun": os.path.join("performance", "run_1"),
    "AccuracyOnly": "accuracy",
}
STILL_NEEDED = {
    "accuracy": "accuracy.txt (the accuracy script's output; lon-accuracy writes one)",
    "scenario": "measurements.json and README.md",
}


def check_layout_options(system: str | None, model: str | None, mode: str) -> None:
    """Refuse, before any run, what cannot be laid out."""
    if not system:
        raise ConfigError("--submission-dir needs --system NAME (the system description id)")
    if not model:
        raise ConfigError("--submission-dir needs --model NAME (the benchmark name)")
    if mode not in SUBDIRS:
        raise ConfigError(
            f"--submission-dir: a {mode} run is not part of a submission; "
            f"use one of {', '.join(SUBDIRS)}"
        )
    for label, value in (("--system", system), ("--model", model)):
        if os.sep in value or value in (".", ".."):
            raise ConfigError(f"{label} {value!r}: must be a plain name, not a path")


def scenario_dir(results: str, system: str, model: str, scenario: str) -> str:
    return os.path.join(results, system, model, scenario)


def place_run(
    output: str,
    results: str,
    system: str,
    model: str,
    scenario: str,
    mode: str,
    user_conf: str | None,
    extra_conf_lines: Sequence[str],
) -> str:
    """Copy the run's logs from ``output`` into the submission tree; returns the run directory."""
    base = scenario_dir(results, system, model, scenario)
    target = os.path.join(base, SUBDIRS[mode])
    try:
        if os.path.isdir(target):
            shutil.rmtree(target)  # a rerun replaces the previous one, never mixes with it
        os.makedirs(target)
        for name in LOG_FILES:
            source = os.path.join(output, name)
            if os.path.isfile(source) and (name != "mlperf_log_trace.json" or _non_empty(source)):
                shutil.copyfile(source, os.path.join(target, name))
        _write_confs(base, user_conf, extra_conf_lines)
    except OSError as exc:
        where = exc.filename or results
        raise ConfigError(
            f"--submission-dir {results}: cannot write {where} ({exc.strerror})"
        ) from None
    return target


def still_needed(run_dir: str, mode: str) -> list[str]:
    """What the submission checker will also want in this scenario's tree, not yet there."""
    needed = []
    if mode == "AccuracyOnly" and not os.path.isfile(os.path.join(run_dir, "accuracy.txt")):
        needed.append(STILL_NEEDED["accuracy"])
    base = (
        os.path.dirname(run_dir)
        if mode == "AccuracyOnly"
        else os.path.dirname(os.path.dirname(run_dir))
    )
    missing = [
        n for n in ("measurements.json", "README.md") if not os.path.isfile(os.path.join(base, n))
    ]
    if missing:
        needed.append(" and ".join(missing) + f" in {base}")
    return needed


def _write_confs(base: str, user_conf: str | None, extra_lines: Sequence[str]) -> None:
    mlperf_conf = resources.files("loadgen").joinpath("mlperf.conf").read_text(encoding="utf-8")
    with open(os.path.join(base, "mlperf.conf"), "w", encoding="utf-8") as f:
        f.write(mlperf_conf)
    lines: list[str] = []
    if user_conf is not None:
        with open(user_conf, encoding="utf-8") as f:
            lines.append(f.read().rstrip("\n"))
    if extra_lines:
        lines.append("# set on the lon-run command line")
        lines.extend(extra_lines)
    with open(os.path.join(base, "user.conf"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + ("\n" if lines else ""))


def _non_empty(path: str) -> bool:
    return os.path.getsize(path) > 0
