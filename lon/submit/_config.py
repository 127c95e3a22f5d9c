"""lon-submit's configuration: one TOML file plus flags, every value checked before a run.

Flags override the file. Paths in the file are relative to the file. A bad value is one
ConfigError naming where it was written (``file:line`` for the file, the flag otherwise).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loadgen import benchmark_names
from loadgen import config as loadgen_config
from loadgen.submission import DIVISIONS
from qdl import ConfigError

from .._discovery import node_addresses
from ._checker_table import SYSTEM_TYPES

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

LOADGENS = ("official", "ours")
DATA_KEYS = ("dataset", "synthetic", "synthetic_llm")
PATH_KEYS = ("user_conf", "output", "inference", "dataset")


@dataclass(frozen=True)
class SubmitConfig:
    """Everything one ``lon-submit`` needs, as plain values."""

    model: str
    submitter: str
    system: str
    nodes: str = ""
    division: str = "network"
    system_type: str = "datacenter"
    scenarios: tuple[str, ...] = ()  # empty: every scenario the checker requires or allows
    user_conf: str | None = None
    output: str = "lon-submit"
    inference: str = ""
    version: str = "v6.1"
    loadgen: str = "official"
    rehearsal: bool = False
    quick: bool = False
    dataset: str | None = None
    synthetic: str | None = None
    synthetic_llm: str | None = None
    eos_token_id: int | None = None
    accuracy_command: str | None = None  # its stdout becomes accuracy.txt; {accuracy_log}
    test07_accuracy_script: str | None = None
    run_args: tuple[str, ...] = ()  # more lon-run flags for every run
    system_description: Mapping[str, str] = field(default_factory=dict)

    @property
    def tree(self) -> str:
        """The submission tree's root."""
        return os.path.join(self.output, "submission")

    @property
    def runs(self) -> str:
        """Where each run's own logs stay."""
        return os.path.join(self.output, "runs")

    def data_args(self) -> tuple[str, ...]:
        for key in DATA_KEYS:
            value = getattr(self, key)
            if value is not None:
                return ("--" + key.replace("_", "-"), value)
        return ()


FIELDS = {f.name: f for f in dataclasses.fields(SubmitConfig)}
REQUIRED = ("model", "submitter", "system")


def _where(path: str, text: str, key: str) -> str:
    """``file:line`` of ``key``'s assignment, or the file alone."""
    match = re.search(rf"^\s*(\[{re.escape(key)}\]|{re.escape(key)}\s*=)", text, re.MULTILINE)
    return f"{path}:{text[: match.start()].count(chr(10)) + 1}" if match else path


def read_file(path: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The file's values (paths made relative to the cwd) and where each was written."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        doc = tomllib.loads(raw.decode("utf-8"))
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not TOML ({exc})") from None
    text = raw.decode("utf-8")
    base = os.path.dirname(os.path.abspath(path))
    values: dict[str, Any] = {}
    where: dict[str, str] = {}
    for key, value in doc.items():
        place = _where(path, text, key)
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"{place}: unknown key {key!r}{hint}")
        if key == "system_description" and isinstance(value, dict):
            for field_name, field_value in value.items():
                if not isinstance(field_value, str):
                    raise ConfigError(
                        f"{_where(path, text, field_name)}: [system_description] "
                        f"{field_name} = {field_value!r}: the fields take text values"
                    )
        if key in PATH_KEYS and isinstance(value, str) and not os.path.isabs(value):
            value = os.path.join(base, value)
        values[key], where[key] = value, place
    return values, where


def _typed(key: str, value: Any, place: str) -> Any:
    """``value`` as the field's type; ConfigError naming ``place`` otherwise."""
    kind = FIELDS[key].type
    if key == "nodes" and isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if key in ("scenarios", "run_args"):
        if isinstance(value, str):
            value = (
                [v for v in re.split(r"[,\s]+", value) if v]
                if key == "scenarios"
                else value.split()
            )
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{place}: {key} must be a list of strings")
        return tuple(value)
    if key == "system_description":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{place}: [system_description] holds text values only")
        return dict(value)
    if "bool" in str(kind):
        if not isinstance(value, bool):
            raise ConfigError(f"{place}: {key} must be true or false, not {value!r}")
        return value
    if "int" in str(kind):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{place}: {key} must be a whole number, not {value!r}")
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{place}: {key} must be a non-empty string, not {value!r}")
    return value


def build(
    file_values: Mapping[str, Any], where: Mapping[str, str], flags: Mapping[str, Any]
) -> SubmitConfig:
    """The config from the file's values and the flags given (None: not given); checked."""
    merged: dict[str, Any] = {}
    for key, value in file_values.items():
        merged[key] = _typed(key, value, where[key])
    for key, value in flags.items():
        if value is not None:
            merged[key] = _typed(key, value, "--" + key.replace("_", "-"))
    missing = [k for k in REQUIRED if k not in merged]
    if missing:
        raise ConfigError(
            "missing "
            + ", ".join(missing)
            + " (set them in --config FILE or as --"
            + missing[0].replace("_", "-")
            + ")"
        )
    merged.setdefault("inference", os.environ.get("MLPERF_INFERENCE_DIR", ""))
    config = SubmitConfig(**merged)
    return check(config, {**{k: where.get(k, "--" + k.replace("_", "-")) for k in merged}})


def check(config: SubmitConfig, where: Mapping[str, str]) -> SubmitConfig:
    """Every value that can be checked without a node; ConfigError for the first bad one."""

    def at(key: str) -> str:
        return where.get(key, "--" + key.replace("_", "-"))

    if config.division not in DIVISIONS:
        raise ConfigError(
            f"{at('division')}: division {config.division!r}: expected one of "
            + ", ".join(DIVISIONS)
        )
    if config.system_type not in SYSTEM_TYPES:
        raise ConfigError(
            f"{at('system_type')}: system_type {config.system_type!r}: expected one of "
            + ", ".join(SYSTEM_TYPES)
        )
    if config.loadgen not in LOADGENS:
        raise ConfigError(
            f"{at('loadgen')}: loadgen {config.loadgen!r}: expected one of {', '.join(LOADGENS)}"
        )
    if config.loadgen == "ours" and not config.rehearsal:
        raise ConfigError(
            f"{at('loadgen')}: loadgen ours: MLPerf results must come from the official LoadGen; "
            "add --rehearsal (rehearsal = true) for a tree marked as a rehearsal, never sealed"
        )
    try:
        benchmark_names.resolve(config.model, config.division)
    except benchmark_names.BenchmarkNameError as exc:
        raise ConfigError(f"{at('model')}: {exc}") from None
    for key in ("submitter", "system"):
        value = getattr(config, key)
        if "/" in value or value in (".", ".."):
            raise ConfigError(f"{at(key)}: {key} {value!r} must be a plain name, not a path")
    if not config.inference:
        raise ConfigError(
            "no inference clone: set inference = PATH (or --inference, or MLPERF_INFERENCE_DIR) "
            "to a clone of mlcommons/inference: the checker and the audit.config files come from it"
        )
    given = [k for k in DATA_KEYS if getattr(config, k) is not None]
    if len(given) != 1:
        got = "got " + ", ".join(given) if given else "none given"
        raise ConfigError(
            "give exactly one data set: dataset = FILE, synthetic = SHAPE:DTYPE:COUNT or "
            f"synthetic_llm = IN:OUT[:COUNT] ({got})"
        )
    if config.dataset is not None and not os.path.isfile(config.dataset):
        raise ConfigError(f"{at('dataset')}: dataset {config.dataset}: no such file")
    if config.user_conf is not None:
        if not os.path.isfile(config.user_conf):
            raise ConfigError(f"{at('user_conf')}: user_conf {config.user_conf}: no such file")
        problems = loadgen_config.config_errors(config.user_conf)
        if problems:
            raise ConfigError(str(problems[0]))
    if config.nodes:
        node_addresses(config.nodes, None)
    return config
