"""The plan: every step of one benchmark's submission, with its settings and expected length.

Per scenario: a performance run, an accuracy run, and each compliance test the checker requires
(a run under the test's audit.config, then ``lon-verify``); then the steps that finish the tree.
Expected lengths come from the settings each run will have (mlperf.conf, the user.conf, the
``--quick`` settings, the audit.config), as ``lon-run`` builds them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from loadgen import benchmark_names

from .._run import RunOptions, benchmark, build_settings
from ._checker_table import Requirements, audit_config
from ._config import SubmitConfig

QUICK_SETS = {
    "Offline": ("min_duration_ms=500", "min_query_count=64"),
    "Server": ("min_duration_ms=500", "min_query_count=32"),
    "Interactive": ("min_duration_ms=500", "min_query_count=32"),
    "SingleStream": ("min_duration_ms=100", "min_query_count=64"),
    "MultiStream": ("min_duration_ms=100", "min_query_count=32"),
}
"""``--quick``: runs of about a second; the checker then reports what short runs cause."""
SCENARIO_ORDER = ("SingleStream", "MultiStream", "Offline", "Server", "Interactive")
FINISH = ("system", "seal", "checker", "tarball")


@dataclass(frozen=True)
class Step:
    """One step of the plan; ``id`` is what ``--redo`` takes (``Offline/accuracy``)."""

    id: str
    kind: str  # performance, accuracy, TEST01..TEST09, or one of FINISH
    scenario: str | None = None
    audit_config: str | None = None
    min_duration_s: float = 0.0
    min_query_count: int = 0
    target_qps: float = 0.0
    expected_s: float = 0.0
    latency_s: float = 0.0  # SingleStream/MultiStream: the expected latency of a query

    @property
    def is_run(self) -> bool:
        return self.scenario is not None


def scenarios(config: SubmitConfig, needs: Requirements) -> tuple[str, ...]:
    """The scenarios to run: those asked for (every required one among them), in order."""
    from qdl import ConfigError

    allowed = needs.required + needs.optional
    chosen = config.scenarios or allowed
    unknown = [s for s in chosen if s not in allowed]
    if unknown:
        raise ConfigError(
            f"scenarios: {needs.benchmark} on a {config.system_type} system takes "
            f"{', '.join(allowed)}, not {', '.join(unknown)}"
        )
    missing = [s for s in needs.required if s not in chosen]
    if missing:
        raise ConfigError(
            f"scenarios: the checker requires {', '.join(missing)} of {needs.benchmark} on a "
            f"{config.system_type} system"
        )
    either = ("Interactive", "Server")
    if all(s in needs.optional for s in either) and not any(s in chosen for s in either):
        raise ConfigError(
            f"scenarios: the checker requires Interactive or Server (or both) of "
            f"{needs.benchmark} on a {config.system_type} system"
        )
    return tuple(s for s in SCENARIO_ORDER if s in chosen)


def quick_sets(config: SubmitConfig, scenario: str) -> tuple[str, ...]:
    return QUICK_SETS[scenario] if config.quick else ()


def build_plan(config: SubmitConfig, needs: Requirements) -> list[Step]:
    """Every step, in the order they run; ConfigError for a missing audit.config."""
    key = benchmark_names.conf_key(config.model)
    steps: list[Step] = []
    for scenario in scenarios(config, needs):
        steps.append(_estimated(config, needs, f"{scenario}/performance", "performance", scenario))
        steps.append(_estimated(config, needs, f"{scenario}/accuracy", "accuracy", scenario))
        for test in needs.compliance:
            audit = audit_config(config.inference, test, needs.benchmark, key)
            steps.append(_estimated(config, needs, f"{scenario}/{test}", test, scenario, audit))
    steps += [Step(id=kind, kind=kind) for kind in FINISH]
    return steps


def _estimated(
    config: SubmitConfig,
    needs: Requirements,
    step_id: str,
    kind: str,
    scenario: str,
    audit: str | None = None,
) -> Step:
    options = RunOptions(
        nodes=(),
        scenario=scenario,
        output="",
        mode="AccuracyOnly" if kind == "accuracy" else "PerformanceOnly",
        model=config.model,
        user_conf=config.user_conf,
        sets=tuple(quick_sets(config, scenario)),
        audit_config=audit or "none",
        division=config.division,
    )
    s = build_settings(options)
    if audit is not None:  # as the LoadGen applies it at the start of the run
        model, key = benchmark(options).settings_key(scenario)
        s.FromConfig(audit, model, key, 2)
    duration = s.min_duration_ms / 1000
    if scenario == "SingleStream":
        per_query, qps = s.single_stream_expected_latency_ns / 1e9, 0.0
    elif scenario == "MultiStream":
        per_query, qps = s.multi_stream_expected_latency_ns / 1e9, 0.0
    elif scenario == "Offline":
        per_query, qps = 0.0, s.offline_expected_qps
    else:
        per_query, qps = 0.0, s.server_target_qps
    if kind == "accuracy":
        samples = _dataset_size(config, needs)
        if scenario == "MultiStream":
            samples = math.ceil(samples / max(1, s.multi_stream_samples_per_query))
        expected = samples * per_query if per_query else samples / qps
        return Step(step_id, kind, scenario, audit, 0.0, samples, qps, expected, per_query)
    count = s.min_query_count
    expected = max(duration, count * per_query if per_query else count / qps)
    return Step(step_id, kind, scenario, audit, duration, count, qps, expected, per_query)


def _dataset_size(config: SubmitConfig, needs: Requirements) -> int:
    """The accuracy run's sample count: the synthetic set's, else the checker's data set size."""
    spec = config.synthetic or config.synthetic_llm
    if spec is not None:
        parts = spec.split(":")
        if len(parts) == 3 and parts[-1].isdigit():
            return int(parts[-1])
    return needs.dataset_size or 1


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def describe(step: Step) -> str:
    """One line of ``--plan``: the step, its settings and its expected length."""
    if not step.is_run:
        return f"{step.id:<28} {FINISH_TEXT[step.kind]}"
    if step.target_qps:
        rate = f"target {step.target_qps:g} QPS"
    else:
        rate = f"expected latency {step.latency_s * 1000:g} ms"
    if step.kind == "accuracy":
        unit = "queries" if step.scenario == "MultiStream" else "samples"
        settings = f"{step.min_query_count} {unit}, {rate}"
    else:
        settings = f"min {step.min_duration_s:g} s, min {step.min_query_count} queries, {rate}"
    return f"{step.id:<28} {format_duration(step.expected_s):>9}  {settings}"


FINISH_TEXT = {
    "system": "fill what the tool knows into the system description",
    "seal": "lon-submission seal: truncate the accuracy logs, record their hashes",
    "checker": "the official submission checker",
    "tarball": "pack the tree as mlperf_submission_<submitter>.tar.gz",
}
