"""The versions a run records and ``--version`` prints: lon, the LoadGens, the project's git.

``git describe`` is asked only of the checkout lon is imported from, and only if it is one (an
installed wheel has none); any failure just leaves it out.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import subprocess

OFFICIAL_DISTRIBUTION = "mlcommons-loadgen"


def lon_version() -> str:
    try:
        return importlib.metadata.version("lon")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def official_loadgen_version() -> str | None:
    """The installed official LoadGen wheel's version, or None."""
    try:
        return importlib.metadata.version(OFFICIAL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_describe() -> str | None:
    """``git describe --always --dirty --tags`` of the project checkout, or None."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.exists(os.path.join(root, ".git")):
        return None
    try:
        done = subprocess.run(
            ["git", "-C", root, "describe", "--always", "--dirty", "--tags"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    text = done.stdout.strip()
    return text if done.returncode == 0 and text else None


def version_text() -> str:
    """What ``lon-run --version`` prints."""
    official = official_loadgen_version() or "not installed"
    git = git_describe()
    return (
        f"lon {lon_version()}" + (f" (git {git})" if git else "") + "\n"
        f"LoadGens: ours {lon_version()}, official (mlperf_loadgen) {official}"
    )
