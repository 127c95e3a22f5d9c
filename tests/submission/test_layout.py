"""The submission layout on real files: paths, the benchmark-name refusal, placing runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadgen.submission import (
    Layout,
    ReplaceRefused,
    SubmissionError,
    mlperf_benchmarks,
    place_run,
    system_skeleton,
    unfilled,
    write_records,
)


def layout(root: Path, model: str = "resnet50", division: str = "network") -> Layout:
    return Layout(str(root), division, "Org", "lan2", model)


def test_paths_follow_the_current_checker(tmp_path):
    lay = layout(tmp_path)
    org = tmp_path / "network" / "Org"
    scenario = org / "results" / "lan2" / "resnet50" / "Server"
    assert lay.scenario_dir("Server") == str(scenario)
    assert lay.run_dir("Server", "PerformanceOnly") == str(scenario / "performance" / "run_1")
    assert lay.run_dir("Server", "SubmissionRun") == str(scenario / "performance" / "run_1")
    assert lay.run_dir("Server", "AccuracyOnly") == str(scenario / "accuracy")
    assert lay.system_json == str(org / "systems" / "lan2.json")
    assert lay.src_dir == str(org / "src")


def test_benchmarks_are_the_models_of_mlperf_conf():
    names = mlperf_benchmarks()
    assert {"resnet50", "bert", "3d-unet", "stable-diffusion-xl"} <= set(names)
    assert "*" not in names and "mlp" not in names


@pytest.mark.parametrize("division", ["closed", "network"])
def test_a_model_that_is_no_benchmark_is_refused(tmp_path, division):
    with pytest.raises(SubmissionError, match=r"--model 'mlp' is not an MLPerf benchmark"):
        layout(tmp_path, "mlp", division)


def test_the_open_division_may_name_its_own_model(tmp_path):
    assert layout(tmp_path, "mlp", "open").benchmark == "mlp"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"division": "nope"}, "--division 'nope'"),
        ({"submitter": "a/b"}, "--submitter 'a/b': must be a plain name"),
        ({"system": ".."}, "--system '..': must be a plain name"),
    ],
)
def test_bad_names_are_refused(tmp_path, kwargs, message):
    args = {"division": "network", "submitter": "Org", "system": "lan2", **kwargs}
    with pytest.raises(SubmissionError, match=message):
        Layout(str(tmp_path), args["division"], args["submitter"], args["system"], "resnet50")


def test_a_mode_that_is_no_submission_run_is_refused(tmp_path):
    with pytest.raises(SubmissionError, match="a FindPeakPerformance run is not part"):
        layout(tmp_path).run_dir("Server", "FindPeakPerformance")


def fake_run(directory: Path, result: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "mlperf_log_summary.txt").write_text(f"SUT name : x\nResult is : {result}\n")
    (directory / "mlperf_log_detail.txt").write_text(f':::MLLOG {{"result": "{result}"}}\n')
    return directory


def test_an_invalid_run_does_not_replace_a_valid_one_unless_told(tmp_path):
    lay = layout(tmp_path / "root")
    valid, invalid = fake_run(tmp_path / "v", "VALID"), fake_run(tmp_path / "i", "INVALID")
    run_1 = Path(
        place_run(lay, "Offline", "PerformanceOnly", str(valid), "# a\n", validity="VALID")
    )
    with pytest.raises(ReplaceRefused, match=r"--replace-valid allows it"):
        place_run(lay, "Offline", "PerformanceOnly", str(invalid), "# b\n", validity="INVALID")
    assert "Result is : VALID" in (run_1 / "mlperf_log_summary.txt").read_text()
    assert (run_1.parent.parent / "user.conf").read_text() == "# a\n"
    place_run(
        lay, "Offline", "SubmissionRun", str(invalid), "# b\n", validity="INVALID",
        replace_valid=True,
    )  # fmt: skip
    assert "Result is : INVALID" in (run_1 / "mlperf_log_summary.txt").read_text()
    # A VALID run replaces anything, and an INVALID one replaces an INVALID one.
    place_run(lay, "Offline", "PerformanceOnly", str(invalid), "# c\n", validity="INVALID")
    place_run(lay, "Offline", "PerformanceOnly", str(valid), "# d\n", validity="VALID")
    assert "Result is : VALID" in (run_1 / "mlperf_log_summary.txt").read_text()


def test_the_accuracy_run_keeps_the_performance_runs_user_conf(tmp_path):
    lay = layout(tmp_path / "root")
    run = fake_run(tmp_path / "run", "VALID")
    (run / "mlperf_log_accuracy.json").write_text("[]\n")
    accuracy = Path(place_run(lay, "Server", "AccuracyOnly", str(run), "# acc\n", validity=None))
    assert (accuracy / "mlperf_log_accuracy.json").read_text() == "[]\n"
    assert (accuracy.parent / "user.conf").read_text() == "# acc\n"  # none was there yet
    place_run(lay, "Server", "PerformanceOnly", str(run), "# perf\n", validity="VALID")
    place_run(lay, "Server", "AccuracyOnly", str(run), "# acc again\n", validity=None)
    assert (accuracy.parent / "user.conf").read_text() == "# perf\n"
    assert (accuracy.parent / "mlperf.conf").read_text().startswith("# The format")


NODES = [
    {"name": "a", "backend": "numpy-mlp", "version": "0.1.0"},
    {"name": "b", "backend": "numpy-mlp", "version": "0.1.0"},
]
NETWORK = {"protocol": "gRPC", "compression": "zstd", "connections": "4", "client_software": "c"}


def test_the_system_skeleton_holds_what_the_nodes_reported(tmp_path):
    doc = system_skeleton(layout(tmp_path), NODES, NETWORK)
    assert doc["division"] == "network" and doc["submitter"] == "Org"
    assert doc["is_network"] == "true"
    assert doc["number_of_nodes"] == 2
    assert doc["network_protocol"] == "gRPC"
    assert doc["number_connections"] == "4"
    assert doc["net_software_stack_sut"] == "sut-server 0.1.0 (backend numpy-mlp)"
    assert "compression zstd" in doc["sw_notes"]
    assert doc["host_processor_model_name"].startswith("FILL ME: ")
    assert doc["network_rate"].startswith("FILL ME: ")
    assert system_skeleton(layout(tmp_path, division="closed"), NODES, NETWORK)["is_network"] == (
        "false"
    )


def test_skeletons_are_written_once_and_their_markers_counted(tmp_path):
    lay = layout(tmp_path)
    written = write_records(lay, "Offline", NODES, NETWORK)
    measurements = Path(lay.scenario_dir("Offline")) / "measurements.json"
    assert set(written) == {
        lay.system_json,
        str(measurements),
        str(Path(lay.src_dir) / "README.md"),
    }
    assert json.loads(measurements.read_text())["retraining"].startswith("FILL ME")
    Path(lay.system_json).write_text('{"filled": "by a person"}\n')
    assert write_records(lay, "Offline", NODES[:1], NETWORK) == []
    assert json.loads(Path(lay.system_json).read_text()) == {"filled": "by a person"}
    counts = unfilled([lay.system_json, str(measurements)])
    assert counts == {str(measurements): 5}


def test_placing_copies_the_logs_but_not_the_trace(tmp_path):
    run = fake_run(tmp_path / "run", "VALID")
    (run / "mlperf_log_accuracy.json").write_text("[]\n")
    (run / "mlperf_log_trace.json").write_text('{"traceEvents":[]}\n')
    (run / "report.html").write_text("<html></html>\n")
    target = Path(
        place_run(layout(tmp_path / "root"), "Offline", "PerformanceOnly", str(run), "# a\n",
                  validity="VALID")
    )  # fmt: skip
    assert sorted(p.name for p in target.iterdir()) == [
        "mlperf_log_accuracy.json", "mlperf_log_detail.txt", "mlperf_log_summary.txt"
    ]  # fmt: skip
