"""Which model names are MLPerf benchmarks, and the name their results directory takes.

The submission checker knows only the official benchmarks; any other name in a closed or
network submission makes it fail (or crash), so the layout refuses it up front. The open
division may name its own models. The names themselves live in ``loadgen._benchmark_names``.
"""

from __future__ import annotations

from ..benchmark_names import (
    OPEN_DIVISION,
    BenchmarkNameError,
    mlperf_conf_models,
    resolve,
    result_name,
)
from ._errors import SubmissionError

OPEN = OPEN_DIVISION


def mlperf_benchmarks() -> tuple[str, ...]:
    """The model names of the embedded mlperf.conf (``resnet50``, ``bert``, ...), sorted."""
    return mlperf_conf_models()


def check_benchmark(model: str, division: str) -> str:
    """The results directory's name for ``model`` (the checker's name of the benchmark);
    refuse a model that is not an MLPerf benchmark, unless the division is open."""
    try:
        return result_name(resolve(model, division))
    except BenchmarkNameError as exc:
        raise SubmissionError(str(exc)) from None
