"""Running one measurement in a fresh Python process and reading back its ``RESULT {json}``
line: each LoadGen keeps process-wide state, and a fresh process keeps runs independent."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_worker(code: str, args: list[str], timeout: float) -> dict[str, Any]:
    """``python -c code *args OUTDIR`` (a scratch directory last); its RESULT line as a dict."""
    with tempfile.TemporaryDirectory() as outdir:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args, outdir],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout,
        )
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line[7:])
            return result
    raise RuntimeError(f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
