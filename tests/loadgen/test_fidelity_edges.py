"""The edges where a LoadGen is easiest to get subtly wrong, each held to the official wheel
where the wheel can show it: when ``response_cb`` runs, what a bad response id does, the
settings the official LoadGen logs an error for and runs on anyway, typed setters, and token
counts below 2.
"""

from __future__ import annotations

import decimal
import fractions
import json
import math
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loadgen as lg
from loadgen._fields import TEST_SETTINGS_DEFAULTS
from loadgen.clock import VirtualClock

from .scripted_runs import ScriptedRun, detail_entry, scripted_run
from .test_scenarios import CountingQSL


def both(settings: dict[str, Any], **kw: Any) -> tuple[ScriptedRun, ScriptedRun]:
    """(ours, official) for the same scripted run."""
    pytest.importorskip("mlperf_loadgen")
    return scripted_run("ours", settings, **kw), scripted_run("official", settings, **kw)


def perf(scenario: str, **fields: Any) -> dict[str, Any]:
    return {"scenario": scenario, "mode": "PerformanceOnly", "min_duration_ms": 0, **fields}


class RecordingSUT(lg.SystemUnderTest):
    def __init__(self) -> None:
        self.issued: list[lg.QuerySample] = []

    def name(self) -> str:
        return "RecordingSUT"

    def issue_query(self, samples):
        self.issued.extend(samples)

    def flush_queries(self) -> None:
        pass


def settings(scenario: lg.TestScenario, **fields: Any) -> lg.TestSettings:
    s = lg.TestSettings()
    s.scenario = scenario
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = 0
    for name, value in fields.items():
        setattr(s, name, value)
    return s


def log_settings(tmp_path: Path) -> lg.LogSettings:
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    ls.enable_trace = False
    return ls


def detail_errors(path: str) -> list[str]:
    """The values of the entries a detail log marks as errors, in order."""
    entries = [detail_entry(line) for line in Path(path).read_text().splitlines()]
    return [e["value"] for e in entries if e["metadata"]["is_error"]]


# --- response_cb: only for the samples that are logged, never for first tokens ---------------

CALLBACK_RUNS = {
    "SingleStream accuracy": ({"scenario": "SingleStream", "mode": "AccuracyOnly"}, {}),
    "Offline performance, accuracy_log_probability": (
        perf("Offline", min_query_count=400, accuracy_log_probability=0.1,
             accuracy_log_rng_seed=7),
        {},
    ),
    "Server performance, accuracy_log_sampling_target": (
        perf("Server", server_target_qps=20_000.0, min_query_count=300,
             accuracy_log_sampling_target=40),
        {},
    ),
    "SingleStream token accuracy with first tokens": (
        {"scenario": "SingleStream", "mode": "AccuracyOnly", "use_token_latencies": True},
        {"first_token": True, "n_tokens": (3,)},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CALLBACK_RUNS)
def test_response_cb_runs_once_per_logged_sample_as_officially(case):
    settings, kw = CALLBACK_RUNS[case]
    ours, official = both(settings, **kw)
    logged = len(official.accuracy)
    assert logged > 0
    assert official.complete_cb_calls == logged  # what the wheel does: one call per entry
    assert ours.complete_cb_calls == logged
    assert sorted(e["seq_id"] for e in ours.accuracy) == sorted(
        e["seq_id"] for e in official.accuracy
    )
    assert ours.first_token_cb_calls == official.first_token_cb_calls == 0
    assert ours.issued == official.issued


def test_a_performance_run_that_logs_nothing_never_calls_response_cb():
    ours, official = both(perf("Offline", min_query_count=1001))
    assert sum(map(len, official.issued)) == sum(map(len, ours.issued)) == 1001
    assert official.complete_cb_calls == ours.complete_cb_calls == 0


def test_response_cb_sees_each_logged_response_before_its_data_is_read(tmp_path):
    """What the callback is for: move the data to the host. The logged bytes are those it
    left in the response, read after it returned."""

    class DeviceSUT(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            responses = [lg.QuerySampleResponse(s.id, b"device") for s in samples]

            def to_host(response):
                response.data, response.size = b"host!", 5

            lg.QuerySamplesComplete(responses, to_host)

    s = settings(lg.TestScenario.SingleStream, mode=lg.TestMode.AccuracyOnly)
    report = lg.run_test(DeviceSUT(), CountingQSL(8, 8), s, log_settings(tmp_path), "")
    entries = Path(report.accuracy_path).read_text()
    assert entries.count(b"host!".hex().upper()) == 8
    assert b"device".hex().upper() not in entries


def test_a_run_ends_only_after_every_logged_response_is_written(tmp_path):
    """The samples count as done before their responses are copied (as officially, so the
    LoadGen moves on at once); a slow response_cb on another thread must still not lose a
    single entry to the log being closed under it."""

    class ThreadedSUT(RecordingSUT):
        def __init__(self) -> None:
            super().__init__()
            self.threads: list[threading.Thread] = []

        def issue_query(self, samples):
            super().issue_query(samples)
            responses = [lg.QuerySampleResponse(q.id, b"ok") for q in samples]
            slow = threading.Event()

            def copy_to_host(response):
                slow.wait(0.002)

            worker = threading.Thread(
                target=lg.QuerySamplesComplete, args=(responses, copy_to_host)
            )
            self.threads.append(worker)
            worker.start()

    sut = ThreadedSUT()
    s = settings(lg.TestScenario.Offline, mode=lg.TestMode.AccuracyOnly)
    report = lg.run_test(sut, CountingQSL(64, 64), s, log_settings(tmp_path), "")
    for worker in sut.threads:
        worker.join()
    entries = json.loads(Path(report.accuracy_path).read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(64))
    assert report.errors == 0


# --- response ids: only issued, not yet completed ids are accepted ---------------------------


class AnswersTheNextIdFirst(RecordingSUT):
    """1 us after each issue it answers ``id + 1`` (not issued yet), 2 us after, ``id``."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__()
        self.clock = clock

    def issue_query(self, samples):
        super().issue_query(samples)
        for s in samples:
            wrong = [lg.QuerySampleResponse(s.id + 1, b"")]
            self.clock.call_later(1_000, lg.QuerySamplesComplete, wrong)
            self.clock.call_later(2_000, lg.QuerySamplesComplete, [lg.QuerySampleResponse(s.id)])


def test_a_response_for_an_id_not_issued_yet_is_an_error_and_changes_nothing(tmp_path):
    clock = VirtualClock()
    sut = AnswersTheNextIdFirst(clock)
    s = settings(lg.TestScenario.SingleStream, min_query_count=50)
    report = lg.run_test(sut, CountingQSL(), s, log_settings(tmp_path), "", clock=clock)

    assert len(sut.issued) == 50
    errors = detail_errors(report.detail_path)
    assert len(errors) == report.errors == 50
    not_yet = [e for e in errors if "has not been issued yet" in e]
    assert len(not_yet) == 49  # the last id + 1 is past the series: an unknown id
    assert errors[-1].startswith("QuerySamplesComplete got a response for an unknown response id")
    assert not_yet[0] == (
        f"QuerySamplesComplete got response id {sut.issued[0].id + 1}, which has not been "
        "issued yet (a SUT must answer only the ids it was given); it was ignored"
    )
    # Every latency is the 2 us the SUT took for the id it was given: no negative minimum,
    # no mean blown up by a completion stamped before its issue.
    r = report.result
    assert r is not None and r.sample_count == 50
    assert (r.samples.min, r.samples.max, r.samples.mean) == (2_000, 2_000, 2_000)
    summary = Path(report.summary_path).read_text()
    assert "Min latency (ns)                : 2000" in summary
    assert "Mean latency (ns)               : 2000" in summary
    assert "50 ERRORS encountered. See detailed log." in summary


def test_a_first_token_for_an_id_not_issued_yet_is_an_error(tmp_path):
    class EarlyFirstToken(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            for q in samples:
                lg.FirstTokenComplete([lg.QuerySampleResponse(q.id + 1, b"t")])
                lg.FirstTokenComplete([lg.QuerySampleResponse(q.id, b"t")])
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, b"xy", n_tokens=3)])

    s = settings(lg.TestScenario.SingleStream, min_query_count=4, use_token_latencies=True)
    report = lg.run_test(EarlyFirstToken(), CountingQSL(), s, log_settings(tmp_path), "")
    errors = detail_errors(report.detail_path)
    assert len(errors) == 4
    assert all(e.startswith("FirstTokenComplete got") for e in errors)
    assert sum("has not been issued yet" in e for e in errors) == 3
    r = report.result
    assert r is not None and r.first_token is not None and r.first_token.min >= 0


def test_a_sample_completed_twice_counts_once(tmp_path):
    class Twice(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            responses = [lg.QuerySampleResponse(q.id, b"") for q in samples]
            lg.QuerySamplesComplete(responses)
            lg.QuerySamplesComplete(responses)

    s = settings(lg.TestScenario.SingleStream, min_query_count=10)
    report = lg.run_test(Twice(), CountingQSL(), s, log_settings(tmp_path), "")
    assert report.errors == 10
    assert report.result is not None and report.result.sample_count == 10


# --- settings the official LoadGen logs an error for, or runs with odd values ----------------

TIMED = re.compile(
    r"^(Min|Max|Mean|[0-9.]+ percentile|[0-9.]+th percentile|QPS|Samples per second|"
    r"Completed|Scheduled)"
)


def untimed(summary: str) -> list[str]:
    """The summary without the lines whose numbers are measured times or rates."""
    return [line for line in summary.splitlines() if not TIMED.match(line)]


SETTING_LINES = ("requested_", "effective_", "generated_")

RUN_AS_OFFICIALLY = {
    "FindPeakPerformance outside Server": perf("Offline", mode="FindPeakPerformance"),
    "FindPeakPerformance in SingleStream": perf("SingleStream", mode="FindPeakPerformance"),
    "offline_expected_qps = 0": perf("Offline", offline_expected_qps=0.0, min_query_count=7),
    "offline_expected_qps = 0, SubmissionRun": {
        **perf("Offline", offline_expected_qps=0.0), "mode": "SubmissionRun",
    },
    "single_stream_expected_latency_ns = 0": perf(
        "SingleStream", single_stream_expected_latency_ns=0.0, min_query_count=20
    ),
    "multi_stream_expected_latency_ns = 0": perf(
        "MultiStream", multi_stream_expected_latency_ns=0.0, min_query_count=20
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", RUN_AS_OFFICIALLY)
def test_settings_the_official_loadgen_runs_or_refuses_with_a_logged_error(case):
    ours, official = both(RUN_AS_OFFICIALLY[case])
    assert ours.errors() == official.errors()
    assert ours.keyed(*SETTING_LINES) == official.keyed(*SETTING_LINES)
    assert ours.issued == official.issued
    assert ours.values("result_validity") == official.values("result_validity")
    assert untimed(ours.summary) == untimed(official.summary)
    assert [e["seq_id"] for e in ours.accuracy] == [e["seq_id"] for e in official.accuracy]


def test_find_peak_outside_server_returns_with_one_logged_error():
    ours, official = both(perf("Offline", mode="FindPeakPerformance"))
    assert official.errors() == [
        ("error_invalid_config", "Finding peak performance is only supported in Server scenarios.")
    ]
    assert ours.summary == official.summary  # the footer alone: "1 ERROR encountered."
    assert "1 ERROR encountered. See detailed log." in ours.summary


def test_offline_expected_qps_0_runs_one_query_of_min_query_count_samples():
    ours, official = both(perf("Offline", offline_expected_qps=0.0, min_query_count=7))
    assert [len(q) for q in official.issued] == [len(q) for q in ours.issued] == [7]
    # The official infinite period, converted to int64 ns, is INT64_MIN.
    assert ours.values("generated_query_duration") == [-(2**63)]
    assert ours.values("generated_query_duration") == official.values("generated_query_duration")


def test_an_expected_latency_of_0_is_an_infinite_target_qps_as_officially():
    ours, official = both(perf("SingleStream", single_stream_expected_latency_ns=0.0))
    assert ours.values("effective_target_qps") == official.values("effective_target_qps")
    assert ours.values("effective_target_qps") == [math.inf]
    assert "target_qps : inf" in ours.summary


SAME_INDEX_PAST_THE_SET = {
    "Offline": perf("Offline", performance_issue_same=True, performance_issue_same_index=20),
    "SingleStream": perf(
        "SingleStream", performance_issue_same=True, performance_issue_same_index=10,
        min_query_count=5,
    ),
    "Server": perf(
        "Server", performance_issue_same=True, performance_issue_same_index=12,
        server_target_qps=10_000.0, min_query_count=5,
    ),
}  # fmt: skip


@pytest.mark.parametrize("scenario", SAME_INDEX_PAST_THE_SET)
def test_a_same_index_past_the_loaded_set_is_logged_as_officially_then_stops(scenario):
    ours, official = both(SAME_INDEX_PAST_THE_SET[scenario])
    # The official error, in the official place (with the settings, before any query) ...
    [theirs] = official.errors()
    assert theirs[0] == "error_invalid_test_settings"
    assert theirs[1].startswith("Sample Idx to be repeated in performance_issue_same mode")
    assert ours.errors()[0] == theirs
    assert ours.keyed("requested_", "effective_") == official.keyed("requested_", "effective_")
    # ... then the official LoadGen issues what lies past its set; ours stops, logged.
    assert official.issued and not ours.issued
    [(key, stopped)] = ours.errors()[1:]
    assert key == "error_runtime"
    assert stopped.startswith("Run failed: Test stopped: sample position")
    assert "outside the loaded set of 10 samples" in stopped
    assert ours.values("result_validity") == ["INVALID"]
    assert "Result is : INVALID" in ours.summary
    assert "2 ERRORS encountered. See detailed log." in ours.summary
    assert "1 ERROR encountered. See detailed log." in official.summary


def test_a_run_stopped_by_a_same_index_returns_a_report_that_says_so(tmp_path):
    s = settings(
        lg.TestScenario.Offline, performance_issue_same=True, performance_issue_same_index=99
    )
    sut = RecordingSUT()
    report = lg.run_test(sut, CountingQSL(), s, log_settings(tmp_path), "")
    assert sut.issued == []
    assert report.validity == "INVALID" and report.result is None
    assert report.stopped is not None and "outside the loaded set" in report.stopped
    assert report.errors == 2


# --- setters: what the official bindings refuse with TypeError, refused ----------------------


def official_module():
    return pytest.importorskip("mlperf_loadgen")


class _Member:
    """An enum member, looked up in each LoadGen's own enum."""

    def __init__(self, enum_name: str, member: str) -> None:
        self.enum_name, self.member = enum_name, member

    def __repr__(self) -> str:
        return f"{self.enum_name}.{self.member}"


SETTER_VALUES: list[Any] = [
    -1, 0, 1, 3, True, False, 1.5, 2.0, -0.0, math.nan, "5", "Server", b"x", None, [],
    2**31, -(2**31) - 1, 2**63, 2**64 - 1, 2**64, 10**400,
    np.int64(3), np.uint64(5), np.float64(2.5), np.float32(2.0), np.bool_(True),
    fractions.Fraction(1, 2), decimal.Decimal(4),
    _Member("TestScenario", "Server"), _Member("TestMode", "AccuracyOnly"),
    _Member("LoggingMode", "Synchronous"),
]  # fmt: skip


def _resolve(module: Any, value: Any) -> Any:
    if isinstance(value, _Member):
        return getattr(getattr(module, value.enum_name), value.member)
    return value


def _outcome(module: Any, obj: Any, name: str, value: Any) -> tuple[Any, ...]:
    """What assigning ``value`` to ``obj.name`` does: refused, or the value it reads back as."""
    try:
        setattr(obj, name, _resolve(module, value))
    except TypeError:
        return ("TypeError",)
    got = getattr(obj, name)
    if hasattr(got, "name") and type(got).__name__ in ("TestScenario", "TestMode", "LoggingMode"):
        return ("enum", type(got).__name__, got.name)
    if isinstance(got, float) and math.isnan(got):
        return ("float", "nan")
    return (type(got).__name__, got)


def _compare_setters(kind: str, name: str, values: list[Any]) -> None:
    official = official_module()
    mismatches = []
    for value in values:
        theirs = _outcome(official, getattr(official, kind)(), name, value)
        ours = _outcome(lg, getattr(lg, kind)(), name, value)
        if ours != theirs:
            mismatches.append(f"{kind}.{name} = {value!r}: ours {ours}, official {theirs}")
    assert not mismatches, "\n".join(mismatches)


@pytest.mark.parametrize("name", list(TEST_SETTINGS_DEFAULTS))
def test_test_settings_setters_accept_and_refuse_what_the_official_bindings_do(name):
    _compare_setters("TestSettings", name, SETTER_VALUES)


def test_every_official_test_settings_field_exists_here():
    official = official_module()
    fields = {n for n in dir(official.TestSettings()) if not n.startswith("_")} - {"FromConfig"}
    ours = {n for n in dir(lg.TestSettings()) if not n.startswith("_")} - {"FromConfig", "copy"}
    assert fields == ours


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("LogOutputSettings", "outdir"),
        ("LogOutputSettings", "prefix"),
        ("LogOutputSettings", "suffix"),
        ("LogOutputSettings", "prefix_with_datetime"),
        ("LogOutputSettings", "copy_detail_to_stdout"),
        ("LogOutputSettings", "copy_summary_to_stdout"),
        ("LogSettings", "log_mode"),
        ("LogSettings", "log_mode_async_poll_interval_ms"),
        ("LogSettings", "enable_trace"),
    ],
)
def test_log_settings_setters_accept_and_refuse_what_the_official_bindings_do(kind, name):
    _compare_setters(kind, name, [*SETTER_VALUES, "out", "", b"out"])


def test_log_output_must_be_log_output_settings_and_a_directory_may_be_a_path(tmp_path):
    official = official_module()
    for module in (official, lg):
        with pytest.raises(TypeError):
            module.LogSettings().log_output = None
        module.LogSettings().log_output = module.LogOutputSettings()
    # Ours only: the Pythonic layer passes pathlib.Path directories (stored as str).
    out = lg.LogOutputSettings()
    out.outdir = tmp_path
    assert out.outdir == str(tmp_path)


def test_a_refused_value_says_which_field_and_what_it_takes():
    s = lg.TestSettings()
    with pytest.raises(TypeError, match=r"^TestSettings.min_query_count takes an int in 0\.\."):
        s.min_query_count = -1
    with pytest.raises(TypeError, match=r"takes a TestScenario member .*; got 3$"):
        s.scenario = 3
    assert s.min_query_count == 100 and s.scenario is lg.TestScenario.SingleStream
    with pytest.raises(AttributeError):
        s.min_query_cuont = 5  # type: ignore[attr-defined]


def test_enum_members_print_as_the_official_ones():
    official = official_module()
    for enum_name in ("TestScenario", "TestMode", "LoggingMode"):
        for member in getattr(official, enum_name).__members__:
            theirs = getattr(getattr(official, enum_name), member)
            ours = getattr(lg, enum_name)[member]
            assert (str(ours), f"{ours}", repr(ours)) == (str(theirs), f"{theirs}", repr(theirs))
            assert int(ours) == int(theirs)


def test_the_vector_containers_exist_as_officially():
    official = official_module()
    for name in ("VectorQuerySample", "VectorQuerySampleResponse"):
        getattr(official, name)()  # the 6.0.17 wheel constructs them (its methods recurse)
        assert len(getattr(lg, name)()) == 0


def test_the_vector_containers_are_typed_lists():
    v = lg.VectorQuerySample([lg.QuerySample(1, 10)])
    v.append(lg.QuerySample(2, 20))
    v.extend([lg.QuerySample(3, 30)])
    v.insert(0, lg.QuerySample(0, 0))
    assert [s.index for s in v] == [0, 10, 20, 30]
    assert isinstance(v[1:3], lg.VectorQuerySample) and len(v[1:3]) == 2
    for bad in (lambda: v.append(5), lambda: v.extend([None]), lambda: v.__setitem__(0, "x")):
        with pytest.raises(TypeError, match="VectorQuerySample holds QuerySample objects"):
            bad()
    with pytest.raises(TypeError):
        lg.VectorQuerySampleResponse([lg.QuerySample(1, 1)])
    assert v.pop().index == 30 and len(v) == 3


def test_a_vector_of_responses_completes_samples(tmp_path):
    class VectorSUT(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            lg.QuerySamplesComplete(
                lg.VectorQuerySampleResponse(lg.QuerySampleResponse(q.id, b"") for q in samples)
            )

    s = settings(lg.TestScenario.Offline, min_query_count=16)
    report = lg.run_test(VectorSUT(), CountingQSL(), s, log_settings(tmp_path), "")
    assert report.errors == 0 and report.result is not None
    assert report.result.sample_count == 16


# --- token counts below 2: the official errors and the official (odd) numbers ----------------

RESPONSE_ID = re.compile(r" \(response id \d+\)$")
BAD_TOKEN_COUNTS = (0, 1, -1, 3, 5, 2, 1, 0)


def official_words(errors: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Our error lines without the response id we add to the official message."""
    return [(k, RESPONSE_ID.sub("", v) if isinstance(v, str) else v) for k, v in errors]


@pytest.mark.parametrize("scenario", ["SingleStream", "Offline", "Server"])
def test_token_counts_below_2_log_the_official_errors_and_nothing_more(scenario):
    run = perf(scenario, use_token_latencies=True, min_query_count=16, server_target_qps=5000.0)
    ours, official = both(run, first_token=True, n_tokens=BAD_TOKEN_COUNTS)
    assert official_words(ours.errors()) == official.errors()
    assert len(official.errors()) == 10  # one per count of 0, 1 or less: 5 in each 8
    assert ours.values("num_errors") == official.values("num_errors") == [10]
    footer = "10 ERRORS encountered. See detailed log."
    assert footer in ours.summary and footer in official.summary
    # TPOT divides by -1 for those samples: negative, in both.
    if scenario != "Offline":
        for run_ in (ours, official):
            [p50] = run_.values("result_time_per_output_token_50.00_percentile_ns")
            assert p50 < 0


def test_token_accuracy_logs_the_token_counts_as_the_sut_gave_them():
    run = {"scenario": "SingleStream", "mode": "AccuracyOnly", "use_token_latencies": True}
    ours, official = both(run, total=16, performance=16, first_token=True, n_tokens=(0, 1, -1, 4))
    key = ("seq_id", "qsl_idx", "data", "token_data", "token_count")
    assert [tuple(e[k] for k in key) for e in ours.accuracy] == [
        tuple(e[k] for k in key) for e in official.accuracy
    ]
    assert official_words(ours.errors()) == official.errors()


def test_tpot_of_a_token_count_below_2_is_minus_the_time_after_the_first_token(tmp_path):
    """Exact numbers on virtual time: first token 1 us after issue, completion 5 us after."""
    clock = VirtualClock()
    counts = (0, 1, -1, 3, 5)

    class TokenSUT(RecordingSUT):
        def issue_query(self, samples):
            for q in samples:
                n = counts[len(self.issued) % len(counts)]
                self.issued.append(q)
                first = [lg.QuerySampleResponse(q.id, b"t")]
                clock.call_later(1_000, lg.FirstTokenComplete, first)
                done = [lg.QuerySampleResponse(q.id, b"tt", n_tokens=n)]
                clock.call_later(5_000, lg.QuerySamplesComplete, done)

    s = settings(lg.TestScenario.SingleStream, min_query_count=10, use_token_latencies=True)
    report = lg.run_test(TokenSUT(), CountingQSL(), s, log_settings(tmp_path), "", clock=clock)
    r = report.result
    assert r is not None and r.time_per_output_token is not None
    # 4000 ns after the first token: -4000 for counts 0, 1, -1; 2000 for 3; 1000 for 5.
    assert r.time_per_output_token.min == -4_000
    assert r.time_per_output_token.max == 2_000
    assert r.token_count == 2 * (3 + 5)  # the invalid counts are held as 0
    assert report.errors == 6
