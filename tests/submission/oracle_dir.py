"""Where the official mlcommons/inference tree is (``MLPERF_INFERENCE_DIR``), for tests.

Unset, the tests that need it are skipped, except under ``CI=true``, where they fail: CI must
prove the tree against the official checker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def mlperf_inference_dir() -> Path:
    """The official tree; skips (or fails under CI=true) when MLPERF_INFERENCE_DIR is unset."""
    value = os.environ.get("MLPERF_INFERENCE_DIR", "")
    if not value:
        message = "MLPERF_INFERENCE_DIR is not set (the Makefile sets it to the official tree)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    root = Path(value)
    if not (root / "tools" / "submission" / "submission_checker").is_dir():
        pytest.fail(f"MLPERF_INFERENCE_DIR={value}: no tools/submission/submission_checker in it")
    return root
