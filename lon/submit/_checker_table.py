"""What the official submission checker requires of a benchmark, read from its own table.

The checker's ``MODEL_CONFIG`` (``tools/submission/submission_checker/constants.py`` in a clone
of mlcommons/inference) lists per version the benchmarks, the scenarios each system type
requires or allows, the compliance tests per benchmark and the data set sizes. Reading it from
the user's clone keeps the plan in step with the checker that will judge the tree.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from typing import Any

from qdl import ConfigError

CONSTANTS = os.path.join("tools", "submission", "submission_checker", "constants.py")
SYSTEM_TYPES = ("datacenter", "edge", "datacenter,edge")
COMPLIANCE_ORDER = ("TEST01", "TEST04", "TEST06", "TEST07", "TEST08", "TEST09")


@dataclass(frozen=True)
class Requirements:
    """One benchmark's needs under one checker version and system type."""

    benchmark: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    compliance: tuple[str, ...]
    dataset_size: int | None


def load_model_config(inference: str, version: str) -> dict[str, Any]:
    """The checker's table for ``version``; ConfigError when the clone or version is wrong."""
    path = os.path.join(inference, CONSTANTS)
    if not os.path.isfile(path):
        raise ConfigError(
            f"inference {inference}: no {CONSTANTS} (a clone of mlcommons/inference is needed: "
            "the checker's table and the audit.config files come from it)"
        )
    spec = importlib.util.spec_from_file_location("_mlperf_checker_constants", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        table = module.MODEL_CONFIG
    except Exception as exc:  # noqa: BLE001 - a foreign file; any failure is the same problem
        raise ConfigError(f"{path}: cannot read the checker's MODEL_CONFIG ({exc})") from None
    if version not in table:
        known = ", ".join(sorted(table, reverse=True))
        raise ConfigError(f"version {version!r}: the checker knows {known}")
    config: dict[str, Any] = table[version]
    return config


def requirements(
    config: dict[str, Any], benchmark: str, system_type: str, version: str
) -> Requirements:
    """What ``benchmark`` (the checker's name) needs on ``system_type``."""
    if system_type not in SYSTEM_TYPES:
        raise ConfigError(f"system_type {system_type!r}: expected one of {', '.join(SYSTEM_TYPES)}")
    name = config.get("model_mapping", {}).get(benchmark, benchmark)
    if name not in config.get("models", []):
        close = [m for m in config.get("models", []) if m.split("-")[0] == name.split("-")[0]]
        hint = f" (it has {', '.join(close)})" if close else ""
        raise ConfigError(f"model {benchmark!r}: the {version} checker has no such benchmark{hint}")
    key = system_type.replace(",", "-")
    required = tuple(config.get(f"required-scenarios-{key}", {}).get(name, ()))
    optional = tuple(config.get(f"optional-scenarios-{key}", {}).get(name, ()))
    if not required and not optional:
        raise ConfigError(
            f"model {name!r}: the {version} checker takes it on no {system_type} system"
        )
    compliance = tuple(t for t in COMPLIANCE_ORDER if name in config.get(f"models_{t}", ()))
    size = config.get("dataset-size", {}).get(name)
    return Requirements(name, required, optional, compliance, int(size) if size else None)


def audit_config(inference: str, test: str, benchmark: str, conf_key: str | None) -> str:
    """The audit.config of ``test`` for the benchmark: its own directory's, else the shared one."""
    base = os.path.join(inference, "compliance", test)
    names = [benchmark, conf_key or benchmark, benchmark.rsplit("-", 1)[0], benchmark.split("-")[0]]
    candidates = [os.path.join(base, n, "audit.config") for n in dict.fromkeys(names)]
    candidates.append(os.path.join(base, "audit.config"))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise ConfigError(
        f"no audit.config for {test} and {benchmark} in {base} (looked for "
        + ", ".join(os.path.relpath(c, base) for c in candidates)
        + ")"
    )
