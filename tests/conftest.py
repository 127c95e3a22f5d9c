"""What every test package shares: the project root, where the official scripts are, how to
run lon-run, which LoadGens a test can use, a free loopback port.

The official MLPerf Inference scripts (compliance checks, the submission checker's log parser,
mlperf.conf) are the judge of what we write; tests run them unchanged from the directory named
by ``MLPERF_INFERENCE_DIR``. ``make test`` sets it to the project's shared copy when there is
one; a user can point it at their own clone of mlcommons/inference. Without it those tests are
skipped, except under ``CI=true``, where a missing judge must not pass silently.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
"""The project root (the directory holding pyproject.toml)."""

ORACLE_ENV = "MLPERF_INFERENCE_DIR"
ORACLE_PARTS = ("compliance", "tools/submission", "loadgen/mlperf.conf")
"""What a usable copy of mlcommons/inference holds (only the parts our tests run)."""


def oracle_problem(value: str | None) -> str | None:
    """Why ``value`` (the variable's content) is not a usable official directory, or None."""
    if not value:
        return f"{ORACLE_ENV} is not set"
    missing = [part for part in ORACLE_PARTS if not (Path(value) / part).exists()]
    if missing:
        return f"{ORACLE_ENV}={value} lacks {', '.join(missing)}"
    return None


def oracle_dir() -> Path:
    """The official mlcommons/inference directory; skips the test (fails it under CI=true)."""
    value = os.environ.get(ORACLE_ENV)
    problem = oracle_problem(value)
    if problem is None:
        return Path(value).resolve()  # type: ignore[arg-type]
    message = (
        f"{problem}: the official MLPerf Inference scripts are needed "
        f"(run `make test`, or set {ORACLE_ENV} to a clone of mlcommons/inference)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The official mlcommons/inference directory (see ``oracle_dir``)."""
    return oracle_dir()


FINISHED = (0, 1)
"""lon-run's exit statuses for a run that finished, VALID (0) or INVALID (1). Short runs on a
busy machine can come out either way; tests of a mechanism accept both, never a failure (3)."""

LON_RUN = [sys.executable, "-c", "import sys; from lon._run import main; sys.exit(main())"]
"""The lon-run command line, from this checkout (whether or not the console script is on PATH)."""

LOADGENS = ("ours", "official")
"""The LoadGens a run can use (lon-run --loadgen)."""


def need_loadgen(name: str) -> None:
    """Skip unless LoadGen ``name`` can run a test here (the official one is an optional wheel)."""
    if name == "official":
        pytest.importorskip("mlperf_loadgen")


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
