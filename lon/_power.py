"""lon-run under the MLCommons power workflow: the client command, the run, what it left.

power-dev's ``client.py`` (on the LoadGen host) runs the workload it is given twice, ranging
then testing, and finds each run's LoadGen logs under its ``-L`` directory by their
``power_begin``/``power_end`` stamps. So the workload is one lon-run command line, the same both
times, writing its logs under ``-L`` with no live progress (its output goes to a log). The
power-dev sources run as they are (the checker hashes them); this module only builds their
command lines and reads what they leave.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CLIENT_SCRIPT = os.path.join("ptd_client_server", "client.py")
SERVER_SCRIPT = os.path.join("ptd_client_server", "server.py")
DEFAULT_SERVER_PORT = 4950
LOADGEN_SUBDIR = "loadgen"
"""Under ``-L``: where lon-run writes, so ``-o`` may sit beside it (not inside ``-L``)."""

# lon-run options the power client must not see in its workload: the client places nothing,
# the tree is laid out after both runs, from the client's result.
REFUSED_WORKLOAD_FLAGS = ("--submission-dir", "--output")

SESSION_FILES = (
    "power/client.json",
    "power/client.log",
    "power/ptd_logs.txt",
    "power/server.json",
    "power/server.log",
    "ranging/mlperf_log_detail.txt",
    "ranging/mlperf_log_summary.txt",
    "ranging/spl.txt",
    "run_1/mlperf_log_detail.txt",
    "run_1/mlperf_log_summary.txt",
    "run_1/spl.txt",
)
"""What the power checker wants of a session directory (``run_1/ptd_out.txt`` may be there too)."""


class PowerError(Exception):
    """A power run that did not produce a result; the message is one line saying why."""


@dataclass(frozen=True)
class ClientPlan:
    """One power client invocation: where it connects, where the logs go, what it runs."""

    power_dev: str
    server: str
    ntp: str
    logs_dir: str
    out_dir: str
    lon_run_args: tuple[str, ...]
    port: int = DEFAULT_SERVER_PORT
    label: str = ""

    def workload(self) -> list[str]:
        """The lon-run argv the client runs twice: logs under ``-L``, no live progress."""
        for arg in self.lon_run_args:
            for flag in REFUSED_WORKLOAD_FLAGS:
                if arg == flag or arg.startswith(flag + "="):
                    raise PowerError(
                        f"{flag} is set by the power run, not in the lon-run arguments "
                        "(the logs go under -L, the tree is laid out after both runs)"
                    )
        quiet = [] if "--quiet" in self.lon_run_args else ["--quiet"]
        output = os.path.join(self.logs_dir, LOADGEN_SUBDIR)
        return ["lon-run", *self.lon_run_args, *quiet, "--output", output]

    def argv(self, python: str = "python3") -> list[str]:
        """The client.py command line, ``-w`` quoted for the shell the client runs it with."""
        label = ["-l", self.label] if self.label else []
        return [
            python, os.path.join(self.power_dev, CLIENT_SCRIPT),
            "-a", self.server, "-p", str(self.port), "-n", self.ntp,
            "-w", shlex.join(self.workload()),
            "-L", self.logs_dir, "-o", self.out_dir, "-T", "-f", *label,
        ]  # fmt: skip


def check_power_dev(path: str) -> str:
    """``path`` if it holds power-dev's client and server; PowerError names what is missing."""
    for script in (CLIENT_SCRIPT, SERVER_SCRIPT):
        if not os.path.isfile(os.path.join(path, script)):
            raise PowerError(
                f"{path}: no {script} (give a checkout of github.com/mlcommons/power-dev)"
            )
    return path


_FATAL = re.compile(r"\[(?:CRITICAL|ERROR)\] (?P<why>.*)")
_MODE = re.compile(r"Running workload in (?P<mode>\w+) mode")
_WORKLOAD_FAILED = re.compile(
    r"CalledProcessError: Command '(?!\[).* non-zero exit status (?P<code>-?\d+)"
)
_SUCCESS = "Successful exit"
_NTP_OFF = re.compile(
    r"time offset between the system time and (?P<ntp>\S+) is more then \d+ ms "
    r"\((?P<ms>-?[\d.]+) ms\)"
)
_SERVER_OFF = "time difference between the client and the server is more than"


def run_client(
    plan: ClientPlan, log_path: str, env: Mapping[str, str] | None = None, python: str = ""
) -> str:
    """Run the power client to the end, its output to ``log_path``; return the session dir.

    The client's exit status does not say everything (a failed clock sync exits 0), so success
    is its last line and a complete result; PowerError carries the client's own reason.
    """
    argv = plan.argv(python or sys.executable)
    with open(log_path, "w", encoding="utf-8") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    with open(log_path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    if code == 0 and any(_SUCCESS in line for line in lines[-3:]):
        missing = [p for p in SESSION_FILES if not os.path.isfile(os.path.join(plan.out_dir, p))]
        if not missing:
            return plan.out_dir
        raise PowerError(f"the power client finished but left no {missing[0]} in {plan.out_dir}")
    raise PowerError(f"{client_failure(lines, code)} (power client log: {log_path})")


def client_failure(lines: Sequence[str], code: int) -> str:
    """Why the client stopped: a clock check that failed, the workload's failure (the client
    shows it as a traceback) with lon-run's own error, else the client's first fatal or error
    line, else its exit status."""
    clock = _clock_failure(lines)
    if clock is not None:
        return clock
    mode = next((m["mode"] for line in reversed(lines) if (m := _MODE.search(line))), None)
    for line in reversed(lines):
        failed = _WORKLOAD_FAILED.search(line)
        if failed:
            said = [x for x in lines if x.startswith(("lon-run: error: ", "lon-run: the run is"))]
            why = f": {said[-1].removeprefix('lon-run: ').removeprefix('error: ')}" if said else ""
            return (
                f"the workload failed in the {mode} run (lon-run exit status {failed['code']}){why}"
            )
    for line in lines:
        match = _FATAL.search(line)
        if match:
            return "power client: " + match.group("why").strip()
    return f"power client exited with status {code} before it finished"


def _clock_failure(lines: Sequence[str]) -> str | None:
    """What a failed clock check says, in the terms of what to fix; None if none failed."""
    for line in reversed(lines):
        off = _NTP_OFF.search(line)
        if off:
            seconds = -float(off["ms"]) / 1000  # NTP reports its time minus ours
            return (
                f"this machine's clock is {seconds:+.1f} s off the NTP server {off['ntp']} "
                "(power-dev allows 0.4 s) and was not set: sync it, then run again"
            )
        if _SERVER_OFF in line:
            return (
                "the power server's clock is more than 0.4 s off this machine's: sync both "
                "with the NTP server, then run again"
            )
    return None
