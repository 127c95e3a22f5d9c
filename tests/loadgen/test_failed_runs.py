"""A run that did not finish never leaves logs that look like a finished one.

The abort path completes every outstanding sample (so nothing is lost), which is exactly what
a finished run looks like; the summary and the detail log must still say INVALID, and why.
"""

from __future__ import annotations

import json

import pytest

import loadgen as lg
from loadgen._failed_run import mark_run_failed

from .test_scenarios import CountingQSL


class AbortingSUT(lg.SystemUnderTest):
    """Answers nothing; on the ``abort_at``-th query it aborts, then completes everything owed,
    in that order, as the QDL does when a node fails."""

    def __init__(self, abort_at: int = 1, raise_exc: BaseException | None = None) -> None:
        self.abort_at = abort_at
        self.raise_exc = raise_exc
        self.owed: list[int] = []
        self.queries = 0

    def name(self) -> str:
        return "AbortingSUT"

    def issue_query(self, samples):
        self.queries += 1
        self.owed += [s.id for s in samples]
        if self.queries == self.abort_at:
            if self.raise_exc is not None:
                raise self.raise_exc
            lg.AbortTest("node n1 stopped answering")
            lg.QuerySamplesComplete([lg.QuerySampleResponse(rid, b"") for rid in self.owed])

    def flush_queries(self) -> None:
        pass


def settings(scenario=lg.TestScenario.Offline, mode=lg.TestMode.PerformanceOnly):
    s = lg.TestSettings()
    s.scenario = scenario
    s.mode = mode
    s.min_duration_ms = 0
    s.min_query_count = 4
    s.offline_expected_qps = 10
    s.server_target_qps = 1000
    return s


def run(tmp_path, sut, s):
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    return lg.run_test(sut, CountingQSL(), s, log, audit_config="")


def detail_records(tmp_path):
    text = (tmp_path / "mlperf_log_detail.txt").read_text()
    return [json.loads(line[len(":::MLLOG ") :]) for line in text.splitlines()]


def validity_records(tmp_path):
    return [r["value"] for r in detail_records(tmp_path) if r["key"] == "result_validity"]


@pytest.mark.parametrize("scenario", [lg.TestScenario.Offline, lg.TestScenario.Server])
def test_an_aborted_run_whose_samples_were_all_completed_is_invalid(tmp_path, scenario):
    with pytest.raises(lg.TestAborted, match="node n1 stopped answering"):
        run(tmp_path, AbortingSUT(), settings(scenario))
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Result is : INVALID" in summary
    assert "Result is : VALID" not in summary
    assert "  Run failed : Test aborted: node n1 stopped answering" in summary
    assert f"Scenario : {scenario.name}" in summary
    assert "No errors encountered during test." not in summary
    assert validity_records(tmp_path) == ["INVALID"]
    errors = [r["value"] for r in detail_records(tmp_path) if r["metadata"]["is_error"]]
    assert errors == ["Test aborted: node n1 stopped answering"]


def test_an_aborted_accuracy_run_says_invalid_too(tmp_path):
    with pytest.raises(lg.TestAborted):
        run(tmp_path, AbortingSUT(), settings(mode=lg.TestMode.AccuracyOnly))
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert summary.startswith("=")
    assert "Result is : INVALID" in summary
    assert "Mode     : AccuracyOnly" in summary


def test_an_interrupted_run_says_so(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, AbortingSUT(raise_exc=KeyboardInterrupt()), settings())
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Result is : INVALID" in summary
    assert "Run failed : Test interrupted (SIGINT)" in summary
    assert "1 ERROR encountered. See detailed log." in summary
    assert validity_records(tmp_path) == ["INVALID"]


def test_a_sut_that_raises_fails_the_run_with_its_error(tmp_path):
    with pytest.raises(RuntimeError, match="backend exploded"):
        run(tmp_path, AbortingSUT(raise_exc=RuntimeError("backend exploded")), settings())
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Run failed : Test failed: RuntimeError: backend exploded" in summary
    assert validity_records(tmp_path) == ["INVALID"]


def test_an_abort_after_the_last_query_still_fails_the_run(tmp_path):
    # Server, one sample per query: the abort comes with the last query, after every other
    # sample was answered, so only the abort tells the run did not finish.
    class LateAbort(AbortingSUT):
        def issue_query(self, samples):
            self.queries += 1
            if self.queries < 4:
                lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"x") for s in samples])
                return
            lg.AbortTest("late failure")
            lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, b"") for s in samples])

    s = settings(lg.TestScenario.Server)
    s.max_query_count = 4
    with pytest.raises(lg.TestAborted, match="late failure"):
        run(tmp_path, LateAbort(), s)
    assert "Result is : INVALID" in (tmp_path / "mlperf_log_summary.txt").read_text()


def test_mark_run_failed_turns_another_loadgens_valid_summary_invalid(tmp_path):
    summary = tmp_path / "s.txt"
    detail = tmp_path / "d.txt"
    summary.write_text("SUT name : x\nScenario : Offline\nResult is : VALID\n  Min duration\n")
    detail.write_text("")
    mark_run_failed(str(summary), str(detail), "node n2: Flush\nfailed")
    assert summary.read_text() == (
        "SUT name : x\nScenario : Offline\nResult is : INVALID\n"
        "  Run failed : node n2: Flush failed\n  Min duration\n"
    )
    records = [json.loads(line[len(":::MLLOG ") :]) for line in detail.read_text().splitlines()]
    assert [(r["key"], r["value"]) for r in records] == [
        ("error_runtime", "Run failed: node n2: Flush failed"),
        ("result_validity", "INVALID"),
    ]


def test_mark_run_failed_writes_a_summary_where_there_was_none(tmp_path):
    summary = tmp_path / "s.txt"
    mark_run_failed(str(summary), str(tmp_path / "missing.txt"), "interrupted")
    text = summary.read_text()
    assert "Result is : INVALID\n  Run failed : interrupted\n" in text
    assert not (tmp_path / "missing.txt").exists()
