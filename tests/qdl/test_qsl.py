"""The QSLs: .npy directories (good and bad), synthetic samples, loading and unloading."""

from __future__ import annotations

import numpy as np
import pytest

from qdl import (
    ConfigError,
    DatasetError,
    NpyDirectoryQSL,
    SampleNotLoaded,
    SyntheticQSL,
    SyntheticSpec,
)


def write_npys(directory, arrays):
    directory.mkdir(exist_ok=True)
    for name, array in arrays.items():
        np.save(directory / name, array)
    return directory


def test_npy_directory_indexes_files_in_name_order(tmp_path):
    arrays = {f"s{i:02d}.npy": np.full((2, 3), i, dtype=np.int16) for i in (10, 2, 7)}
    qsl = NpyDirectoryQSL(write_npys(tmp_path / "d", arrays))
    assert qsl.total_sample_count() == 3 and qsl.performance_sample_count() == 3
    qsl.load_samples_to_ram([0, 2])
    first, last = qsl.encoded(0), qsl.encoded(2)
    assert first.payload == np.full((2, 3), 2, dtype="<i2").tobytes()  # s02 sorts first
    assert last.payload == np.full((2, 3), 10, dtype="<i2").tobytes()
    assert (first.dtype, first.shape, first.uncompressed_size) == ("int16", (2, 3), 12)
    with pytest.raises(SampleNotLoaded):
        qsl.encoded(1)
    qsl.unload_samples_from_ram([0, 2])
    assert qsl.loaded_count == 0


def test_npy_samples_go_out_little_endian_and_contiguous(tmp_path):
    big = np.arange(6, dtype=">u4").reshape(2, 3).T  # big-endian, not C-contiguous
    qsl = NpyDirectoryQSL(write_npys(tmp_path / "d", {"a.npy": big}))
    qsl.load_samples_to_ram([0])
    assert qsl.encoded(0).payload == np.ascontiguousarray(big.astype("<u4")).tobytes()
    assert qsl.encoded(0).shape == (3, 2)


def test_missing_dir(tmp_path):
    with pytest.raises(DatasetError, match=f"dataset directory {tmp_path}/nope does not exist"):
        NpyDirectoryQSL(tmp_path / "nope")


def test_not_a_dir(tmp_path):
    f = tmp_path / "file.npy"
    f.write_bytes(b"")
    with pytest.raises(DatasetError, match="is not a directory"):
        NpyDirectoryQSL(f)


def test_empty_dir(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DatasetError, match="is empty; it needs .npy files"):
        NpyDirectoryQSL(tmp_path / "d")


def test_a_non_npy_file_is_named(tmp_path):
    d = write_npys(tmp_path / "d", {"a.npy": np.zeros(2)})
    (d / "README.txt").write_text("hi")
    with pytest.raises(DatasetError, match=r"README.txt: not a .npy file"):
        NpyDirectoryQSL(d)


def test_a_corrupt_npy_file_is_named_before_the_run(tmp_path):
    d = write_npys(tmp_path / "d", {"a.npy": np.zeros(2)})
    (d / "b.npy").write_bytes(b"garbage, not numpy")
    with pytest.raises(DatasetError, match=r"b.npy: not a valid .npy file"):
        NpyDirectoryQSL(d)


def test_an_object_array_is_refused(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    np.save(d / "a.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DatasetError, match="dtype object is not numeric"):
        NpyDirectoryQSL(d)


def test_performance_count_default_and_override():
    spec = SyntheticSpec((2,), "uint8", 5000)
    assert SyntheticQSL(spec).performance_sample_count() == 1024
    assert SyntheticQSL(SyntheticSpec((2,), "uint8", 10)).performance_sample_count() == 10
    assert SyntheticQSL(spec, performance_count=77).performance_sample_count() == 77
    with pytest.raises(ConfigError, match=r"performance count must be 1..5000"):
        SyntheticQSL(spec, performance_count=5001)


def test_synthetic_samples_are_deterministic_and_distinct():
    spec = SyntheticSpec.parse("8x8x3:uint8:100")
    a, b = SyntheticQSL(spec), SyntheticQSL(spec)
    a.load_samples_to_ram([5, 6])
    b.load_samples_to_ram([6, 5])
    assert a.encoded(5) == b.encoded(5)
    assert a.encoded(5).payload != a.encoded(6).payload
    assert len(a.encoded(5).payload) == 192
    other = SyntheticQSL(spec, seed=1)
    other.load_samples_to_ram([5])
    assert other.encoded(5).payload != a.encoded(5).payload


@pytest.mark.parametrize("dtype", ["float32", "int64", "float16", "bool"])
def test_synthetic_dtypes(dtype):
    qsl = SyntheticQSL(SyntheticSpec((3, 5), dtype, 2))
    qsl.load_samples_to_ram([1])
    s = qsl.encoded(1)
    assert s.dtype == dtype and s.shape == (3, 5)
    assert s.uncompressed_size == 15 * np.dtype(dtype).itemsize


def test_synthetic_spec_round_trips():
    spec = SyntheticSpec.parse("224x224x3:uint8:1024")
    assert spec == SyntheticSpec((224, 224, 3), "uint8", 1024)
    assert str(spec) == "224x224x3:uint8:1024"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("224x224x3:uint8", "expected SHAPE:DTYPE:COUNT"),
        ("224*224:uint8:10", "bad SHAPE '224\\*224'"),
        ("224x0:uint8:10", "every dimension must be >= 1"),
        ("4:complex64:10", "bad DTYPE 'complex64'"),
        ("4:float:10", "bad DTYPE 'float'"),
        ("4:banana:10", "bad DTYPE 'banana'"),
        ("4:uint8:0", "COUNT must be a whole number >= 1"),
        ("4:uint8:ten", "COUNT must be a whole number >= 1"),
    ],
)
def test_bad_synthetic_specs_are_named(text, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticSpec.parse(text)
