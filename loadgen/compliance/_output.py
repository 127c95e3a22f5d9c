"""Writing a test's output tree: the verdict files and the copied compliance logs.

The layout is the one the official scripts produce and the submission checker expects:
``OUTPUT/TESTxx/verify_*.txt``, ``OUTPUT/TESTxx/accuracy/`` and
``OUTPUT/TESTxx/performance/run_1/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ._errors import VerifyError


def test_dir(output_dir: str | Path, test: str, *subdirs: str) -> Path:
    """Create ``output_dir/test`` and the given subdirectories of it; return the test dir."""
    root = Path(output_dir) / test
    try:
        root.mkdir(parents=True, exist_ok=True)
        for sub in subdirs:
            (root / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VerifyError(
            f"cannot create output directory {exc.filename}: {exc.strerror}"
        ) from None
    return root


def write_text(path: Path, text: str) -> None:
    """Write a verdict file; VerifyError naming it if that fails."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise VerifyError(f"cannot write {path}: {exc.strerror}") from None


def copy_into(source: Path, directory: Path) -> None:
    """Copy a log into ``directory`` (keeping its name and times), unless it already is there."""
    target = directory / source.name
    try:
        if target.exists() and target.samefile(source):
            return
        shutil.copy2(source, target)
    except OSError as exc:
        raise VerifyError(f"cannot copy {source} to {directory}: {exc.strerror}") from None
