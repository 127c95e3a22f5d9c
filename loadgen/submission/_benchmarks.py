"""Which model names are MLPerf benchmarks: the models the embedded mlperf.conf configures.

The submission checker knows only the official benchmarks; any other name in a closed or
network submission makes it fail (or crash), so the layout refuses it up front. The open
division may name its own models.
"""

from __future__ import annotations

import functools
from importlib import resources

from .._config import parse_config
from ._errors import SubmissionError

OPEN = "open"


@functools.cache
def mlperf_benchmarks() -> tuple[str, ...]:
    """The model names of the embedded mlperf.conf (``resnet50``, ``bert``, ...), sorted."""
    text = resources.files("loadgen").joinpath("mlperf.conf").read_text(encoding="utf-8")
    parsed = parse_config(text, "mlperf.conf")
    return tuple(sorted({key.split(".", 1)[0] for key in parsed.values} - {"*"}))


def check_benchmark(model: str, division: str) -> None:
    """Refuse a model that is not an MLPerf benchmark, unless the division is open."""
    if division == OPEN or model in mlperf_benchmarks():
        return
    raise SubmissionError(
        f"--model {model!r} is not an MLPerf benchmark (mlperf.conf knows "
        f"{', '.join(mlperf_benchmarks())}); use --division open for a model of your own"
    )
