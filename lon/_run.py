"""``lon-run``: run a LoadGen benchmark against SUT nodes through the QDL.

``main`` only parses arguments; ``run`` does the work and turns the outcome into an exit status
a CI can gate on (``EXIT_STATUS``), with every error as one line on stderr.

An ``audit.config`` in the working directory is applied, as the official LoadGen does, unless
``--audit-config`` names another file (or ``none``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

import loadgen
from loadgen import benchmark_names, logs
from loadgen import config as loadgen_config
from loadgen.cli import EXIT_BAD_INPUT, Parser
from loadgen.logs import FindPeakOutcome, LoggedErrors, mark_run_failed
from loadgen.submission import DIVISIONS
from qdl import (
    BALANCE_POLICIES,
    COMPRESSIONS,
    DEFAULT_TIMEOUTS,
    FRAMINGS,
    LOADGENS,
    NODE_LOSS_POLICIES,
    TOKEN_FILE_READERS,
    WIRES,
    CompressionConfig,
    ConfigError,
    DispatchConfig,
    EncodingQSL,
    NpyDirectoryQSL,
    QDLError,
    QDLStatistics,
    QueryDispatchLibrary,
    RunReport,
    SyntheticLLMSpec,
    SyntheticQSL,
    SyntheticSpec,
    Timeouts,
    TlsConfig,
    TokenQSL,
    format_table,
    make_binding,
    read_token_file,
    synthetic_prompts,
)

from . import _issue_delay as issue_delay
from . import _progress as progress
from . import _report as report_page
from . import _result_json as result_json
from ._discovery import node_addresses
from ._node_loss import default_sample_timeout, loss_record, record_losses
from ._node_stats import NODE_STATS_FILE
from ._submission import SubmissionRequest, layout_for, network_record, place, user_conf_text
from ._token_latencies import recap_of as token_recap_of
from ._versions import version_text

SCENARIOS = ("Offline", "Server", "SingleStream", "MultiStream", "Interactive")
MODES = ("PerformanceOnly", "AccuracyOnly", "SubmissionRun", "FindPeakPerformance")
TOKEN_FILE_EXTENSIONS = tuple(TOKEN_FILE_READERS)
DEFAULT_AUDIT_CONFIG = "audit.config"
NO_AUDIT_CONFIG = "none"

EXIT_OK, EXIT_INVALID, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 3, 130
EXIT_STATUS = (
    (EXIT_OK, "the run finished and is VALID (AccuracyOnly: finished; FindPeak: found a peak)"),
    (EXIT_INVALID, "the run finished and is INVALID (or FindPeakPerformance found no peak)"),
    (EXIT_BAD_INPUT, "bad input: a setting, file or node found wrong before the run started"),
    (EXIT_FAILED, "the run failed: a node died or stalled, a backend error, an abort"),
    (EXIT_INTERRUPTED, "interrupted (SIGINT)"),
)


@dataclass(frozen=True)
class RunOptions:
    """Everything ``lon-run`` takes, as values (see ``--help`` for each)."""

    nodes: tuple[str, ...]  # HOST:PORT or dns:NAME:PORT entries (see lon._discovery)
    scenario: str
    output: str
    nodes_file: str | None = None
    mode: str = "PerformanceOnly"
    model: str | None = None
    user_conf: str | None = None
    sets: tuple[str, ...] = ()
    compression: str = "none"
    zstd_level: int | None = None  # None: not given (zstd's default level)
    balance: str = "least-outstanding"
    streams_per_node: int = 1
    framing: str = "opportunistic"
    wire: str = "auto"
    dispatch_workers: int = 0  # processes doing the gRPC work (0: in lon-run's own)
    dataset: str | None = None
    dataset_column: str = "tok_input"
    synthetic: str | None = None
    synthetic_llm: str | None = None  # IN:OUT:COUNT token prompts (see qdl._llm_dataset)
    performance_count: int | None = None
    loadgen: str = "ours"
    rehearsal: bool = False  # --submission-dir under our LoadGen: a tree marked as a rehearsal
    audit_config: str | None = None
    submission_dir: str | None = None
    system: str | None = None
    division: str | None = None
    submitter: str | None = None
    replace_valid: bool = False
    quiet: bool = False  # no live progress
    command: tuple[str, ...] = ()  # the lon-run arguments, recorded in the submission README
    timeouts: Timeouts = field(default_factory=Timeouts)
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_server_name: str | None = None
    sample_timeout: float | None = None  # None: derived from the settings (_node_loss)
    on_node_loss: str = "fail"


@dataclass
class BenchmarkResult:
    """What one benchmark produced."""

    report: RunReport
    node_stats_path: str
    node_reports: list[dict[str, Any]]
    statistics: QDLStatistics
    find_peak: FindPeakOutcome | None = None
    logged_errors: LoggedErrors | None = None
    submission_run_dir: str | None = None
    behind_schedule: str | None = None  # a warning when the LoadGen fell behind its schedule


class BadInput(Exception):
    """A user mistake found before the run started; exit code 2."""


def build_settings(options: RunOptions, err: TextIO | None = None) -> loadgen.TestSettings:
    """mlperf.conf, then --user-conf, then --mode, then every --set, in that order.

    Every value is checked before anything starts, with the audit.config the run will apply
    (``loadgen.config.check_settings``); keys nothing reads are warned about on ``err``.
    """
    if options.scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {options.scenario!r}; expected {', '.join(SCENARIOS)}")
    if options.mode not in MODES:
        raise ConfigError(f"unknown mode {options.mode!r}; expected {', '.join(MODES)}")
    if options.mode == "FindPeakPerformance" and loadgen_scenario(options.scenario) != "Server":
        raise ConfigError(
            f"--mode FindPeakPerformance works only with --scenario Server, not {options.scenario}"
        )
    if options.zstd_level is not None and options.compression != "zstd":
        raise ConfigError(
            f"--zstd-level {options.zstd_level} needs --compression zstd, "
            f"not --compression {options.compression}"
        )
    try:
        model, scenario = benchmark(options).settings_key(options.scenario)
    except benchmark_names.BenchmarkNameError as exc:
        raise ConfigError(str(exc)) from None
    check_compression_rule(options, model, scenario)
    sets = []
    for item in options.sets:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ConfigError(f"--set {item!r}: expected FIELD=VALUE, e.g. min_duration_ms=10000")
        sets.append((name.strip(), value))
        if name.strip() in ("scenario", "mode"):
            _check_no_conflict(options, name.strip(), value)
    checked = loadgen_config.check_settings(
        model,
        scenario,
        user_conf=options.user_conf,
        mode=loadgen.TestMode[options.mode],
        sets=sets,
        audit_config=_audit_config_path(options) or None,
    )
    for warning in [*checked.warnings, *_unread_user_conf_lines(options, model, scenario)]:
        (err or sys.stderr).write(f"lon-run: warning: {warning}\n")
    return checked.settings


def _unread_user_conf_lines(options: RunOptions, model: str, scenario: str) -> list[str]:
    """user.conf lines under another name of the benchmark (llama2-70b-99.Server...)."""
    if options.user_conf is None:
        return []
    with open(options.user_conf, encoding="utf-8", errors="replace") as f:
        text = f.read()
    return benchmark_names.unread_model_lines(
        text, options.user_conf, benchmark(options), model, scenario
    )


def benchmark(options: RunOptions) -> benchmark_names.Benchmark:
    """``--model`` resolved (see ``loadgen.benchmark_names``); ConfigError for no benchmark."""
    return benchmark_names.resolve(options.model, options.division)


def loadgen_scenario(scenario: str) -> str:
    """The LoadGen scenario that runs ``scenario`` (Interactive is Server with its settings)."""
    return "Server" if scenario == benchmark_names.INTERACTIVE else scenario


def check_compression_rule(options: RunOptions, model: str, scenario: str) -> None:
    """Refuse compressed LLM samples in the network division (see ``LLM_COMPRESSION_RULE``)."""
    if options.division != "network" or options.compression == "none":
        return
    probe = loadgen_config.load_settings(model, scenario)
    if probe.use_token_latencies:
        raise ConfigError(
            f"--compression {options.compression}: {LLM_COMPRESSION_RULE} "
            f"(--model {options.model} is an LLM benchmark); use --compression none"
        )


LLM_COMPRESSION_RULE = (
    "the MLPerf Inference rules allow no compression for LLM benchmarks in the network "
    "division (inference_rules.adoc, Network Division, Benchmarks and QSL Preprocessing)"
)


def _check_no_conflict(options: RunOptions, name: str, value: str) -> None:
    """``--set scenario=``/``mode=`` may only repeat --scenario/--mode, which lon-run uses too."""
    scratch = loadgen.TestSettings()
    loadgen_config.set_field(scratch, name, value)
    given = loadgen_scenario(options.scenario) if name == "scenario" else options.mode
    if getattr(scratch, name).name != given:
        raise ConfigError(
            f"--set {name}={value.strip()} conflicts with --{name} {given}; "
            f"choose the {name} with --{name} only"
        )


def _audit_config_path(options: RunOptions) -> str:
    """The audit.config the run applies ("" for none); a named file must exist."""
    path = options.audit_config
    if path is None:
        return DEFAULT_AUDIT_CONFIG if os.path.isfile(DEFAULT_AUDIT_CONFIG) else ""
    if path == NO_AUDIT_CONFIG:
        return ""
    if not os.path.isfile(path):
        raise ConfigError(f"--audit-config {path}: no such file")
    return path


def resolve_audit_config(options: RunOptions, out: TextIO) -> str:
    """The audit.config to apply ("" for none); a named file must exist and parse."""
    path = _audit_config_path(options)
    if not path:
        return ""
    problems = loadgen_config.config_errors(path)
    if problems:
        raise ConfigError(str(problems[0]))
    out.write(f"lon-run: applying audit config {os.path.abspath(path)} (a compliance run)\n")
    return path


def _compression(options: RunOptions) -> CompressionConfig:
    if options.zstd_level is None:
        return CompressionConfig(options.compression)
    return CompressionConfig(options.compression, options.zstd_level)


def build_qsl(options: RunOptions) -> EncodingQSL:
    compression = _compression(options)
    given = [x for x in (options.dataset, options.synthetic, options.synthetic_llm) if x]
    if len(given) != 1:
        raise ConfigError(
            "give exactly one of --dataset PATH, --synthetic SHAPE:DTYPE:COUNT and "
            "--synthetic-llm IN:OUT:COUNT"
        )
    if options.synthetic_llm is not None:
        spec = synthetic_llm_spec(options)
        return _token_qsl(options, synthetic_prompts(spec), f"synthetic-llm {spec}")
    if options.dataset is not None and _is_token_file(options.dataset):
        prompts = read_token_file(options.dataset, options.dataset_column)
        return _token_qsl(options, prompts, options.dataset)
    if options.dataset is not None:
        return NpyDirectoryQSL(
            options.dataset,
            performance_count=options.performance_count,
            compression=compression,
        )
    assert options.synthetic is not None
    return SyntheticQSL(
        SyntheticSpec.parse(options.synthetic),
        performance_count=options.performance_count,
        compression=compression,
    )


def _is_token_file(path: str) -> bool:
    """A file (or a name with a token-file extension) is an LLM data set; else a .npy dir."""
    return os.path.isfile(path) or os.path.splitext(path)[1].lower() in TOKEN_FILE_EXTENSIONS


def _conf_sample_count(options: RunOptions) -> int:
    """The --model's performance_sample_count_override in mlperf.conf (0: none)."""
    model, scenario = benchmark(options).settings_key(options.scenario)
    return int(loadgen_config.load_settings(model, scenario).performance_sample_count_override)


def synthetic_llm_spec(options: RunOptions) -> SyntheticLLMSpec:
    """--synthetic-llm; without COUNT, the --model's sample count in mlperf.conf."""
    assert options.synthetic_llm is not None
    spec = SyntheticLLMSpec.parse(options.synthetic_llm)
    if spec.count:
        return spec
    count = _conf_sample_count(options)
    if not count:
        raise ConfigError(
            f"--synthetic-llm {options.synthetic_llm}: give IN:OUT:COUNT; mlperf.conf has no "
            f"sample count for --model {options.model or '(none)'}"
        )
    return spec.with_count(count)


def _token_qsl(options: RunOptions, prompts: list[Any], label: str) -> TokenQSL:
    """Token prompts; the performance count defaults to the --model's
    performance_sample_count_override in mlperf.conf (at most the prompts there are)."""
    count = options.performance_count
    if count is None:
        override = _conf_sample_count(options)
        count = min(override, len(prompts)) if override else None
    return TokenQSL(prompts, label, performance_count=count, compression=_compression(options))


def _tls(options: RunOptions) -> TlsConfig | None:
    """TLS to the nodes when --tls-ca is given; the other TLS flags need it."""
    if options.tls_ca is None:
        given = [
            flag
            for flag, value in (
                ("--tls-cert", options.tls_cert),
                ("--tls-key", options.tls_key),
                ("--tls-server-name", options.tls_server_name),
            )
            if value is not None
        ]
        if given:
            raise ConfigError(f"{given[0]} needs --tls-ca (the CA the nodes' certificates use)")
        return None
    return TlsConfig(options.tls_ca, options.tls_cert, options.tls_key, options.tls_server_name)


def run_benchmark(options: RunOptions, out: TextIO = sys.stdout) -> BenchmarkResult:
    """Run one benchmark; print its summary and the node table to ``out``.

    Raises BadInput for anything wrong before the run starts (including unreachable nodes);
    a failure during the run is in ``result.report.aborted``.
    """
    try:
        settings = build_settings(options)
        if options.submission_dir is not None:
            layout_for(_submission_request(options), options.mode)
        audit_config = resolve_audit_config(options, out)
        nodes = node_addresses(",".join(options.nodes), options.nodes_file)
        qsl = build_qsl(options)
        binding = make_binding(options.loadgen)
        sample_timeout = options.sample_timeout
        if sample_timeout is None:
            sample_timeout = default_sample_timeout(loadgen_scenario(options.scenario), settings)
        config = DispatchConfig(
            balance=options.balance,
            streams_per_node=options.streams_per_node,
            timeouts=dataclasses.replace(options.timeouts, sample=sample_timeout or None),
            framing=options.framing,
            wire=options.wire,
            tls=_tls(options),
            on_node_loss=options.on_node_loss,
            dispatch_workers=options.dispatch_workers,
        )
        qdl = QueryDispatchLibrary.over_grpc(nodes, qsl, binding, config)
        _make_output_dir(options.output)
        qdl.connect()
    except (QDLError, loadgen_config.ConfigError, ImportError) as exc:
        raise BadInput(str(exc)) from exc
    log_settings = loadgen.LogSettings()
    log_settings.log_output.outdir = options.output
    close = True
    live = progress.Progress(
        qdl,
        progress.target_of(settings, loadgen_scenario(options.scenario)),
        out,
        quiet=options.quiet,
        detail_path=_detail_path(options),
    )
    try:
        with live:
            report = binding.run(qdl, qsl, settings, log_settings, audit_config)
    except ValueError as exc:  # the LoadGen refusing the settings
        raise BadInput(str(exc)) from exc
    except KeyboardInterrupt:
        # The official LoadGen's thread goes on issuing into the QDL, and closing the QDL
        # under it can crash the process; lon-run exits at once instead (see run()).
        close = options.loadgen == "ours"
        raise
    finally:
        if close:
            qdl.close()
    reports = qdl.node_reports()
    stats_path = os.path.join(options.output, NODE_STATS_FILE)
    delay = issue_delay.summarize(report.issue_delay_ns)
    _write_node_stats(stats_path, options, report, qdl, reports, delay)
    _print_outcome(out, report, reports, options.output)
    _print_workers(out, qdl)
    record_losses(out, report.detail_path, qdl)
    if report.finished:
        _write_result_and_report(options.output, out)
    result = BenchmarkResult(report, stats_path, reports, qdl.statistics())
    if delay is not None:
        out.write(issue_delay.describe(delay) + "\n")
        out.flush()
        result.behind_schedule = issue_delay.behind_schedule(
            delay, settings.server_target_latency_ns
        )
        if result.behind_schedule is not None and not options.dispatch_workers:
            result.behind_schedule += (
                " (--dispatch-workers 1 moves the gRPC work to a process of its own)"
            )
    elif (
        loadgen_scenario(options.scenario) == "Server"
        and report.loadgen == "official"
        and report.finished
    ):
        out.write("issue delay: not measured (the official LoadGen does not expose its schedule)\n")
        out.flush()
    if report.finished:
        detail = _read_detail_log(report.detail_path)
        result.logged_errors = detail.logged_errors() if detail else LoggedErrors()
        if options.mode == "FindPeakPerformance":
            result.find_peak = detail.find_peak() if detail else FindPeakOutcome()
            model, scenario = benchmark(options).settings_key(options.scenario)
            _print_find_peak(out, result.find_peak, f"{model}.{scenario}")
    if options.submission_dir is not None and report.aborted is None:
        result.submission_run_dir = _place_in_submission(options, settings, report, reports, out)
    return result


def _detail_path(options: RunOptions) -> str | None:
    """The detail log a FindPeakPerformance search's progress follows (None otherwise)."""
    if options.mode != "FindPeakPerformance":
        return None
    return os.path.join(options.output, "mlperf_log_detail.txt")


def _read_detail_log(path: str) -> logs.DetailLog | None:
    """The finished run's detail log; None if it cannot be read (the summary still judges the
    run, so an unreadable detail log costs only the warnings drawn from it)."""
    try:
        return logs.read_detail_log(path)
    except logs.LogError:
        return None


def _print_find_peak(out: TextIO, outcome: FindPeakOutcome, conf_prefix: str) -> None:
    if outcome.peak_qps is not None:
        out.write(
            f"FindPeakPerformance: peak server_target_qps = {outcome.peak_qps:f} "
            f"after {len(outcome.probes)} probes (each is in the detail log)\n"
            f"for user.conf:\n{conf_prefix}.target_qps = {outcome.peak_qps:f}\n"
        )
        out.flush()


def _submission_request(options: RunOptions) -> SubmissionRequest:
    assert options.submission_dir is not None
    return SubmissionRequest(
        options.submission_dir,
        options.division,
        options.submitter,
        options.system,
        options.model,
        options.replace_valid,
        options.loadgen,
        options.rehearsal,
    )


def _place_in_submission(
    options: RunOptions,
    settings: loadgen.TestSettings,
    report: RunReport,
    reports: list[dict[str, Any]],
    out: TextIO,
) -> str | None:
    """Lay the run out in the submission tree (see ``lon._submission``); None if refused."""
    layout = layout_for(_submission_request(options), options.mode)
    changed = [item.partition("=")[0].strip() for item in options.sets]
    model, scenario = benchmark(options).settings_key(options.scenario)
    conf_lines = loadgen_config.user_conf_lines(settings, changed, model, scenario)
    try:
        return place(
            layout,
            scenario=options.scenario,
            mode=options.mode,
            output=options.output,
            user_conf=user_conf_text(options.user_conf, conf_lines),
            validity=report.validity,
            replace_valid=options.replace_valid,
            nodes=reports,
            network=network_record(reports, options.compression, options.streams_per_node),
            command=shlex.join(["lon-run", *options.command]),
            scorable=options.synthetic is not None,
            out=out,
            rehearsal_loadgen=options.loadgen if options.rehearsal else None,
        )
    except (ConfigError, OSError) as exc:
        raise BadInput(str(exc)) from exc


def _make_output_dir(path: str) -> None:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--output {path}: cannot create directory ({exc.strerror})") from exc


def _write_node_stats(
    path: str,
    options: RunOptions,
    report: RunReport,
    qdl: QueryDispatchLibrary,
    reports: list[dict[str, Any]],
    delay: dict[str, float | int] | None,
) -> None:
    stats = qdl.statistics()
    doc = {
        "sut_name": qdl.name(),
        "loadgen": report.loadgen,
        "scenario": options.scenario,
        "mode": options.mode,
        "balance": options.balance,
        "streams_per_node": options.streams_per_node,
        "framing": options.framing,
        "compression": asdict(_compression(options)),
        "dataset": _dataset_record(options),
        "validity": report.validity,
        "failure": report.aborted,
        "samples_issued": stats.samples_issued,
        "samples_completed": stats.samples_completed,
        "peak_outstanding": stats.peak_outstanding,
        "issue_delay_ms": delay,
        "flush_errors": qdl.flush_errors,  # harmless (Flush is a hint), kept for the record
        "on_node_loss": options.on_node_loss,
        "dispatch_workers": _workers_record(qdl),
        **loss_record(qdl),
        "nodes": reports,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")


def _workers_record(qdl: QueryDispatchLibrary) -> dict[str, Any] | None:
    """How many dispatch workers there were and how long responses waited in their rings."""
    if qdl.workers is None:
        return None
    delays = qdl.workers.ring_delays()
    return {
        "workers": qdl.workers.workers,
        "ring_delay_us": {
            "p50": round(delays.p50 / 1e3, 1),
            "p99": round(delays.p99 / 1e3, 1),
            "responses": delays.count,
        },
    }


def _print_workers(out: TextIO, qdl: QueryDispatchLibrary) -> None:
    record = _workers_record(qdl)
    if record is None:
        return
    delay = record["ring_delay_us"]
    out.write(
        f"dispatch workers: {record['workers']}; responses waited in their rings "
        f"p50 {delay['p50']:g} us, p99 {delay['p99']:g} us ({delay['responses']} responses)\n"
    )
    out.flush()


def _write_result_and_report(output: str, out: TextIO) -> None:
    """result.json and report.html beside the logs; a problem with either is a warning (the
    logs, which judge the run, are written already)."""
    written = []
    for name, writer in (("result.json", result_json.write), ("report.html", report_page.write)):
        try:
            written.append(writer(output))
            if name == "result.json" and (line := token_recap_of(written[-1])):
                out.write(line + "\n")
        except (logs.LogError, OSError, ImportError, ValueError) as exc:
            sys.stderr.write(f"lon-run: warning: {name} not written: {exc}\n")
    if written:
        out.write(f"results: {'  '.join(written)}\n")
        out.flush()


def _dataset_record(options: RunOptions) -> dict[str, Any]:
    """What lon-accuracy needs to regenerate the samples of this run."""
    if options.synthetic is not None:
        return {"synthetic": options.synthetic, "synthetic_seed": 0}
    if options.synthetic_llm is not None:
        spec = synthetic_llm_spec(options)
        return {
            "synthetic_llm": str(spec),
            "synthetic_seed": 0,
            "prompt_tokens_median": spec.input_tokens,
            "output_tokens_advisory": spec.output_tokens,  # the node decides output lengths
        }
    path = os.path.abspath(options.dataset or "")
    if _is_token_file(options.dataset or ""):
        return {"dataset_file": path, "dataset_column": options.dataset_column}
    return {"dataset_dir": path}


def _print_outcome(
    out: TextIO, report: RunReport, reports: list[dict[str, Any]], output: str
) -> None:
    if report.finished and os.path.isfile(report.summary_path):
        with open(report.summary_path, encoding="utf-8", errors="replace") as f:
            out.write(f.read())
    out.write("\n" + format_table(reports) + "\n")
    out.write(f"logs: {output}  (node stats: {os.path.join(output, NODE_STATS_FILE)})\n")
    out.flush()


def run(options: RunOptions, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """``lon-run`` minus the argument parsing: returns the exit status (``EXIT_STATUS``)."""
    try:
        result = run_benchmark(options, out)
    except BadInput as exc:
        err.write(f"lon-run: error: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if options.loadgen != "ours":  # ours wrote its logs as an interrupted run's already
            _mark_failed(options.output, "Test interrupted (SIGINT) before it finished")
        err.write("lon-run: interrupted; the logs say INVALID (interrupted)\n")
        err.flush()
        out.flush()
        os._exit(EXIT_INTERRUPTED)  # a LoadGen thread may still run; do not wait for it
    report = result.report
    if report.aborted is not None:
        err.write(f"lon-run: error: run failed: {report.aborted}\n")
        err.flush()
        if not report.finished:
            # The official LoadGen cannot be stopped and would keep this process alive until its
            # duration is up; the failure is reported, so leave without waiting for it.
            out.flush()
            os._exit(EXIT_FAILED)
        return EXIT_FAILED
    errors = result.logged_errors
    if errors and result.find_peak and result.find_peak.lower_bound_error in errors.messages:
        errors.messages.remove(result.find_peak.lower_bound_error)  # reported below instead
        errors.count -= 1
    if errors and errors.count:
        _warn_logged_errors(err, errors)
    if result.behind_schedule is not None:
        err.write(f"lon-run: warning: {result.behind_schedule}\n")
        err.flush()
    if result.find_peak is not None and result.find_peak.peak_qps is None:
        why = result.find_peak.lower_bound_error or "no peak was found (see the detail log)"
        err.write(
            f"lon-run: error: {why}; lower server_target_qps (--set server_target_qps=...) "
            "or raise the latency bound\n"
        )
        return EXIT_INVALID
    if result.find_peak is not None:
        return EXIT_OK  # a peak was found: what the search is for (probes judge only latency)
    if report.validity == "INVALID":
        err.write(f"lon-run: the run is INVALID (see {report.summary_path})\n")
        err.flush()
        return EXIT_INVALID
    return EXIT_OK


def _mark_failed(output: str, reason: str) -> None:
    """Make the logs in ``output`` say the run did not finish (a LoadGen we cannot tell)."""
    summary = os.path.join(output, "mlperf_log_summary.txt")
    if os.path.isdir(output):
        try:
            mark_run_failed(summary, os.path.join(output, "mlperf_log_detail.txt"), reason)
        except OSError:
            pass  # the exit status and stderr still say it


TOKEN_HINT = (
    "use_token_latencies needs a backend that sends a first token ahead of each answer and "
    "n_tokens with it (e.g. sut-server --backend synthetic-llm)"
)


def _warn_logged_errors(err: TextIO, errors: LoggedErrors) -> None:
    """The LoadGen's own errors, which the official one writes only to the detail log."""
    shown = "; ".join(errors.messages[:3])
    more = f" (+{len(errors.messages) - 3} more kinds)" if len(errors.messages) > 3 else ""
    err.write(f"lon-run: warning: the LoadGen logged {errors.count} error(s): {shown}{more}\n")
    if any("token" in m for m in errors.messages):
        err.write(f"lon-run: hint: {TOKEN_HINT}\n")
    err.flush()


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="lon-run",
        description="Run a LoadGen benchmark against SUT nodes over the network (QDL).",
        epilog="exit status:\n"
        + "\n".join(f"  {code:<4} {meaning}" for code, meaning in EXIT_STATUS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--nodes",
        help="HOST:PORT[,HOST:PORT...] of the SUT nodes; dns:NAME:PORT stands for every "
        "address NAME resolves to (e.g. a Kubernetes headless Service)",
    )
    p.add_argument(
        "--nodes-file", metavar="FILE", help="one HOST:PORT (or dns:NAME:PORT) per line, # comments"
    )
    p.add_argument(
        "--scenario",
        required=True,
        choices=SCENARIOS,
        help="Interactive runs the Server scenario with the --model's -interactive settings "
        "of mlperf.conf (LLM benchmarks that have them)",
    )
    p.add_argument("--mode", default="PerformanceOnly", choices=MODES)
    p.add_argument(
        "--model",
        help="the benchmark: the submission checker's name (llama2-70b-99, llama3.1-8b, "
        "resnet50, ...) or an mlperf.conf key (llama3_1-8b); settings are read under its "
        "mlperf.conf key. Another name needs --division open",
    )
    p.add_argument("--user-conf", metavar="PATH", help="a user.conf to apply")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="set any TestSettings field, e.g. --set min_duration_ms=5000 (repeatable)",
    )
    p.add_argument("--compression", default="none", choices=COMPRESSIONS)
    p.add_argument(
        "--zstd-level", type=int, metavar="N", help="1..22 (default 3); with --compression zstd"
    )
    p.add_argument(
        "--balance",
        default="least-outstanding",
        choices=BALANCE_POLICIES,
        help="which node gets each sample: least-outstanding (default; fewest samples owed), "
        "prompt-tokens (fewest prompt tokens owed: for LLM data sets), round-robin, weighted "
        "(the capacities nodes report)",
    )
    p.add_argument("--streams-per-node", type=int, default=1, metavar="N")
    p.add_argument(
        "--framing",
        default="opportunistic",
        choices=FRAMINGS,
        help="opportunistic (default): a stream sends what is queued for it as one message, "
        "never waiting for more; per-query: one query per message",
    )
    p.add_argument(
        "--wire",
        default="auto",
        choices=WIRES,
        help="auto (default): the columnar form with nodes that announce it, the classic one "
        "with the others; columnar: require it of every node; classic: never use it",
    )
    p.add_argument(
        "--dispatch-workers",
        type=_workers,
        default=0,
        metavar="N",
        help="do the gRPC work in N processes of their own, each serving a share of the "
        "nodes, through shared memory (default 0: in lon-run's own process)",
    )
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument(
        "--dataset",
        metavar="PATH",
        help="a directory of .npy files, or an LLM data set file of token-id prompts: .pkl "
        "(a pandas DataFrame; a pickle can run code when read: name only files you trust), "
        ".json or .parquet; see --dataset-column",
    )
    data.add_argument(
        "--synthetic", metavar="SHAPE:DTYPE:COUNT", help="random samples, e.g. 224x224x3:uint8:1024"
    )
    data.add_argument(
        "--synthetic-llm",
        metavar="IN:OUT[:COUNT]",
        help="COUNT random token prompts, lengths log-normal around IN tokens (e.g. "
        "1024:256:1000; without COUNT, the --model's sample count in mlperf.conf); OUT is "
        "advisory, recorded with the run: the node decides output lengths",
    )
    p.add_argument(
        "--dataset-column",
        default="tok_input",
        metavar="NAME",
        help="the token-id column of an LLM data set file (default: %(default)s)",
    )
    p.add_argument("--performance-count", type=int, metavar="N")
    p.add_argument("--output", required=True, metavar="DIR", help="where the logs go")
    p.add_argument(
        "--loadgen",
        choices=LOADGENS,
        help="which LoadGen runs the test (default: official with --submission-dir, as results "
        "must come from it; ours otherwise)",
    )
    p.add_argument(
        "--rehearsal",
        action="store_true",
        help="--submission-dir with --loadgen ours: a tree marked as a rehearsal in each "
        "scenario's README.md and the system description; lon-submission seal refuses it",
    )
    p.add_argument(
        "--audit-config",
        metavar="PATH",
        help="a compliance audit.config to apply (default: ./audit.config if present; "
        "'none' for no audit config)",
    )
    p.add_argument(
        "--submission-dir",
        metavar="ROOT",
        help="also lay the run out in a submission tree: ROOT/DIVISION/SUBMITTER/results/"
        "SYSTEM/MODEL/SCENARIO/{performance/run_1,accuracy} with mlperf.conf, user.conf, "
        "measurements.json and README.md, and skeletons of systems/SYSTEM.json and src/",
    )
    p.add_argument(
        "--division",
        choices=DIVISIONS,
        help="submission division for --submission-dir; open lets --model name a model of "
        "its own; network refuses --compression for LLM benchmarks",
    )
    p.add_argument(
        "--submitter", metavar="ORG", help="submitting organization for --submission-dir"
    )
    p.add_argument("--system", metavar="NAME", help="system description id for --submission-dir")
    p.add_argument(
        "--response-timeout",
        type=float,
        default=DEFAULT_TIMEOUTS.response,
        metavar="SECONDS",
        help="fail the run when a node owing answers sends none for this long "
        f"(default {DEFAULT_TIMEOUTS.response:g}); how a dead or stuck node is found",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no live progress while the run goes (the results still)",
    )
    p.add_argument("--version", action="version", version=version_text())
    p.add_argument(
        "--sample-timeout",
        type=float,
        metavar="SECONDS",
        help="a sample still unanswered this long after its node answered a sample sent after "
        "it is hung: the node is lost (see --on-node-loss). Default: 20 latency "
        "bounds (Server: server_target_latency_ns), at least 10 s; 0 = off",
    )
    p.add_argument(
        "--on-node-loss",
        default="fail",
        choices=NODE_LOSS_POLICIES,
        help="a node lost mid-run (stream broken, silent, a hung sample): 'fail' ends the run; "
        "'redispatch' sends what it owed to the other nodes, each sample still completed "
        "once, and fails only when no node is left; a lost node does not rejoin the run "
        "(default: %(default)s)",
    )
    tls = p.add_argument_group("TLS to the nodes (default: plaintext)")
    tls.add_argument("--tls-ca", metavar="PEM", help="CA the nodes' certificates chain to")
    tls.add_argument(
        "--tls-cert", metavar="PEM", help="client certificate, for nodes that require one (mTLS)"
    )
    tls.add_argument("--tls-key", metavar="PEM", help="the client certificate's private key")
    tls.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="check the nodes' certificates against NAME instead of the host in --nodes",
    )
    p.add_argument(
        "--replace-valid",
        action="store_true",
        help="--submission-dir: let an INVALID performance run replace a VALID one",
    )
    return p


def parse_options(argv: Sequence[str] | None) -> RunOptions:
    args = build_parser().parse_args(argv)
    if not (args.nodes or args.nodes_file):
        build_parser().error("give the nodes: --nodes HOST:PORT[,...] or --nodes-file FILE")
    return RunOptions(
        nodes=tuple(n.strip() for n in (args.nodes or "").split(",") if n.strip()),
        nodes_file=args.nodes_file,
        scenario=args.scenario,
        mode=args.mode,
        model=args.model,
        user_conf=args.user_conf,
        sets=tuple(args.sets),
        compression=args.compression,
        zstd_level=args.zstd_level,
        balance=args.balance,
        streams_per_node=args.streams_per_node,
        framing=args.framing,
        wire=args.wire,
        dispatch_workers=args.dispatch_workers,
        dataset=args.dataset,
        dataset_column=args.dataset_column,
        synthetic=args.synthetic,
        synthetic_llm=args.synthetic_llm,
        performance_count=args.performance_count,
        output=args.output,
        loadgen=_loadgen(args.loadgen, args.submission_dir),
        rehearsal=args.rehearsal,
        audit_config=args.audit_config,
        submission_dir=args.submission_dir,
        system=args.system,
        division=args.division,
        submitter=args.submitter,
        replace_valid=args.replace_valid,
        quiet=args.quiet,
        command=tuple(sys.argv[1:] if argv is None else argv),
        timeouts=_timeouts(args.response_timeout),
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_server_name=args.tls_server_name,
        sample_timeout=_sample_timeout(args.sample_timeout),
        on_node_loss=args.on_node_loss,
    )


def _loadgen(given: str | None, submission_dir: str | None) -> str:
    """The official LoadGen by default for a run placed in a submission tree, ours otherwise."""
    if given is not None:
        return given
    return "official" if submission_dir is not None else "ours"


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


def _sample_timeout(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        build_parser().error(f"--sample-timeout must be a number of seconds >= 0, not {value}")
    return value


def _timeouts(response: float) -> Timeouts:
    if not (math.isfinite(response) and response > 0):
        build_parser().error(f"--response-timeout must be a number of seconds > 0, not {response}")
    return dataclasses.replace(DEFAULT_TIMEOUTS, response=response)


def main(argv: Sequence[str] | None = None) -> int:
    return run(parse_options(argv))


if __name__ == "__main__":
    sys.exit(main())
