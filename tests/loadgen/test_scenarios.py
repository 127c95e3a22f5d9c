"""End-to-end runs of our LoadGen with inline, delayed and multi-threaded SUTs, on real time.

What these runs take in time is checked on a virtual clock instead: test_virtual_clock.py.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path

import pytest

import loadgen as lg


class RecordingSUT(lg.SystemUnderTest):
    """Completes inline (or after ``delay_s`` on a thread) and records every issued sample."""

    def __init__(self, delay_s: float = 0.0, payload: bytes = b"") -> None:
        self.delay_s = delay_s
        self.payload = payload
        self.issued: list[list[int]] = []
        self.ids: Counter[int] = Counter()
        self.flushes = 0
        self._threads: list[threading.Thread] = []

    def name(self) -> str:
        return "RecordingSUT"

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        self.issued.append([s.index for s in samples])
        self.ids.update(s.id for s in samples)
        responses = [lg.QuerySampleResponse(s.id, self.payload) for s in samples]
        if self.delay_s:
            t = threading.Timer(self.delay_s, lg.QuerySamplesComplete, args=(responses,))
            t.start()
            self._threads.append(t)
        else:
            lg.QuerySamplesComplete(responses)

    def flush_queries(self) -> None:
        self.flushes += 1


class CountingQSL(lg.QuerySampleLibrary):
    def __init__(self, total: int = 64, performance: int = 16) -> None:
        self.total = total
        self.performance = performance
        self.loaded: list[list[int]] = []
        self.unloaded: list[list[int]] = []

    def name(self) -> str:
        return "CountingQSL"

    def total_sample_count(self) -> int:
        return self.total

    def performance_sample_count(self) -> int:
        return self.performance

    def load_samples_to_ram(self, indices: list[int]) -> None:
        self.loaded.append(list(indices))

    def unload_samples_from_ram(self, indices: list[int]) -> None:
        self.unloaded.append(list(indices))


def settings_for(scenario: lg.TestScenario, **fields: object) -> lg.TestSettings:
    s = lg.TestSettings()
    s.scenario = scenario
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = 50
    s.min_query_count = 64
    if scenario == lg.TestScenario.Server:
        s.server_target_qps = 5000
        # Far above any delay a busy machine adds to these short runs: they are VALID.
        s.server_target_latency_ns = 60_000_000_000
        s.min_query_count = 600
    elif scenario == lg.TestScenario.Offline:
        s.offline_expected_qps = 2_000_000
    elif scenario == lg.TestScenario.SingleStream:
        s.single_stream_expected_latency_ns = 2_000
    else:
        s.multi_stream_expected_latency_ns = 5_000
        s.multi_stream_samples_per_query = 4
        s.min_query_count = 662
    for k, v in fields.items():
        setattr(s, k, v)
    return s


def log_settings(tmp_path) -> lg.LogSettings:
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path)
    return ls


def detail_entries(path: str) -> list[dict]:
    entries = []
    with open(path) as f:
        for line in f:
            assert line.startswith(":::MLLOG "), line
            entries.append(json.loads(line[len(":::MLLOG ") :]))
    return entries


def detail_value(path: str, key: str):
    for e in detail_entries(path):
        if e["key"] == key:
            return e["value"]
    raise KeyError(key)


@pytest.mark.parametrize("scenario", list(lg.TestScenario))
def test_inline_sut_every_scenario_is_valid_and_completes_each_sample_once(tmp_path, scenario):
    sut, qsl = RecordingSUT(), CountingQSL()
    report = lg.run_test(sut, qsl, settings_for(scenario), log_settings(tmp_path))
    assert report.validity == "VALID", Path(report.summary_path).read_text()
    assert report.errors == 0
    assert set(sut.ids.values()) == {1}  # every id issued exactly once
    assert sut.flushes == 1
    assert qsl.loaded == qsl.unloaded and len(qsl.loaded) == 1
    assert sorted(set(qsl.loaded[0])) == list(range(16))  # a permutation of 0..psc-1
    issued = sum(len(q) for q in sut.issued)
    assert detail_value(report.detail_path, "result_validity") == "VALID"
    assert report.result is not None
    summary = Path(report.summary_path).read_text()
    assert f"Scenario : {scenario.name}" in summary
    if scenario == lg.TestScenario.Offline:
        assert len(sut.issued) == 1 and issued >= 100
    if scenario == lg.TestScenario.MultiStream:
        assert {len(q) for q in sut.issued} == {4}


def test_multithreaded_sut_completing_from_many_threads(tmp_path):
    class PoolSUT(RecordingSUT):
        def __init__(self):
            super().__init__()
            self.queue: list[list[lg.QuerySample]] = []
            self.cv = threading.Condition()
            self.stop = False
            self.workers = [threading.Thread(target=self.work) for _ in range(4)]
            for w in self.workers:
                w.start()

        def issue_query(self, samples):
            self.issued.append([s.index for s in samples])
            self.ids.update(s.id for s in samples)
            with self.cv:
                self.queue.append(samples)
                self.cv.notify()

        def work(self):
            while True:
                with self.cv:
                    while not self.queue and not self.stop:
                        self.cv.wait()
                    if self.stop and not self.queue:
                        return
                    samples = self.queue.pop()
                for s in samples:
                    lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"\x01\x02")])

        def close(self):
            with self.cv:
                self.stop = True
                self.cv.notify_all()
            for w in self.workers:
                w.join()

    sut = PoolSUT()
    try:
        s = settings_for(lg.TestScenario.Server, server_target_qps=5000, min_query_count=500)
        report = lg.run_test(sut, CountingQSL(), s, log_settings(tmp_path))
    finally:
        sut.close()
    assert report.errors == 0
    assert report.result is not None
    assert set(sut.ids.values()) == {1}


def test_accuracy_mode_issues_every_sample_and_logs_each_response(tmp_path):
    sut, qsl = RecordingSUT(payload=b"\xab\x01"), CountingQSL(total=50, performance=16)
    s = settings_for(lg.TestScenario.SingleStream, mode=lg.TestMode.AccuracyOnly)
    report = lg.run_test(sut, qsl, s, log_settings(tmp_path))
    issued = sorted(i for q in sut.issued for i in q)
    assert issued == list(range(50))
    assert sut.flushes == len(qsl.loaded) == 4  # chunks of 16,16,16,2
    entries = json.loads(Path(report.accuracy_path).read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(50))
    assert {e["data"] for e in entries} == {"AB01"}
    assert report.result is None


def test_offline_accuracy_sends_one_query_per_loaded_set(tmp_path):
    sut, qsl = RecordingSUT(), CountingQSL(total=40, performance=16)
    s = settings_for(lg.TestScenario.Offline, mode=lg.TestMode.AccuracyOnly)
    lg.run_test(sut, qsl, s, log_settings(tmp_path))
    assert [len(q) for q in sut.issued] == [16, 16, 8]
    assert sut.issued == qsl.loaded  # each query in loaded order


def test_submission_run_does_accuracy_then_performance(tmp_path):
    sut, qsl = RecordingSUT(), CountingQSL(total=20, performance=16)
    s = settings_for(lg.TestScenario.Offline, mode=lg.TestMode.SubmissionRun)
    report = lg.run_test(sut, qsl, s, log_settings(tmp_path))
    assert report.validity == "VALID"
    assert [len(q) for q in sut.issued][:2] == [16, 4]
    assert "Mode     : SubmissionRun" in Path(report.summary_path).read_text()


def test_missing_output_directory_is_a_clear_error(tmp_path):
    ls = lg.LogSettings()
    ls.log_output.outdir = str(tmp_path / "does-not-exist")
    with pytest.raises(lg.LogOutputError, match="does-not-exist"):
        lg.run_test(RecordingSUT(), CountingQSL(), settings_for(lg.TestScenario.Offline), ls)


def test_an_int_for_the_scenario_is_refused_at_assignment():
    s = settings_for(lg.TestScenario.Offline)
    with pytest.raises(TypeError, match=r"TestSettings.scenario takes a TestScenario .*got 7"):
        s.scenario = 7
    assert s.scenario is lg.TestScenario.Offline


def test_response_completed_twice_and_unknown_id_are_logged_errors(tmp_path):
    class Sloppy(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            lg.QuerySamplesComplete([lg.QuerySampleResponse(samples[0].id, b"")])
            lg.QuerySamplesComplete([lg.QuerySampleResponse(987_654_321_000, b"")])

    s = settings_for(lg.TestScenario.Offline)
    report = lg.run_test(Sloppy(), CountingQSL(), s, log_settings(tmp_path))
    errors = [e["value"] for e in detail_entries(report.detail_path) if e["metadata"]["is_error"]]
    assert any("complete a sample twice" in e for e in errors)
    assert any("unknown response id 987654321000" in e for e in errors)
    assert "2 ERRORS encountered. See detailed log." in Path(report.summary_path).read_text()


def test_abort_from_another_thread_stops_the_run(tmp_path):
    class Aborter(RecordingSUT):
        def issue_query(self, samples):
            super().issue_query(samples)
            if len(self.issued) == 10:
                threading.Thread(target=lg.AbortTest, args=("node 10.0.0.1:1 died",)).start()

    s = settings_for(lg.TestScenario.SingleStream, min_duration_ms=60_000, min_query_count=10**6)
    s.single_stream_expected_latency_ns = 1_000_000
    with pytest.raises(lg.TestAborted, match="node 10.0.0.1:1 died"):
        lg.run_test(Aborter(delay_s=0.001), CountingQSL(), s, log_settings(tmp_path))


def test_query_samples_complete_outside_a_test_is_harmless(capsys):
    lg.QuerySamplesComplete([lg.QuerySampleResponse(1, b"")])
    assert "no test is running" in capsys.readouterr().err


def test_fine_timer_slack_is_restored_after_the_block():
    import ctypes
    import sys

    from loadgen._timer_slack import fine_timer_slack

    if not sys.platform.startswith("linux"):
        with fine_timer_slack() as fine:
            assert fine is False
        return
    prctl = ctypes.CDLL(None).prctl
    before = prctl(30, 0, 0, 0, 0)
    with fine_timer_slack() as fine:
        assert fine is True
        assert prctl(30, 0, 0, 0, 0) == 1
    assert prctl(30, 0, 0, 0, 0) == before


class FirstTokenSUT(RecordingSUT):
    """Sends a first token ahead of every answer, whatever the settings say."""

    def issue_query(self, samples: list[lg.QuerySample]) -> None:
        lg.FirstTokenComplete([lg.QuerySampleResponse(s.id, b"t", 1, 1) for s in samples])
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"tt", 2, 2) for s in samples])


def test_first_tokens_with_token_latencies_off_are_one_warning_not_errors(tmp_path, capsys):
    s = settings_for(lg.TestScenario.SingleStream, min_query_count=50, min_duration_ms=10)
    report = lg.run_test(FirstTokenSUT(), CountingQSL(), s, log_settings(tmp_path))
    assert report.validity == "VALID" and report.errors == 0
    warnings = [
        e["value"]
        for e in detail_entries(report.detail_path)
        if e["key"] == "warning_generic_message" and "FirstTokenComplete" in str(e["value"])
    ]
    assert len(warnings) == 1 and "use_token_latencies is off" in warnings[0]
    assert capsys.readouterr().err.count("use_token_latencies is off") == 1
    assert "No errors encountered" in Path(report.summary_path).read_text()
