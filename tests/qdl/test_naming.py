"""The SUT's name is asked of real nodes over gRPC each time, with a deadline and a clear error."""

from __future__ import annotations

import contextlib
import re
import threading

import pytest

import loadgen
from qdl import DispatchConfig, QueryDispatchLibrary, SyntheticQSL, SyntheticSpec, Timeouts
from qdl._binding import make_binding
from tests.conftest import LOADGENS, need_loadgen

from .conftest import loaded_qsl
from .echo_node import EchoNode, serve


def name_within(qdl: QueryDispatchLibrary, limit_s: float) -> str:
    """``qdl.name()``, failing the test if it has not returned after ``limit_s`` (a hang)."""
    got: list[str] = []
    asker = threading.Thread(target=lambda: got.append(qdl.name()), daemon=True)
    asker.start()
    asker.join(limit_s)
    assert got, f"name() still waiting after {limit_s} s"
    return got[0]


def test_the_name_follows_what_the_nodes_answer_now(recording):
    nodes = [EchoNode("left"), EchoNode("right")]
    with contextlib.ExitStack() as stack:
        addresses = [stack.enter_context(serve(n)) for n in nodes]
        with QueryDispatchLibrary.over_grpc(addresses, loaded_qsl(), recording) as qdl:
            assert qdl.name() == "Network SUT: 2 node(s): left, right"
            nodes[1].name = "right-v2"
            assert qdl.name() == "Network SUT: 2 node(s): left, right-v2"
            assert [n.describes for n in nodes] == [3, 3]  # connect, then once per name()
            assert [d.name for d in qdl.descriptions] == ["left", "right"]  # as at connect
        assert qdl.name() == "Network SUT: 2 node(s): left, right-v2"  # closed: not asked
        assert [n.describes for n in nodes] == [3, 3]


def test_a_stopped_node_is_named_with_its_address_not_waited_for(recording):
    alive, doomed = EchoNode("alive"), EchoNode("doomed")
    config = DispatchConfig(timeouts=Timeouts(describe=2.0))
    with serve(alive) as kept:
        with contextlib.ExitStack() as stack:
            gone = stack.enter_context(serve(doomed))
            qdl = QueryDispatchLibrary.over_grpc([kept, gone], loaded_qsl(), recording, config)
            qdl.connect()
        # ``doomed``'s server is stopped: nothing listens at its address any more.
        try:
            name = name_within(qdl, 30.0)
        finally:
            qdl.close()
    pattern = (
        rf"Network SUT: 2 node\(s\): alive, \[node doomed at {re.escape(gone)}: "
        r"Describe (failed \(UNAVAILABLE: [^\]\n]+\)|not answered within 2 s)\]"
    )
    assert re.fullmatch(pattern, name), name


def test_a_node_slower_than_the_deadline_is_named_as_not_answering(recording):
    node = EchoNode("sluggish")
    config = DispatchConfig(timeouts=Timeouts(describe=0.3))
    with (
        serve(node) as address,
        QueryDispatchLibrary.over_grpc([address], loaded_qsl(), recording, config) as qdl,
    ):
        node.describe_delay_s = 1.0
        name = name_within(qdl, 30.0)
    assert name == (
        f"Network SUT: 1 node(s): [node sluggish at {address}: Describe not answered within 0.3 s]"
    )


DEFAULT = DispatchConfig()


def _short_run(loadgen_name: str, node: EchoNode, tmp_path, config=DEFAULT, **change):
    """A short SingleStream run through a QDL on ``node``, whose attributes are changed to
    ``change`` after connect; returns the run's report, how many Describes the run sent and
    the summary's "SUT name" line."""
    binding = make_binding(loadgen_name)
    qsl = SyntheticQSL(SyntheticSpec((16,), "uint8", 32))
    settings = loadgen.TestSettings()
    settings.scenario = loadgen.TestScenario.SingleStream
    settings.mode = loadgen.TestMode.PerformanceOnly
    settings.min_query_count = 20
    settings.min_duration_ms = 100
    log = loadgen.LogSettings()
    log.log_output.outdir = str(tmp_path)
    with (
        serve(node) as address,
        QueryDispatchLibrary.over_grpc([address], qsl, binding, config) as qdl,
    ):
        for key, value in change.items():
            setattr(node, key, value)
        before = node.describes
        report = binding.run(qdl, qsl, settings, log)
        asked = node.describes - before
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    (line,) = [s for s in summary.splitlines() if s.startswith("SUT name : ")]
    return report, asked, line, address


def test_both_loadgens_log_the_name_the_node_gives_during_the_run_and_ask_as_often(tmp_path):
    need_loadgen("official")
    asked = {}
    for name in LOADGENS:
        (tmp_path / name).mkdir()
        node = EchoNode("at-connect")
        report, asked[name], line, _ = _short_run(
            name, node, tmp_path / name, name="renamed-after-connect"
        )
        assert report.aborted is None and report.finished
        assert line == "SUT name : Network SUT: 1 node(s): renamed-after-connect"
    assert asked["ours"] == asked["official"] >= 1


@pytest.mark.parametrize("loadgen_name", LOADGENS)
def test_a_node_too_slow_to_describe_is_named_and_the_run_goes_on(loadgen_name, tmp_path):
    need_loadgen(loadgen_name)
    config = DispatchConfig(timeouts=Timeouts(describe=0.2))
    report, asked, line, address = _short_run(
        loadgen_name, EchoNode("slow-describe"), tmp_path, config, describe_delay_s=1.0
    )
    assert report.aborted is None and report.finished
    assert report.validity is not None  # the run ended with a result (its validity is timing)
    assert asked >= 1
    assert line == (
        f"SUT name : Network SUT: 1 node(s): [node slow-describe at {address}: "
        "Describe not answered within 0.2 s]"
    )
