"""lon-accuracy: the reference model agrees with numpy-mlp, and real runs score what they should."""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from lon._accuracy import (
    AccuracyEntry,
    MLPModel,
    check_accuracy_log,
    expected_classes,
    features,
    score,
)
from lon._accuracy_cli import main
from lon._nodes import running_nodes, sut_server_command
from qdl._qsl import SyntheticQSL, SyntheticSpec, synthetic_sample
from tests.conftest import FINISHED, LOADGENS, LON_RUN, ROOT, need_loadgen

# The installed console script when there is one (it is declared in pyproject.toml).
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "lon-accuracy")
LON_ACCURACY = [_SCRIPT] if os.path.isfile(_SCRIPT) else [sys.executable, "-m", "lon._accuracy_cli"]
# float32 samples: numpy-mlp spreads them over all classes (uint8 ones mostly land in one class,
# which would let a node that always answers the same class look accurate).
SPEC = "8x8x3:float32:128"
CORRUPTING = "tests.lon.corrupting_mlp:CorruptingMLP"
# The corrupting node's model differs from the defaults, so the flags must reach the reference.
ODD_MODEL = ("--seed", "5", "--hidden", "16", "--classes", "7")
ODD_FLAGS = ["--mlp-seed", "5", "--hidden", "16", "--classes", "7"]
# What the official accuracy.txt parser reads (the submission checker's "acc" pattern).
CHECKER_ACC = re.compile(r"^(?:\{\"accuracy|accuracy)[\": ]*=?\s*([\d\.]+).*")


# --- the reference model against the node's implementation ---------------------------------


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        ("8x8x3:uint8:40", MLPModel()),
        ("5x7:float32:40", MLPModel(seed=3, hidden=9, classes=4)),
        ("3x4x4:int16:40", MLPModel(seed=1, hidden=32, classes=12)),
        ("2x2x2:float16:40", MLPModel()),
        ("6:int64:40", MLPModel(seed=7)),
        ("17:uint16:40", MLPModel(hidden=1, classes=1)),
        ("4x4:float64:40", MLPModel(classes=3)),
    ],
)
def test_reference_agrees_with_the_numpy_mlp_backend(spec, model):
    from sut_server.backends.base import InferRequest
    from sut_server.backends.numpy_mlp import NumpyMLPBackend, make_weights

    parsed = SyntheticSpec.parse(spec)
    inputs = int(np.prod(parsed.shape))
    for ours, theirs in zip(
        model.weights(inputs), make_weights(model.seed, inputs, model.hidden, model.classes)
    ):
        assert np.array_equal(ours, theirs)
    qsl = SyntheticQSL(parsed, seed=11)
    qsl.load_samples_to_ram(list(range(parsed.count)))
    requests = []
    for i in range(parsed.count):
        encoded = qsl.encoded(i)
        requests.append(InferRequest(i, encoded.payload, encoded.dtype, encoded.shape))
    backend = NumpyMLPBackend(
        {"seed": str(model.seed), "hidden": str(model.hidden), "classes": str(model.classes)}
    )
    answers = [int.from_bytes(r, "little", signed=True) for r in backend.infer(requests)]
    expected = expected_classes(parsed, range(parsed.count), synthetic_seed=11, model=model)
    assert answers == [expected[i] for i in range(parsed.count)]


def test_synthetic_sample_regenerates_what_the_qsl_sends():
    spec = SyntheticSpec.parse("3x5:int16:9")
    qsl = SyntheticQSL(spec, seed=4)
    qsl.load_samples_to_ram([8, 2])
    for i in (8, 2):
        assert synthetic_sample(spec, 4, i).astype("<i2").tobytes() == qsl.encoded(i).payload
    assert not np.array_equal(synthetic_sample(spec, 4, 2), synthetic_sample(spec, 5, 2))
    with pytest.raises(IndexError, match="out of range 0..8"):
        synthetic_sample(spec, 4, 9)


def test_uint8_features_are_scaled_and_others_are_not():
    assert features(np.array([[0, 255]], dtype=np.uint8)).tolist() == [0.0, 1.0]
    assert features(np.array([[-3, 200]], dtype=np.int16)).tolist() == [-3.0, 200.0]


def test_the_float_data_set_spreads_over_the_classes():
    spec = SyntheticSpec.parse(SPEC)
    counts = collections.Counter(expected_classes(spec, range(spec.count)).values())
    assert len(counts) >= 6 and max(counts.values()) < spec.count / 3


# --- scoring ---------------------------------------------------------------------------------


def answer(class_id: int) -> bytes:
    return class_id.to_bytes(4, "little", signed=True)


def test_score_counts_first_entries_once_and_flags_the_rest():
    expected = {0: 3, 1: 1, 2: 0, 3: 2}
    entries = [
        AccuracyEntry(2, answer(0)),  # right
        AccuracyEntry(0, answer(4)),  # wrong
        AccuracyEntry(2, answer(0)),  # duplicate, same answer
        AccuracyEntry(1, b"\x01\x00"),  # malformed
        AccuracyEntry(0, answer(3)),  # duplicate that would have been right: still not scored
    ]
    report = score(entries, expected, count=6)
    assert (report.total, report.good, report.entries) == (3, 1, 5)
    assert (report.malformed, report.duplicates, report.disagreeing, report.missing) == (1, 2, 1, 3)
    assert report.accuracy == pytest.approx(100 / 3)
    assert [(m.qsl_idx, m.expected, m.found) for m in report.mismatches] == [
        (0, 3, 4),
        (1, 1, None),
    ]
    assert json.loads(report.result_line()) == {"accuracy": 33.333333, "good": 1, "total": 3}


# --- real runs: lon-run over sut-server nodes, then lon-accuracy -----------------------------


@pytest.fixture(scope="module")
def nodes():
    commands = [
        sut_server_command("numpy-mlp", extra=("--name", "mlp-a")),
        sut_server_command("numpy-mlp", extra=("--name", "mlp-b")),
        sut_server_command(
            CORRUPTING,
            extra=(
                "--name",
                "liar",
                *ODD_MODEL,
                "--backend-opt",
                "wrong_every=4",
                "--backend-opt",
                "short_every=8",
            ),
        ),  # fmt: skip
    ]
    with running_nodes(commands) as started:
        yield {n.name: n.address for n in started}


def lon_run(addresses, output, *extra, loadgen="ours", spec=SPEC):
    proc = subprocess.run(
        [*LON_RUN, "--nodes", ",".join(addresses), "--output", str(output),
         "--synthetic", spec, "--loadgen", loadgen, "--set", "min_duration_ms=200",
         "--set", "offline_expected_qps=2000", *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode in FINISHED, proc.stderr
    return output


def lon_accuracy(*argv):
    return subprocess.run(
        [*LON_ACCURACY, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("lg", "mode"),
    [*((lg, "AccuracyOnly") for lg in LOADGENS), ("ours", "SubmissionRun")],
)
def test_accuracy_run_over_two_numpy_mlp_nodes_scores_100(nodes, tmp_path, lg, mode):
    need_loadgen(lg)
    out = lon_run([nodes["mlp-a"], nodes["mlp-b"]], tmp_path / "run", "--scenario", "Offline",
                  "--mode", mode, "--compression", "zstd", loadgen=lg)  # fmt: skip
    stats = json.loads((out / "lon_node_stats.json").read_text())
    assert all(n["samples"] > 0 for n in stats["nodes"])  # both nodes answered
    proc = lon_accuracy("--accuracy-log", str(out), "--synthetic", SPEC, "--output")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    first, counts = proc.stdout.splitlines()
    assert first == '{"accuracy": 100.0, "good": 128, "total": 128}'
    assert counts == (
        f"scored 128 of 128 samples of {SPEC} from 128 log entries: 0 malformed answer(s) "
        "(not 4 bytes), 0 duplicate(s) (0 disagreeing), 0 missing"
    )
    assert (out / "accuracy.txt").read_text() == proc.stdout
    assert stats["dataset"] == {"synthetic": SPEC, "synthetic_seed": 0}
    recorded = lon_accuracy("--accuracy-log", str(out))  # the data set comes from the record
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == proc.stdout


def test_a_node_with_wrong_answers_scores_exactly_the_expected_fraction(nodes, tmp_path):
    out = lon_run([nodes["liar"]], tmp_path / "run", "--scenario", "Offline",
                  "--mode", "AccuracyOnly")  # fmt: skip
    log = out / "mlperf_log_accuracy.json"
    spec = SyntheticSpec.parse(SPEC)
    # The node reports its plugin backend, so lon-accuracy refuses the run as it lon-run
    # recorded it; the log alone, with the model given, is the user's own call.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copyfile(log, alone / log.name)
    refused = lon_accuracy("--accuracy-log", str(out))
    assert refused.returncode == 2
    assert f"the nodes ran backend {CORRUPTING}, not numpy-mlp" in refused.stderr
    log = alone / log.name
    # Index 8k+1 gets a 2-byte answer (16 of 128), index 4k a wrong class (32): 80 right.
    report = check_accuracy_log(log, spec, model=MLPModel(seed=5, hidden=16, classes=7))
    assert (report.good, report.total, report.malformed, report.duplicates) == (80, 128, 16, 0)
    assert report.accuracy == 62.5
    assert sorted(m.qsl_idx for m in report.mismatches) == sorted(
        [i for i in range(128) if i % 4 == 0] + [i for i in range(128) if i % 8 == 1]
    )
    assert all(m.found == (m.expected + 1) % 7 for m in report.mismatches if m.found is not None)

    proc = lon_accuracy("--accuracy-log", str(log), "--synthetic", SPEC, *ODD_FLAGS,
                        "--output", str(tmp_path / "acc.txt"), "--min-accuracy", "60")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == '{"accuracy": 62.5, "good": 80, "total": 128}'
    assert "16 malformed answer(s)" in proc.stdout
    assert CHECKER_ACC.match((tmp_path / "acc.txt").read_text()).group(1) == "62.5"

    proc = lon_accuracy("--accuracy-log", str(log), "--synthetic", SPEC, *ODD_FLAGS,
                        "--min-accuracy", "99")  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr == "lon-accuracy: accuracy 62.5% is below --min-accuracy 99%\n"

    # Scored against the default model instead of the node's, most answers are wrong.
    wrong_model = check_accuracy_log(log, spec)
    assert wrong_model.accuracy < 40

    (node,) = json.loads((out / "lon_node_stats.json").read_text())["nodes"]
    assert node["backend_options"] == {"seed": "5", "hidden": "16", "classes": "7"}


def test_nodes_of_different_models_are_not_scored_as_one(tmp_path):
    odd = sut_server_command("numpy-mlp", extra=("--name", "odd", *ODD_MODEL))
    plain = sut_server_command("numpy-mlp", extra=("--name", "plain"))
    with running_nodes([plain, odd]) as started:
        out = lon_run([n.address for n in started], tmp_path / "run", "--scenario", "Offline",
                      "--mode", "AccuracyOnly")  # fmt: skip
    proc = lon_accuracy("--accuracy-log", str(out))
    assert proc.returncode == 2
    assert proc.stderr == (
        f"lon-accuracy: error: the nodes in {out / 'lon_node_stats.json'} ran with different "
        "seed values (0, 5): their answers are not one model's; give --mlp-seed to score "
        "against one of them\n"
    )
    chosen = lon_accuracy("--accuracy-log", str(out), "--mlp-seed", "0", "--hidden", "64",
                          "--classes", "10")  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    assert 0 < json.loads(chosen.stdout.splitlines()[0])["accuracy"] < 100


def test_multistream_padding_duplicates_are_scored_once(nodes, tmp_path):
    out = lon_run([nodes["mlp-a"]], tmp_path / "run", "--scenario", "MultiStream",
                  "--mode", "AccuracyOnly", spec="8x8x3:float32:100")  # fmt: skip
    proc = lon_accuracy("--accuracy-log", str(out), "--synthetic", "8x8x3:float32:100", "-v")
    assert proc.returncode == 0, proc.stderr
    first, counts = proc.stdout.splitlines()
    assert first == '{"accuracy": 100.0, "good": 100, "total": 100}'
    entries = json.loads((out / "mlperf_log_accuracy.json").read_text())
    assert len(entries) > 100  # 8 samples per query: the last query repeats some
    assert f"from {len(entries)} log entries" in counts
    assert f"{len(entries) - 100} duplicate(s) (0 disagreeing), 0 missing" in counts


# --- bad input -------------------------------------------------------------------------------


def write_log(tmp_path, text):
    path = tmp_path / "mlperf_log_accuracy.json"
    path.write_text(text)
    return str(path)


GOOD_ENTRY = '{ "seq_id" : 0, "qsl_idx" : 3, "data" : "01000000" }'


def run_main(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("lon-accuracy: error: ")
    return err


@pytest.mark.parametrize(
    ("log_text", "message"),
    [
        pytest.param(None, "mlperf_log_accuracy.json does not exist", id="missing"),
        pytest.param(f"[\n{GOOD_ENTRY},\n{{ \"seq_id\" : 1, \"qsl",
                     "not valid JSON at line 3 column", id="cut-short"),
        pytest.param('{"qsl_idx": 3}', "expected a JSON list of entries", id="not-a-list"),
        pytest.param("[\n]\n", "has no entries; only AccuracyOnly and SubmissionRun runs",
                     id="empty"),
        pytest.param(f'[{GOOD_ENTRY}, {{"qsl_idx": 4}}]',
                     "entry 1: data must be a hex string, got None", id="no-data"),
        pytest.param('[{"qsl_idx": 4, "data": "0G"}]', "entry 0: data '0G' is not hex",
                     id="not-hex"),
        pytest.param('[{"qsl_idx": "4", "data": "00"}]',
                     "entry 0: qsl_idx must be a whole number >= 0, got '4'", id="text-index"),
        pytest.param('[{"qsl_idx": -1, "data": "00"}]',
                     "qsl_idx must be a whole number >= 0, got -1", id="negative-index"),
        pytest.param('[[4, "00"]]', "entry 0: expected an object with qsl_idx and data",
                     id="not-an-object"),
        pytest.param(f'[{GOOD_ENTRY}, {{"qsl_idx": 128, "data": "00"}}]',
                     f"entry 1: qsl_idx 128 is out of range 0..127 for --synthetic {SPEC}",
                     id="index-out-of-range"),
    ],
)  # fmt: skip
def test_a_bad_log_is_named_in_one_line_and_exit_2(tmp_path, capsys, log_text, message):
    path = write_log(tmp_path, log_text) if log_text is not None else str(tmp_path)
    err = run_main(capsys, ["--accuracy-log", path, "--synthetic", SPEC])
    assert message in err
    expected_path = path if log_text is not None else f"{path}/mlperf_log_accuracy.json"
    assert f"accuracy log {expected_path}" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--synthetic", "8x8:float32"], "expected SHAPE:DTYPE:COUNT", id="spec"),
        pytest.param(["--synthetic", "8x8:bool:16"],
                     "numpy-mlp takes integer or float samples, not bool", id="bool-spec"),
        pytest.param(["--classes", "0"], "--classes must be >= 1, got 0", id="classes"),
        pytest.param(["--synthetic-seed", "-1"], "--synthetic-seed must be >= 0", id="seed"),
        pytest.param(["--mlp-seed", "-2"], "--mlp-seed must be >= 0, got -2", id="mlp-seed"),
        pytest.param(["--output", "/no/such/dir/accuracy.txt"],
                     "--output /no/such/dir/accuracy.txt: cannot write", id="output"),
        pytest.param(["--hidden", "many"], "argument --hidden: invalid int value: 'many'",
                     id="not-a-number"),
    ],
)  # fmt: skip
def test_a_bad_option_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    path = write_log(tmp_path, f"[{GOOD_ENTRY}]")
    argv = ["--accuracy-log", path]
    if "--synthetic" not in extra:
        argv += ["--synthetic", SPEC]
    assert message in run_main(capsys, [*argv, *extra])


def test_the_real_command_prints_no_traceback(tmp_path):
    path = write_log(tmp_path, "[\n{ broken")
    proc = lon_accuracy("--accuracy-log", path, "--synthetic", SPEC)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == (
        f"lon-accuracy: error: accuracy log {path}: not valid JSON at line 2 column 3 "
        "(Expecting property name enclosed in double quotes); a run that was cut short may "
        "leave it unfinished\n"
    )


def test_without_synthetic_and_without_a_run_record_is_bad_input(tmp_path, capsys):
    path = write_log(tmp_path, f"[{GOOD_ENTRY}]")
    err = run_main(capsys, ["--accuracy-log", path])
    assert "give --synthetic SHAPE:DTYPE:COUNT" in err
    assert "lon_node_stats.json does not record a synthetic data set" in err


@pytest.mark.parametrize(
    ("backends", "ran"),
    [
        (["my.module:Model"], "backend my.module:Model"),
        (["numpy-mlp", "synthetic"], "mixed backends numpy-mlp, synthetic"),
    ],
)
def test_a_run_of_another_model_is_refused_not_scored(tmp_path, capsys, backends, ran):
    """lon-accuracy knows numpy-mlp's answers only; scored against them, another model's
    answers would print a meaningless percentage."""
    log = write_log(tmp_path, '[{"seq_id": 0, "qsl_idx": 0, "data": "00000000"}]')
    record = tmp_path / "lon_node_stats.json"
    record.write_text(
        json.dumps(
            {
                "dataset": {"synthetic": SPEC, "synthetic_seed": 0},
                "nodes": [{"name": f"n{i}", "backend": b} for i, b in enumerate(backends)],
            }
        )
    )
    err = run_main(capsys, ["--accuracy-log", str(log)])
    assert err == (
        f"lon-accuracy: error: {record}: the nodes ran {ran}, not numpy-mlp; lon-accuracy "
        "scores only numpy-mlp and onnx runs (score this log with your model's accuracy script)\n"
    )
