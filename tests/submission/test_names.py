"""Benchmark names: the checker's against mlperf.conf's keys, and the Interactive scenario."""

from __future__ import annotations

import importlib.util

import pytest

from loadgen.submission import SubmissionError, check_benchmark, conf_key, resolve

from .oracle_dir import mlperf_inference_dir

# The checker's v6.1 models that mlperf.conf 6.0.17 configures no settings for.
NOT_IN_MLPERF_CONF = {"qwen3.6-27b", "e2e-rag-qna", "e2e-rag-db"}


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("llama2-70b-99", "llama2-70b"),
        ("llama2-70b-99.9", "llama2-70b"),
        ("llama2-70b", "llama2-70b"),
        ("llama3.1-8b", "llama3_1-8b"),
        ("llama3_1-8b", "llama3_1-8b"),
        ("llama3.1-8b-edge", "llama3_1-8b-edge"),
        ("llama3.1-405b", "llama3_1-405b"),
        ("resnet", "resnet50"),
        ("resnet50", "resnet50"),
        ("bert-99.9", "bert"),
        ("3d-unet-99", "3d-unet"),
        ("yolo-95", "yolo"),
        ("wan-2.2-t2v-a14b", "wan-2.2-t2v-a14b"),
        ("deepseek-r1", "deepseek-r1"),
        ("gpt-oss-120b", "gpt-oss-120b"),
    ],
)
def test_the_checkers_names_map_to_mlperf_conf_keys(name, key):
    assert conf_key(name) == key


def test_interactive_runs_the_server_scenario_of_the_interactive_key():
    bench = resolve("llama2-70b-99.9", "Interactive")
    assert (bench.name, bench.conf_key, bench.scenario, bench.loadgen_scenario) == (
        "llama2-70b-99.9", "llama2-70b-interactive", "Interactive", "Server",
    )  # fmt: skip
    assert resolve("llama3.1-8b", "Server").conf_key == "llama3_1-8b"


def test_a_benchmark_without_interactive_settings_is_refused_naming_those_with_them():
    with pytest.raises(SubmissionError) as caught:
        resolve("bert-99", "Interactive")
    message = str(caught.value)
    assert "--model bert-99 has no Interactive scenario" in message
    assert "llama2-70b" in message and "deepseek-r1" in message


def test_an_unknown_name_names_the_close_ones():
    with pytest.raises(SubmissionError, match="did you mean llama2-70b"):
        resolve("llama2-70", "Server")
    with pytest.raises(SubmissionError, match="use --division open for a model of your own"):
        check_benchmark("my-model", "network")
    check_benchmark("my-model", "open")  # the open division allows its own models
    assert resolve("my-model", "Offline", "open").conf_key == "my-model"


def test_every_v61_model_of_the_checker_that_mlperf_conf_configures_maps():
    path = (
        mlperf_inference_dir()
        / "tools" / "submission" / "submission_checker" / "constants.py"
    )  # fmt: skip
    spec = importlib.util.spec_from_file_location("checker_constants", path)
    assert spec is not None and spec.loader is not None
    constants = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(constants)
    config = constants.MODEL_CONFIG["v6.1"]
    unmapped = {name for name in config["models"] if conf_key(name) is None}
    assert unmapped == NOT_IN_MLPERF_CONF
    for name, scenarios in config["optional-scenarios-datacenter"].items():
        if "Interactive" in scenarios and name != "qwen3-vl-235b-a22b":  # no -interactive key
            assert resolve(name, "Interactive").conf_key.endswith("-interactive"), name
