"""Benchmark names: the submission checker's (``llama2-70b-99``, ``llama3.1-8b``) and the
model keys of mlperf.conf (``llama2-70b``, ``llama3_1-8b``) are different spellings.

The reference harnesses read mlperf.conf under its own keys (``llama3.1-8b`` runs as
``llama3_1-8b``; ``llama2-70b-99`` and ``-99.9`` both as ``llama2-70b``; the Interactive
scenario as ``<key>-interactive`` in the Server scenario), while the submission checker names
the results directory with its own names (and maps a few old spellings, such as ``resnet50``,
itself). This module is the one place that knows both, so settings lookups and the submission
layout agree.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass
from importlib import resources

from ._config import parse_config

CHECKER_NAMES = (
    "resnet",
    "retinanet",
    "bert-99",
    "bert-99.9",
    "3d-unet-99",
    "3d-unet-99.9",
    "rnnt",
    "dlrm-v2-99",
    "dlrm-v2-99.9",
    "dlrm-v3",
    "gptj-99",
    "gptj-99.9",
    "llama2-70b-99",
    "llama2-70b-99.9",
    "mixtral-8x7b",
    "llama3.1-405b",
    "llama3.1-8b",
    "llama3.1-8b-edge",
    "stable-diffusion-xl",
    "rgat",
    "pointpainting",
    "deepseek-r1",
    "whisper",
    "gpt-oss-120b",
    "wan-2.2-t2v-a14b",
    "qwen3-vl-235b-a22b",
    "yolo-95",
    "yolo-99",
)
"""The benchmark names the submission checker knows (its current round and the ones before it
whose models mlperf.conf still configures)."""

CHECKER_ALIASES = {
    "resnet50": "resnet",
    "llama3_1-405b": "llama3.1-405b",
    "llama3_1-8b": "llama3.1-8b",
    "llama3_1-8b-edge": "llama3.1-8b-edge",
}
"""Other spellings the checker itself maps to its names (its ``model_mapping``), so a results
directory may carry them."""

ACCURACY_SUFFIXES = ("-99.9", "-99", "-95")
"""A checker name's accuracy target; mlperf.conf has one key for both targets of a model."""

INTERACTIVE = "Interactive"
INTERACTIVE_SUFFIX = "-interactive"
OPEN_DIVISION = "open"


class BenchmarkNameError(ValueError):
    """A ``--model`` name that names no benchmark (or not the one a use needs); one line."""


@dataclass(frozen=True)
class Benchmark:
    """A ``--model`` name resolved: what settings are looked up under, and its result name."""

    name: str  # as given
    conf_key: str  # the mlperf.conf / user.conf model key ("*" for no model)
    known: bool  # an MLPerf benchmark (False: an open-division model of its own)

    def settings_key(self, scenario: str) -> tuple[str, str]:
        """(model, scenario) to read mlperf.conf and user.conf with; Interactive reads the
        ``-interactive`` key in the Server scenario, as the reference harnesses do."""
        if scenario != INTERACTIVE:
            return self.conf_key, scenario
        interactive = self.conf_key + INTERACTIVE_SUFFIX
        have = ", ".join(interactive_benchmarks())
        if self.conf_key == "*":
            raise BenchmarkNameError(f"--scenario Interactive needs --model, one of: {have}")
        if interactive not in mlperf_conf_models():
            raise BenchmarkNameError(
                f"--scenario Interactive: --model {self.name} has no Interactive settings in "
                f"mlperf.conf; these have: {have}"
            )
        return interactive, "Server"


@functools.cache
def mlperf_conf_models() -> tuple[str, ...]:
    """The model keys of the embedded mlperf.conf (``resnet50``, ``llama2-70b``, ...), sorted."""
    text = resources.files("loadgen").joinpath("mlperf.conf").read_text(encoding="utf-8")
    parsed = parse_config(text, "mlperf.conf")
    return tuple(sorted({key.rsplit(".", 2)[0] for key in parsed.values} - {"*"}))


def conf_key(name: str) -> str | None:
    """The mlperf.conf model key ``name`` stands for, or None when it names no benchmark."""
    models = mlperf_conf_models()
    if name in models:
        return name
    name = CHECKER_ALIASES.get(name, name)
    for suffix in ACCURACY_SUFFIXES:
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    if name == "resnet":
        name = "resnet50"
    if name.startswith("llama3.1-"):
        name = "llama3_1-" + name.removeprefix("llama3.1-")
    return name if name in models else None


def unread_model_lines(
    text: str, path: str, benchmark: Benchmark, model: str, scenario: str
) -> list[str]:
    """Warnings for user.conf lines written under a spelling of the benchmark that no run
    reads (its checker name, say: runs read mlperf.conf's key, here ``model``). Lines under
    mlperf.conf keys are other runs' (a user.conf may serve Server and Interactive alike)."""
    if not benchmark.known:
        return []
    spellings = {benchmark.name, *(n for n in CHECKER_NAMES if conf_key(n) == benchmark.conf_key)}
    spellings |= {f"{n}{INTERACTIVE_SUFFIX}" for n in spellings}
    spellings -= set(mlperf_conf_models())
    parsed = parse_config(text, path)
    warnings = []
    for key, line in parsed.lines.items():
        name, _, rest = key.partition(".")
        if name in spellings and rest.split(".", 1)[0] in (scenario, "*"):
            warnings.append(
                f"{path}:{line}: key '{key}' is not read: this run reads its settings as "
                f"'{model}.{rest}' (mlperf.conf's name for the benchmark)"
            )
    return warnings


def interactive_benchmarks() -> tuple[str, ...]:
    """The checker's names of the benchmarks mlperf.conf has Interactive settings for."""
    models = mlperf_conf_models()
    return tuple(n for n in CHECKER_NAMES if f"{conf_key(n)}{INTERACTIVE_SUFFIX}" in models)


def resolve(name: str | None, division: str | None = None) -> Benchmark:
    """``--model NAME`` resolved; BenchmarkNameError for a name no benchmark has, naming the close
    ones, unless ``division`` is open (a model of one's own, read under its own name)."""
    if name is None:
        return Benchmark("*", "*", known=False)
    key = conf_key(name)
    if key is not None:
        return Benchmark(name, key, known=True)
    if division == OPEN_DIVISION:
        return Benchmark(name, name, known=False)
    raise BenchmarkNameError(f"--model {name!r} is not an MLPerf benchmark{_suggest(name)}")


def result_name(benchmark: Benchmark) -> str:
    """The results directory's name: the checker's name of the benchmark.

    A name the checker knows stays as given; a plain mlperf.conf key becomes the checker's
    only name for it. BenchmarkNameError when the key stands for two (``llama2-70b``: ``-99`` or
    ``-99.9``), since the checker needs the accuracy target.
    """
    if not benchmark.known or benchmark.name in CHECKER_NAMES:
        return benchmark.name
    if benchmark.name in CHECKER_ALIASES:
        return benchmark.name
    if benchmark.name.endswith(INTERACTIVE_SUFFIX):
        base = benchmark.name.removesuffix(INTERACTIVE_SUFFIX)
        raise BenchmarkNameError(
            f"--model {benchmark.name}: a submission names the benchmark and the scenario "
            f"apart; use --scenario Interactive with --model {(_names_for(base) or [base])[0]}"
        )
    names = _names_for(benchmark.conf_key)
    if len(names) == 1:
        return names[0]
    if not names:
        raise BenchmarkNameError(
            f"--model {benchmark.name}: the submission checker knows no benchmark of that name; "
            "use --division open for it"
        )
    raise BenchmarkNameError(
        f"--model {benchmark.name}: name the accuracy target the submission is for: "
        f"{' or '.join(names)}"
    )


def _names_for(key: str) -> list[str]:
    return [n for n in CHECKER_NAMES if conf_key(n) == key]


def _suggest(name: str) -> str:
    choices = sorted({*CHECKER_NAMES, *mlperf_conf_models()})
    close = difflib.get_close_matches(name, choices, n=4, cutoff=0.5)
    if close:
        return f"; did you mean {', '.join(close)}? (--division open for a model of your own)"
    return f" (known: {', '.join(CHECKER_NAMES)}); use --division open for a model of your own"
