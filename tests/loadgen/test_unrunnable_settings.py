"""run_test refuses what no run can use, and keeps the official fallbacks for the rest."""

from __future__ import annotations

import math
import re

import pytest

import loadgen as lg


def run(tmp_path, scenario: str, **fields: object) -> None:
    def issue(samples):
        lg.QuerySamplesComplete([lg.QuerySampleResponse(s.id, 0, 0) for s in samples])

    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda _: None, lambda _: None)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario[scenario]
    settings.min_duration_ms = 0
    settings.min_query_count = 1
    for name, value in fields.items():
        setattr(settings, name, value)
    log = lg.LogSettings()
    log.log_output.outdir = str(tmp_path)
    log.enable_trace = False
    lg.StartTestWithLogSettings(sut, qsl, settings, log, "")


@pytest.mark.parametrize(
    ("scenario", "fields", "message"),
    [
        ("Server", {"server_target_qps": math.inf}, "target_qps is inf"),
        ("Offline", {"offline_expected_qps": math.inf}, "target_qps is inf"),
        # Every query at 0 ns: the official generation never fills the duration.
        ("SingleStream", {"single_stream_expected_latency_ns": 0, "min_duration_ms": 1000},
         "single_stream_expected_latency_ns is 0 with min_duration_ms 1000"),
        ("MultiStream", {"multi_stream_expected_latency_ns": 0, "min_duration_ms": 1},
         "multi_stream_expected_latency_ns is 0 with min_duration_ms 1"),
        ("SingleStream", {"single_stream_expected_latency_ns": 0,
                          "sample_concatenate_permutation": True},
         "single_stream_expected_latency_ns is 0 with sample_concatenate_permutation"),
        ("SingleStream", {"single_stream_expected_latency_ns": -5.0},
         "single_stream_expected_latency_ns must be a positive number of ns (or 0), got -5.0"),
        # user.conf "min_duration = -5" as the official parser reads it: 2**64 - 5 ms.
        ("Offline", {"min_duration_ms": 2**64 - 5},
         "would pre-generate 2.03e+16 samples"),
        ("Server", {"server_target_qps": 1e9, "min_duration_ms": 600_000},
         "would pre-generate 600,000,000,000 samples (about 138,000 GB)"),
    ],
)  # fmt: skip
def test_settings_no_run_can_use_are_a_value_error(tmp_path, scenario, fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        run(tmp_path, scenario, **fields)


@pytest.mark.parametrize("qps", [-5.0, math.nan])
def test_negative_or_nan_qps_falls_back_to_1_as_officially(tmp_path, qps):
    run(tmp_path, "Server", server_target_qps=qps)
    detail = (tmp_path / "mlperf_log_detail.txt").read_text()
    assert "Invalid value for server_target_qps requested." in detail
    assert '"effective_target_qps", "value": 1' in detail.replace(" 1.0", " 1")
