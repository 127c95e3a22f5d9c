"""Benchmark names: the submission checker's (``llama2-70b-99.9``, ``llama3.1-8b``, ``resnet``)
against mlperf.conf's model keys (``llama2-70b``, ``llama3_1-8b``, ``resnet50``).

A user names a benchmark the way the checker and the results tables do; the LoadGen looks its
settings up under mlperf.conf's key, and the reference harnesses translate one into the other
the same way: the accuracy target (``-99``, ``-99.9``, ``-95``) is not part of the key, a version
dot is an underscore (``llama3.1`` -> ``llama3_1``), and the Interactive scenario is the Server
scenario of ``<key>-interactive``. An mlperf.conf key given as it is works too.

A name that is neither is refused with the close ones, never run on the defaults, except in the
open division, where a model of one's own is allowed.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from ._benchmarks import OPEN, mlperf_benchmarks
from ._errors import SubmissionError

INTERACTIVE = "Interactive"
"""A submission scenario of its own, run as the LoadGen's Server with the -interactive settings."""

_ALIASES = {"resnet": "resnet50"}  # the checker's names whose key is not derived by the rules
_ACCURACY_SUFFIX = re.compile(r"-(99\.9|99|95)$")
_VERSION_DOT = re.compile(r"(?<=\d)\.(?=\d)")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark in one scenario, as the LoadGen runs it.

    name:              as the user gave it: the submission tree's directory
    conf_key:          the model key of mlperf.conf (and user.conf) the settings come from
    scenario:          the submission scenario (``Interactive`` included)
    loadgen_scenario:  what the LoadGen runs (``Server`` for ``Interactive``)
    """

    name: str
    conf_key: str
    scenario: str
    loadgen_scenario: str


def conf_key(name: str) -> str | None:
    """mlperf.conf's model key for the benchmark ``name``; None if it has none."""
    keys = set(mlperf_benchmarks())
    base = _ACCURACY_SUFFIX.sub("", name)
    for candidate in (name, base, _VERSION_DOT.sub("_", base), _ALIASES.get(base, "")):
        if candidate in keys:
            return candidate
    return None


def resolve(model: str, scenario: str, division: str | None = None) -> Benchmark:
    """The benchmark ``model`` in ``scenario``; SubmissionError for a name that is no
    benchmark (outside the open division) or an Interactive scenario it does not have."""
    key = conf_key(model)
    loadgen_scenario = "Server" if scenario == INTERACTIVE else scenario
    if key is None:
        if division == OPEN:
            return Benchmark(model, model, scenario, loadgen_scenario)
        raise SubmissionError(_unknown(model))
    if scenario == INTERACTIVE:
        interactive = f"{key}-interactive"
        if interactive not in mlperf_benchmarks():
            raise SubmissionError(
                f"--model {model} has no Interactive scenario (mlperf.conf has none for {key}); "
                f"those that have one: {', '.join(interactive_benchmarks())}"
            )
        key = interactive
    return Benchmark(model, key, scenario, loadgen_scenario)


def check_benchmark(model: str, division: str) -> None:
    """Refuse a model that is not an MLPerf benchmark, unless the division is open."""
    if division != OPEN and conf_key(model) is None:
        raise SubmissionError(_unknown(model))


def interactive_benchmarks() -> tuple[str, ...]:
    """The mlperf.conf keys with an Interactive scenario (``llama2-70b``, ...)."""
    suffix = "-interactive"
    return tuple(k[: -len(suffix)] for k in mlperf_benchmarks() if k.endswith(suffix))


def _unknown(model: str) -> str:
    keys = [k for k in mlperf_benchmarks() if not k.endswith("-interactive")]
    close = difflib.get_close_matches(model, keys, n=3, cutoff=0.5)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return (
        f"--model {model!r} is not an MLPerf benchmark: {hint}mlperf.conf knows {', '.join(keys)} "
        "(the checker's names such as llama2-70b-99.9 or llama3.1-8b work too); "
        "use --division open for a model of your own"
    )
