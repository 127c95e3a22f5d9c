"""``lon-power``: lon-run under the MLCommons power workflow, on the LoadGen host.

``lon-power command`` prints the power client's command line to copy; ``lon-power run`` runs
that client and, with ``--submission-dir``, lays the result out in the tree; ``lon-power place``
lays out a session the client was run for by hand. Every failure is one line and places
nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from loadgen import config as loadgen_config
from loadgen import submission
from loadgen.cli import EXIT_BAD_INPUT
from qdl import ConfigError

from ._node_stats import NODE_STATS_FILE
from ._power import LOADGEN_SUBDIR, ClientPlan, PowerError, check_power_dev, run_client
from ._power_tree import place_power_session
from ._run import RunOptions, benchmark, build_settings, parse_options
from ._submission import SubmissionRequest, layout_for, network_record, user_conf_text

EXIT_OK, EXIT_FAILED = 0, 3
LON_RUN_EPILOG = "then: -- LON-RUN-ARGUMENTS (the workload's, without --output)"


def _lon_run_options(args: Sequence[str], logs_dir: str) -> RunOptions:
    """lon-run's own parsing of the workload's arguments, so a mistake shows before the lab."""
    return parse_options([*args, "--output", os.path.join(logs_dir, LOADGEN_SUBDIR)])


def _plan(ns: argparse.Namespace) -> ClientPlan:
    work = os.path.abspath(ns.work)
    return ClientPlan(
        power_dev=check_power_dev(os.path.abspath(ns.power_dev)),
        server=ns.server,
        port=ns.port,
        ntp=ns.ntp,
        logs_dir=os.path.join(work, "logs"),
        out_dir=os.path.join(work, "session"),
        lon_run_args=tuple(ns.lon_run),
        label=ns.label,
    )


def _node_reports(logs_dir: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The nodes and network lon-run recorded in its last (testing) run, for the skeletons."""
    try:
        with open(os.path.join(logs_dir, LOADGEN_SUBDIR, NODE_STATS_FILE), encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return [], {}
    nodes = list(doc.get("nodes", []))
    compression = str(doc.get("compression", {}).get("algorithm", "none"))
    return nodes, network_record(nodes, compression, int(doc.get("streams_per_node", 1)))


def _place(
    ns: argparse.Namespace, logs_dir: str, options: RunOptions, session: str, out: TextIO
) -> None:
    """Lay ``session`` out in ``--submission-dir`` with the user.conf lon-run ran with."""
    layout = layout_for(_request(ns, options), "PerformanceOnly")
    settings = build_settings(options, io.StringIO())
    changed = [item.partition("=")[0].strip() for item in options.sets]
    model, scenario = benchmark(options).settings_key(options.scenario)
    conf = user_conf_text(
        options.user_conf, loadgen_config.user_conf_lines(settings, changed, model, scenario)
    )
    nodes, network = _node_reports(logs_dir)
    written = place_power_session(
        layout,
        options.scenario,
        session,
        conf,
        nodes=nodes,
        network=network,
        command=shlex.join(["lon-power", *ns.argv]),
    )
    if ns.rehearsal:
        submission.mark_rehearsal(layout, options.scenario, options.loadgen)
    out.write(f"submission: {layout.scenario_dir(options.scenario)}/performance\n")
    for path in written:
        out.write(f"  wrote {path}\n")
    if ns.rehearsal:
        out.write(f"  marked {submission.REHEARSAL_MARK}: not to be filed (--rehearsal)\n")


def _request(ns: argparse.Namespace, options: RunOptions) -> SubmissionRequest:
    """What ``--submission-dir`` asks, with the LoadGen the workload runs (see ``_workload``)."""
    return SubmissionRequest(
        ns.submission_dir,
        ns.division,
        ns.submitter,
        ns.system,
        options.model,
        loadgen=options.loadgen,
        rehearsal=ns.rehearsal,
    )


def _workload(ns: argparse.Namespace) -> list[str]:
    """The lon-run arguments: a power run is made for a submission, so it uses the official
    LoadGen unless they choose one (as lon-run --submission-dir does)."""
    args = list(ns.lon_run)
    if not any(a == "--loadgen" or a.startswith("--loadgen=") for a in args):
        args += ["--loadgen", "official"]
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lon-power",
        description="lon-run as the workload of the MLCommons power client (power-dev's "
        "client.py), on the LoadGen host; the lon-run arguments follow '--'",
    )
    sub = p.add_subparsers(dest="verb", required=True)
    for verb, text in (
        ("command", "print the power client's command line"),
        ("run", "run the power client (ranging, then testing) and place the result"),
    ):
        v = sub.add_parser(verb, help=text, epilog=LON_RUN_EPILOG)
        v.add_argument("--power-dev", required=True, metavar="DIR", help="a power-dev checkout")
        v.add_argument(
            "--server", required=True, metavar="ADDR", help="the power server (director)"
        )
        v.add_argument("--port", type=int, default=4950, help="its port (default 4950)")
        v.add_argument("--ntp", required=True, metavar="ADDR", help="the NTP server both use")
        v.add_argument("--work", required=True, metavar="DIR", help="logs/ and session/ go here")
        v.add_argument("--label", default="", help="a label for the session's name")
        _tree_options(v)
    v = sub.add_parser(
        "place", help="lay out a session power-dev's client.py left", epilog=LON_RUN_EPILOG
    )
    v.add_argument("session", help="the session directory (power/, ranging/, run_1/)")
    v.add_argument("--logs", metavar="DIR", help="the client's -L directory (for node details)")
    _tree_options(v)
    return p


def _tree_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--submission-dir", metavar="ROOT", help="lay the result out in this tree")
    p.add_argument("--division", help="for --submission-dir")
    p.add_argument("--submitter", metavar="ORG", help="for --submission-dir")
    p.add_argument("--system", metavar="NAME", help="for --submission-dir")
    p.add_argument(
        "--rehearsal",
        action="store_true",
        help="--submission-dir with --loadgen ours in the lon-run arguments: a tree marked as "
        "a rehearsal, which lon-submission seal refuses",
    )


def run(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    argv = list(argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    ns = build_parser().parse_args(argv[:cut])
    ns.argv, ns.lon_run = argv, argv[cut + 1 :]
    ns.lon_run = _workload(ns)
    try:
        if ns.verb == "place":
            return _place_only(ns, out)
        plan = _plan(ns)
        options = _lon_run_options(ns.lon_run, plan.logs_dir)
        if ns.submission_dir:
            layout_for(_request(ns, options), "PerformanceOnly")
        if ns.verb == "command":
            out.write(shlex.join(plan.argv()) + "\n")
            return EXIT_OK
        if os.path.exists(plan.out_dir):
            raise PowerError(
                f"{plan.out_dir} holds an earlier session: move it away or give another --work"
            )
        os.makedirs(os.path.dirname(plan.out_dir), exist_ok=True)
        log = os.path.join(os.path.dirname(plan.out_dir), "power_client.log")
        session = run_client(plan, log)
        out.write(f"power run done: {session}\n")
        if ns.submission_dir:
            _place(ns, plan.logs_dir, options, session, out)
    except (PowerError, ConfigError) as exc:
        err.write(f"lon-power: error: {exc}\n")
        return EXIT_FAILED if isinstance(exc, PowerError) else EXIT_BAD_INPUT
    except OSError as exc:
        err.write(f"lon-power: error: {exc.filename}: {exc.strerror}\n")
        return EXIT_FAILED
    return EXIT_OK


def _place_only(ns: argparse.Namespace, out: TextIO) -> int:
    """``lon-power place``: the tree from a session the client was run for by hand."""
    if not ns.submission_dir:
        raise ConfigError(
            "place needs --submission-dir ROOT (and --division, --submitter, --system)"
        )
    logs = ns.logs or os.path.join(os.path.dirname(os.path.abspath(ns.session)), "logs")
    options = _lon_run_options(ns.lon_run, logs)
    _place(ns, logs, options, ns.session, out)
    return EXIT_OK


def main() -> int:
    return run(sys.argv[1:])
