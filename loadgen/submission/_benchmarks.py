"""Which model names are MLPerf benchmarks: the models the embedded mlperf.conf configures.

The submission checker knows only the official benchmarks; any other name in a closed or
network submission makes it fail (or crash), so the layout refuses it up front. The open
division may name its own models.
"""

from __future__ import annotations

import functools
from importlib import resources

from .._config import parse_config

OPEN = "open"


@functools.cache
def mlperf_benchmarks() -> tuple[str, ...]:
    """The model names of the embedded mlperf.conf (``resnet50``, ``bert``, ...), sorted."""
    text = resources.files("loadgen").joinpath("mlperf.conf").read_text(encoding="utf-8")
    parsed = parse_config(text, "mlperf.conf")
    return tuple(sorted({key.rsplit(".", 2)[0] for key in parsed.values} - {"*"}))
