"""A response is in the accuracy log before its sample counts as complete.

The issuing thread closes the accuracy log as soon as the last sample counts; a SUT thread
still writing the entries of its last QuerySamplesComplete call must not find it closed.
"""

from __future__ import annotations

import json
import threading

import loadgen as lg

from .test_scenarios import CountingQSL


class OneCallSUT(lg.SystemUnderTest):
    """Answers each Offline query from its own thread in one QuerySamplesComplete call whose
    response_cb is slow: the window in which the issuing thread could close the log."""

    def __init__(self) -> None:
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []

    def name(self) -> str:
        return "OneCallSUT"

    def issue_query(self, samples):
        ids = [s.id for s in samples]
        thread = threading.Thread(target=self._answer, args=(ids,))
        self.threads.append(thread)
        thread.start()

    def _answer(self, ids: list[int]) -> None:
        def slow_cb(_response: object) -> None:
            threading.Event().wait(0.02)

        try:
            responses = [lg.QuerySampleResponse(i, b"\x07") for i in ids]
            lg.QuerySamplesComplete(responses, slow_cb)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.errors.append(exc)

    def flush_queries(self) -> None:
        pass


def test_every_response_of_the_last_call_is_logged_before_the_run_ends(tmp_path):
    s = lg.TestSettings()
    s.scenario = lg.TestScenario.Offline
    s.mode = lg.TestMode.AccuracyOnly
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    sut = OneCallSUT()
    lg.run_test(sut, CountingQSL(total=16, performance=16), s, log, audit_config="")
    for thread in sut.threads:
        thread.join()
    assert sut.errors == []
    entries = json.loads((tmp_path / "mlperf_log_accuracy.json").read_text())
    assert sorted(e["qsl_idx"] for e in entries) == list(range(16))
