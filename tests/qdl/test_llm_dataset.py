"""LLM data sets: token-id prompts from the MLCommons file formats, and synthetic prompts."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qdl import DatasetError, SyntheticLLMSpec, read_token_file, synthetic_prompts, token_file_qsl
from qdl._exceptions import ConfigError
from qdl._wire import sample_payload

PROMPTS = [[1, 15043, 29892, 3186], [1, 306, 626], [1, 450, 4996, 17354, 1701, 2]]


def frame():
    """Shaped like the MLCommons preprocessed sets: text beside the token ids."""
    return pd.DataFrame(
        {
            "input": [f"prompt {i}" for i in range(len(PROMPTS))],
            "tok_input": PROMPTS,
            "tok_input_len": [len(p) for p in PROMPTS],
        }
    )


def write(tmp_path, kind):
    path = tmp_path / f"set.{kind}"
    if kind == "pkl":
        frame().to_pickle(path)
    elif kind == "json":
        frame().to_json(path, orient="records")
    else:
        frame().to_parquet(path)
    return str(path)


@pytest.mark.parametrize("kind", ["pkl", "json", "parquet"])
def test_each_format_gives_int32_prompts(tmp_path, kind):
    prompts = read_token_file(write(tmp_path, kind))
    assert [p.tolist() for p in prompts] == PROMPTS
    assert all(p.dtype == np.dtype("<i4") and p.ndim == 1 for p in prompts)


def test_prompts_go_on_the_wire_as_int32_little_endian(tmp_path):
    qsl = token_file_qsl(write(tmp_path, "pkl"))
    qsl.load_samples_to_ram([2])
    sample = qsl.encoded(2)
    assert (sample.dtype, sample.shape) == ("int32", (6,))
    assert sample_payload(sample.template) == np.array(PROMPTS[2], "<i4").tobytes()
    assert qsl.prompt_length(2) == 6


def test_another_column(tmp_path):
    path = tmp_path / "set.pkl"
    pd.DataFrame({"ids": PROMPTS}).to_pickle(path)
    assert len(read_token_file(str(path), "ids")) == 3


def test_a_missing_column_names_the_columns_there_are(tmp_path):
    path = write(tmp_path, "parquet")
    with pytest.raises(DatasetError) as caught:
        read_token_file(path, "input_ids")
    assert str(caught.value) == (
        f"dataset {path}: no column 'input_ids'; its columns are: input, tok_input, tok_input_len"
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([[1, 2], [1.5, 2.0]], "row 1: token ids must be integers, not float64"),
        ([[1, 2], [1, 2**31]], "row 1: a token id does not fit in int32"),
        ([[1, 2], [-(2**31) - 1]], "row 1: a token id does not fit in int32"),
        ([[1, 2], []], "row 1: expected a non-empty list of token ids"),
        ([["a", "b"]], "row 0: token ids must be integers, not <U1"),
    ],
)
def test_bad_tokens_are_named_by_row(tmp_path, values, problem):
    path = tmp_path / "set.pkl"
    pd.DataFrame({"tok_input": values}).to_pickle(path)
    with pytest.raises(DatasetError, match=f"^dataset {path}: {problem}$"):
        read_token_file(str(path))


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("set.pkl", b"", "the file is empty"),
        ("set.json", b"", "the file is empty"),
        ("set.csv", b"a,b\n", "unknown extension"),
        ("set.parquet", b"not parquet", "cannot read as parquet"),
        ("set.json", b"{not json", "cannot read as json"),
    ],
)
def test_bad_files_are_one_line(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DatasetError) as caught:
        read_token_file(str(path))
    assert problem in str(caught.value) and "\n" not in str(caught.value)


def test_a_pickle_of_something_else_is_refused(tmp_path):
    path = tmp_path / "set.pkl"
    pd.Series([1, 2]).to_pickle(path)
    with pytest.raises(DatasetError, match="holds a Series, not a table"):
        read_token_file(str(path))


def test_an_empty_table_is_refused(tmp_path):
    path = tmp_path / "set.pkl"
    pd.DataFrame({"tok_input": []}).to_pickle(path)
    with pytest.raises(DatasetError, match="column 'tok_input' has no rows"):
        read_token_file(str(path))


def test_a_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_token_file(str(tmp_path / "nope.pkl"))


def test_synthetic_prompts_are_deterministic_and_long_tailed():
    spec = SyntheticLLMSpec.parse("200:64:400")
    first, again = synthetic_prompts(spec), synthetic_prompts(spec)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], synthetic_prompts(spec, seed=1)[0])
    lengths = np.array([len(p) for p in first])
    assert len(lengths) == 400 and lengths.min() >= 1 and lengths.max() <= 1600
    assert 150 < np.median(lengths) < 260  # log-normal around 200
    assert lengths.max() > 2 * np.median(lengths)  # a long tail, as real prompt sets have
    assert all(p.dtype == np.int32 and p.min() >= 0 and p.max() < 32000 for p in first)


def test_the_count_may_be_left_to_the_benchmark():
    assert SyntheticLLMSpec.parse("200:64") == SyntheticLLMSpec(200, 64, 0)
    assert str(SyntheticLLMSpec.parse("200:64").with_count(5)) == "200:64:5"


@pytest.mark.parametrize("text", ["200", "200:0:4", "a:1:2", "1:2:3:4", "1:2:0"])
def test_a_bad_synthetic_llm_spec(text):
    with pytest.raises(ConfigError, match="expected IN:OUT:COUNT"):
        SyntheticLLMSpec.parse(text)


@pytest.mark.parametrize("missing", ["pandas", "pyarrow"])
def test_a_missing_library_says_what_to_install(tmp_path, missing):
    path = write(tmp_path, "parquet")
    # A real interpreter in which the library cannot be imported.
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from qdl import DatasetError, read_token_file\n"
        f"try: read_token_file({path!r})\n"
        "except DatasetError as exc: print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"dataset {path}: reading it needs ")
    assert "pip install 'lon[llm-data]'" in proc.stdout and missing in proc.stdout
