"""Benchmark names: the submission checker's names map to mlperf.conf's keys."""

from __future__ import annotations

import importlib.util
import os

import pytest

from loadgen import benchmark_names as names
from loadgen import config as loadgen_config
from loadgen.benchmark_names import BenchmarkNameError


@pytest.mark.parametrize(
    ("name", "key", "result"),
    [
        ("llama2-70b-99", "llama2-70b", "llama2-70b-99"),
        ("llama2-70b-99.9", "llama2-70b", "llama2-70b-99.9"),
        ("llama3.1-8b", "llama3_1-8b", "llama3.1-8b"),
        ("llama3_1-8b", "llama3_1-8b", "llama3_1-8b"),  # the checker maps it itself
        ("llama3.1-8b-edge", "llama3_1-8b-edge", "llama3.1-8b-edge"),
        ("deepseek-r1", "deepseek-r1", "deepseek-r1"),
        ("gpt-oss-120b", "gpt-oss-120b", "gpt-oss-120b"),
        ("resnet50", "resnet50", "resnet50"),
        ("resnet", "resnet50", "resnet"),
        ("bert-99", "bert", "bert-99"),
        ("bert-99.9", "bert", "bert-99.9"),
        ("3d-unet-99.9", "3d-unet", "3d-unet-99.9"),
        ("yolo-95", "yolo", "yolo-95"),
        ("stable-diffusion-xl", "stable-diffusion-xl", "stable-diffusion-xl"),
    ],
)
def test_checker_names_map_to_mlperf_conf_keys(name, key, result):
    benchmark = names.resolve(name)
    assert (benchmark.conf_key, benchmark.known) == (key, True)
    assert names.result_name(benchmark) == result


def test_a_key_with_two_accuracy_targets_must_say_which_for_a_submission():
    with pytest.raises(BenchmarkNameError, match="llama2-70b-99 or llama2-70b-99.9"):
        names.result_name(names.resolve("llama2-70b"))


def test_an_unknown_name_is_one_line_naming_the_close_ones():
    with pytest.raises(BenchmarkNameError) as caught:
        names.resolve("llama2-70")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--model 'llama2-70' is not an MLPerf benchmark; did you mean ")
    assert "llama2-70b-99" in message and "--division open" in message


def test_the_open_division_reads_its_own_name():
    benchmark = names.resolve("my-model", "open")
    assert (benchmark.conf_key, benchmark.known) == ("my-model", False)
    assert names.result_name(benchmark) == "my-model"


def test_interactive_reads_the_interactive_key_in_the_server_scenario():
    assert names.resolve("llama2-70b-99").settings_key("Interactive") == (
        "llama2-70b-interactive",
        "Server",
    )
    assert names.resolve("llama3.1-8b").settings_key("Interactive") == (
        "llama3_1-8b-interactive",
        "Server",
    )
    settings = loadgen_config.load_settings("llama2-70b-interactive", "Server")
    assert settings.ttft_latency == 450_000_000
    assert settings.tpot_latency == 40_000_000
    assert settings.use_token_latencies


def test_interactive_without_interactive_settings_names_those_that_have_them():
    with pytest.raises(BenchmarkNameError) as caught:
        names.resolve("bert-99").settings_key("Interactive")
    message = str(caught.value)
    assert "--model bert-99 has no Interactive settings" in message
    assert "llama2-70b-99.9" in message and "deepseek-r1" in message
    assert "gpt-oss-120b" in message and "resnet" not in message


def test_llama2_70b_server_measures_token_latencies():
    key, scenario = names.resolve("llama2-70b-99").settings_key("Server")
    settings = loadgen_config.load_settings(key, scenario)
    assert settings.ttft_latency == 2_000_000_000
    assert settings.tpot_latency == 200_000_000
    assert settings.use_token_latencies


def _checker_constants():
    root = os.environ.get("MLPERF_INFERENCE_DIR")
    if not root:
        pytest.skip("MLPERF_INFERENCE_DIR is not set")
    path = os.path.join(root, "tools", "submission", "submission_checker", "constants.py")
    spec = importlib.util.spec_from_file_location("checker_constants", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MODEL_CONFIG["v6.1"]


def test_every_current_checker_name_that_mlperf_conf_configures_maps():
    config = _checker_constants()
    keys = names.mlperf_conf_models()
    unmapped = []
    for model in config["models"]:
        key = names.conf_key(model)
        if key is None:
            unmapped.append(model)
            continue
        # The checker reads the results directory back as this very benchmark.
        assert names.result_name(names.resolve(model)) == model
        assert key in keys
    # What maps to nothing has no line in mlperf.conf under any spelling.
    for model in unmapped:
        stem = model.replace("llama3.1", "llama3_1")
        assert not any(k.startswith(stem) for k in keys), model
    assert "llama2-70b-99.9" not in unmapped and "llama3.1-8b" not in unmapped
    # Every model with an Interactive scenario and -interactive settings can run it.
    for model, scenarios in config["optional-scenarios-datacenter"].items():
        key = names.conf_key(model)
        if "Interactive" in scenarios and f"{key}-interactive" in keys:
            assert model in names.interactive_benchmarks(), model
    assert {"llama2-70b-99.9", "llama3.1-8b", "deepseek-r1", "gpt-oss-120b"} <= set(
        names.interactive_benchmarks()
    )
