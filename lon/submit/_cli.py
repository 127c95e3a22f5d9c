"""``lon-submit``: plan, run, resume, verify, seal, check and pack one benchmark's submission.

Exit status: 0 every step done, every run VALID and every compliance test passed, the checker
satisfied (under ``--quick``: its errors all the expected short-run ones); 1 the plan finished
but the tree is not one to file (listed); 2 bad input, before anything ran; 3 a step failed
(named, with its error): run the same command again to resume from it; 130 interrupted
(Ctrl-C), likewise.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from loadgen import benchmark_names
from loadgen.cli import EXIT_BAD_INPUT, Parser
from qdl import ConfigError, make_binding

from ._checker_table import load_model_config, requirements
from ._config import LOADGENS, SubmitConfig, build, read_file
from ._finish import fill_system, run_checker, seal, tarball, unfilled_lines
from ._plan import Step, build_plan, describe, format_duration
from ._state import FINISHED, Outcome, State
from ._steps import in_place, run_step

PROG = "lon-submit"
EXIT_OK, EXIT_NOT_FILABLE, EXIT_STEP_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130
GOOD = ("VALID", "PASS", "done")


def build_parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="One benchmark's submission on one system: every required run, the "
        "compliance tests, verification, sealing, the official checker and the tarball. "
        "Resumable: run it again after an interruption.",
    )
    p.add_argument("--config", metavar="FILE", help="a TOML file of the keys below (flags win)")
    p.add_argument("--model", help="the benchmark, as the checker names it (llama3.1-8b)")
    p.add_argument("--nodes", metavar="HOST:PORT[,...]")
    p.add_argument("--submitter", metavar="ORG")
    p.add_argument("--system", metavar="NAME", help="the system description id")
    p.add_argument("--division", help="network (default), closed or open")
    p.add_argument("--system-type", help="datacenter (default), edge or datacenter,edge")
    p.add_argument("--scenarios", help="comma list (default: all the checker requires or allows)")
    p.add_argument("--user-conf", metavar="FILE")
    p.add_argument(
        "--output", metavar="DIR", help="runs, state, tree and tarball (default lon-submit)"
    )
    p.add_argument(
        "--inference",
        metavar="DIR",
        help="a clone of mlcommons/inference (default: $MLPERF_INFERENCE_DIR)",
    )
    p.add_argument("--checker-version", dest="version", help="the checker's version (default v6.1)")
    p.add_argument(
        "--loadgen", choices=LOADGENS, help="official (default), or ours with --rehearsal"
    )
    p.add_argument(
        "--rehearsal",
        action="store_const",
        const=True,
        help="allow --loadgen ours; the tree is marked and never sealed or packed",
    )
    p.add_argument(
        "--quick",
        action="store_const",
        const=True,
        help="runs of about a second, to rehearse the flow; the checker's short-run "
        "errors are then expected",
    )
    p.add_argument("--dataset", metavar="FILE")
    p.add_argument("--synthetic", metavar="SHAPE:DTYPE:COUNT")
    p.add_argument("--synthetic-llm", metavar="IN:OUT[:COUNT]")
    p.add_argument("--plan", action="store_true", help="print the plan and its length; run nothing")
    p.add_argument(
        "--redo",
        action="append",
        default=[],
        metavar="STEP",
        help="run STEP again (e.g. Offline/accuracy) even if it is done; repeatable",
    )
    return p


FLAG_KEYS = (
    "model", "nodes", "submitter", "system", "division", "system_type", "scenarios", "user_conf",
    "output", "inference", "version", "loadgen", "rehearsal", "quick", "dataset", "synthetic",
    "synthetic_llm",
)  # fmt: skip


def load(args: argparse.Namespace) -> tuple[SubmitConfig, list[Step]]:
    """The checked config and its plan; ConfigError for anything wrong."""
    values, where = read_file(args.config) if args.config else ({}, {})
    config = build(values, where, {k: getattr(args, k) for k in FLAG_KEYS})
    table = load_model_config(config.inference, config.version)
    benchmark = benchmark_names.result_name(benchmark_names.resolve(config.model, config.division))
    needs = requirements(table, benchmark, config.system_type, config.version)
    return config, build_plan(config, needs)


def print_plan(steps: Sequence[Step], out: TextIO) -> None:
    runs = [s for s in steps if s.is_run]
    total = sum(s.expected_s for s in runs)
    out.write(f"{'step':<28} {'expected':>9}  settings\n")
    for step in steps:
        out.write(describe(step) + "\n")
    out.write(
        f"{len(runs)} runs, {format_duration(total)} of runs ({total:.0f} s) by the settings' "
        "minimums, plus each run's start-up\n"
    )


def main(
    argv: Sequence[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> int:
    args = build_parser().parse_args(argv)
    try:
        config, steps = load(args)
        if not args.plan and not config.nodes:
            raise ConfigError('no nodes: set nodes = "HOST:PORT,..." or --nodes')
        unknown = [r for r in args.redo if r not in {s.id for s in steps}]
        if unknown:
            raise ConfigError(
                f"--redo {unknown[0]}: no such step; the steps are "
                + ", ".join(s.id for s in steps if s.is_run)
            )
        if config.loadgen == "official" and not args.plan:
            _official_installed()
        state = State(config.output)
    except (ConfigError, OSError) as exc:
        err.write(f"{PROG}: error: {exc}\n")
        return EXIT_BAD_INPUT
    if args.plan:
        print_plan(steps, out)
        return EXIT_OK
    return execute(config, steps, state, set(args.redo), out)


def _official_installed() -> None:
    """ConfigError, saying how to install it, when the official LoadGen is not installed."""
    make_binding("official")


def _skip(config: SubmitConfig, step: Step, state: State, redo: set[str]) -> str | None:
    """Why the step need not run again, or None."""
    if step.id in redo:
        return None
    done = state.steps.get(step.id)
    if done is None or done.outcome not in FINISHED or not in_place(config, step):
        return None
    if done.outcome in GOOD or config.quick:
        return f"already {done.outcome}"
    return None  # an INVALID run or a FAILed test is tried again


def execute(
    config: SubmitConfig,
    steps: Sequence[Step],
    state: State,
    redo: set[str],
    out: TextIO,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    runs = [s for s in steps if s.is_run]
    for number, step in enumerate(runs, 1):
        left = sum(s.expected_s for s in runs[number - 1 :])
        why = _skip(config, step, state, redo)
        head = f"[{number}/{len(runs)}] {step.id}"
        if why is not None:
            out.write(f"{head}: skipped, {why} ({state.steps[step.id].logs})\n")
            continue
        out.write(
            f"{head}: about {format_duration(step.expected_s)}; "
            f"the plan has about {format_duration(left)} of runs left\n"
        )
        out.flush()
        started = clock()
        try:
            outcome = run_step(config, step)
        except KeyboardInterrupt:
            outcome = Outcome("interrupted")
        if outcome.outcome == "interrupted":  # nothing recorded: the step runs again on resume
            out.write(
                f"{PROG}: interrupted during {step.id}; run the same command again to resume\n"
            )
            return EXIT_INTERRUPTED
        state.record(step.id, outcome)
        out.write(f"{head}: {outcome.outcome} in {format_duration(clock() - started)}\n")
        out.flush()
        if outcome.outcome == "failed":
            out.write(
                f"{PROG}: {step.id} failed: {outcome.detail}\n"
                f"{PROG}: fix it and run the same command again: done steps are skipped\n"
            )
            return EXIT_STEP_FAILED
    return finish(config, steps, state, out)


def finish(config: SubmitConfig, steps: Sequence[Step], state: State, out: TextIO) -> int:
    state.record("system", fill_system(config))
    state.record("seal", seal(config))
    accuracy_missing = any(
        "accuracy.txt still needed" in o.detail
        for k, o in state.steps.items()
        if k.endswith("/accuracy")
    )
    verdict = run_checker(config, accuracy_missing)
    state.record(
        "checker",
        Outcome(
            "PASS" if not verdict.unexpected and verdict.returncode == 0 else
            ("expected errors only" if not verdict.unexpected else "FAIL"),
            f"{len(verdict.unexpected)} unexpected, {len(verdict.expected)} expected error(s)",
            verdict.log,
        ),
    )  # fmt: skip
    state.record("tarball", tarball(config))
    fill_me = unfilled_lines(config)
    _table(steps, state, out)
    for line in verdict.unexpected:
        out.write(f"checker error: {line}\n")
    for why, line in sorted(set(verdict.expected), key=lambda e: (e[0] != "a short run", e)):
        out.write(f"checker error, expected ({why}): {line}\n")
    for line in fill_me:
        out.write(f"still FILL ME: {line}\n")
    if config.rehearsal:
        out.write(f"{PROG}: a rehearsal: the tree is marked, not sealed, not packed\n")
    bad_runs = [k for k, o in state.steps.items() if o.outcome in ("INVALID", "FAIL", "failed")]
    filable = not verdict.unexpected and (config.quick or (not bad_runs and not fill_me))
    out.write(
        f"{PROG}: {'done' if filable else 'not ready to file'}: tree {config.tree}, "
        f"checker log {verdict.log}\n"
    )
    return EXIT_OK if filable else EXIT_NOT_FILABLE


def _table(steps: Sequence[Step], state: State, out: TextIO) -> None:
    out.write(f"\n{'step':<24} {'outcome':<22} {'metric':<40} logs\n")
    for step in steps:
        o = state.steps.get(step.id, Outcome("not run"))
        note = f" ({o.detail})" if o.detail else ""
        out.write(f"{step.id:<24} {o.outcome:<22} {o.metric:<40} {o.logs}{note}\n")
    out.write("\n")


if __name__ == "__main__":
    sys.exit(main())
