"""Lay a finished power run out in the submission tree, or refuse with one line.

power-dev's client leaves a session directory: ``power/`` (client and server records, the
analyzer's log), ``ranging/`` and ``run_1/`` (each run's LoadGen logs and the analyzer's
samples, ``spl.txt``). The checker wants exactly those under
``results/<system>/<benchmark>/<scenario>/performance/``, byte for byte (the records hold
their hashes), and nothing more in them; the session's ``run_1/ptd_out.txt`` stays out. The
analyzer settings the rules ask for (``analyzer_table``, ``power_settings``) are written as
skeletons beside the system's results. Nothing is placed unless the session is complete and
the analyzer's clock agrees with the power server's.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from loadgen import submission

from ._power import SESSION_FILES, PowerError

PERFORMANCE_FILES = ("mlperf_log_detail.txt", "mlperf_log_summary.txt", "spl.txt")
CLOCK_TOLERANCE_S = 0.4
"""How far an analyzer sample may lie outside its measurement: power-dev's own clock limit."""
SPL_TIME_FORMAT = "%m-%d-%Y %H:%M:%S.%f"
PHASES = {"ranging": "ranging", "run_1": "testing"}

ANALYZER_TABLE = """# Power analyzer

{fill}: one row per analyzer: vendor and model, serial number, calibration date, what it
measures (which SUT nodes and network gear), PTDaemon version and device type.

| Analyzer | Model | Serial | Calibrated | Measures |
|----------|-------|--------|------------|----------|
| 1 | {fill} | {fill} | {fill} | {fill} |
"""
POWER_SETTINGS = """# Power settings

{fill}: the SUT's power-relevant settings for these runs (BIOS and OS power management,
fan policy, accelerator power limits), on every node the analyzers measure.
"""
SKELETONS = {"analyzer_table.md": ANALYZER_TABLE, "power_settings.md": POWER_SETTINGS}


def check_session(session: str) -> None:
    """PowerError unless ``session`` holds every file the checker wants."""
    missing = [p for p in SESSION_FILES if not os.path.isfile(os.path.join(session, p))]
    if missing:
        raise PowerError(f"{session} is not a complete power session: no {missing[0]}")


def sample_times(spl_path: str) -> list[float]:
    """The analyzer's sample times in ``spl.txt`` (UTC, as PTDaemon writes them)."""
    times = []
    with open(spl_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            fields = line.split(",")
            if fields[0] == "Time" and len(fields) > 1:
                stamp = datetime.strptime(fields[1], SPL_TIME_FORMAT)
                times.append(stamp.replace(tzinfo=timezone.utc).timestamp())
    return times


def clock_offset(times: Sequence[float], go: float, stop: float) -> float:
    """How far samples lie outside (go, stop], in seconds, signed; 0 when all lie inside.

    ``go`` is when the server had the measurement started, ``stop`` when it had it stopped
    and read; an analyzer whose clock agrees with the server's stamps every sample between.
    """
    if not times:
        return 0.0
    if min(times) < go:
        return min(times) - go
    return max(0.0, max(times) - stop)


def check_clocks(session: str) -> None:
    """PowerError when the analyzer's samples lie outside the measurement the server ran."""
    with open(os.path.join(session, "power", "server.json"), encoding="utf-8") as f:
        phases = json.load(f)["phases"]
    for run, phase in PHASES.items():
        marks = phases[phase]
        times = sample_times(os.path.join(session, run, "spl.txt"))
        offset = clock_offset(times, marks[1][0], marks[3][0])
        if abs(offset) > CLOCK_TOLERANCE_S:
            raise PowerError(
                f"the analyzer's clock is off the power server's: {run}/spl.txt has samples "
                f"{offset:+.1f} s outside the measurement; set the director's clock (NTP) "
                "and run again"
            )


def place_power_session(
    layout: submission.Layout,
    scenario: str,
    session: str,
    user_conf: str,
    *,
    nodes: Sequence[Mapping[str, Any]],
    network: Mapping[str, str],
    command: str,
) -> list[str]:
    """Check ``session`` and copy it under the scenario's ``performance/``; return what was
    written besides the runs (skeletons, README). PowerError (nothing placed) when it fails."""
    check_session(session)
    check_clocks(session)
    try:
        run_1 = submission.place_run(
            layout,
            scenario,
            "PerformanceOnly",
            os.path.join(session, "run_1"),
            user_conf,
            validity=submission.summary_validity(os.path.join(session, "run_1")),
            replace_valid=True,
        )
        performance = os.path.dirname(run_1)
        shutil.copyfile(os.path.join(session, "run_1", "spl.txt"), os.path.join(run_1, "spl.txt"))
        for name in ("ranging", "power"):
            target = os.path.join(performance, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            shutil.copytree(os.path.join(session, name), target)
        written = submission.write_records(layout, scenario, nodes, network)
        written.extend(_write_skeletons(os.path.dirname(layout.scenario_dir(scenario))))
        written.append(submission.append_command(layout, scenario, performance, command))
    except submission.SubmissionError as exc:
        raise PowerError(str(exc)) from None
    except OSError as exc:
        raise PowerError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return written


def _write_skeletons(directory: str) -> list[str]:
    """analyzer_table.md and power_settings.md beside the benchmark's scenarios, once."""
    written = []
    for name, text in SKELETONS.items():
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as f:
                f.write(text.format(fill=submission.FILL_ME))
            written.append(path)
    return written
