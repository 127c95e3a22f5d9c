"""Query sample libraries that hand the QDL ready-to-send samples.

Only the samples the LoadGen loads (the performance set, or an accuracy chunk) are held in RAM.
Loading is untimed, so that is where a sample is converted to bytes and, if configured,
compressed; at issue time the QDL only copies the prepared payload into a message.
"""

from __future__ import annotations

import abc
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

import loadgen

from ._compression import Compressor
from ._config import DEFAULT_PERFORMANCE_COUNT, NO_COMPRESSION, CompressionConfig
from ._exceptions import ConfigError, DatasetError, SampleNotLoaded
from ._memory import available_bytes, check_fits
from ._wire import payload_view, sample_template


@dataclass(frozen=True, slots=True)
class EncodedSample:
    """One loaded sample, ready for the wire.

    ``template`` is the serialized ``lon.v1.Sample`` minus its response id (see ``qdl._wire``);
    the payload lives only inside it, so RAM holds each loaded sample once. ``payload_size``:
    the payload's length, the template's last field (-1: unknown, parsed out when needed).
    """

    template: bytes
    compression: int  # lon.v1.Compression value
    uncompressed_size: int
    dtype: str
    shape: tuple[int, ...]
    payload_size: int = -1

    @property
    def payload(self) -> bytes:
        """The (maybe compressed) payload, copied out of the template; not for hot paths."""
        return bytes(self.payload_view)

    @property
    def payload_view(self) -> bytes | memoryview:
        """The payload inside the template, not copied (when ``payload_size`` is known)."""
        return payload_view(self.template, self.payload_size)


class SampleSource(Protocol):
    """What the QDL needs from a QSL: its compression and the loaded samples."""

    @property
    def compression(self) -> CompressionConfig: ...

    def encoded(self, index: int) -> EncodedSample: ...


_NUMERIC_KINDS = "biuf"


def _check_count(total: int, performance_count: int | None) -> int:
    if performance_count is None:
        return min(total, DEFAULT_PERFORMANCE_COUNT)
    if not 1 <= performance_count <= total:
        raise ConfigError(
            f"performance count must be 1..{total} (the sample count), got {performance_count}"
        )
    return performance_count


class EncodingQSL(loadgen.QuerySampleLibrary):
    """A QSL that keeps its loaded samples encoded (and maybe compressed) for the QDL."""

    def __init__(
        self, total: int, performance_count: int | None, compression: CompressionConfig
    ) -> None:
        self._total = total
        self._performance = _check_count(total, performance_count)
        self._compression = compression
        self._compressor = Compressor(compression)
        self._loaded: dict[int, EncodedSample] = {}

    @property
    def compression(self) -> CompressionConfig:
        return self._compression

    def total_sample_count(self) -> int:
        return self._total

    def performance_sample_count(self) -> int:
        return self._performance

    def load_samples_to_ram(self, indices: list[int]) -> None:
        for index in indices:
            if index not in self._loaded:
                self._loaded[index] = self._encode(index, self._array(index))

    def unload_samples_from_ram(self, indices: list[int]) -> None:
        for index in indices:
            self._loaded.pop(index, None)

    def encoded(self, index: int) -> EncodedSample:
        try:
            return self._loaded[index]
        except KeyError:
            raise SampleNotLoaded(index) from None

    @property
    def loaded_count(self) -> int:
        return len(self._loaded)

    @abc.abstractmethod
    def _array(self, index: int) -> np.ndarray:
        """Sample ``index`` as an array (called untimed, at load)."""

    def _encode(self, index: int, array: np.ndarray) -> EncodedSample:
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        raw = np.ascontiguousarray(little).tobytes()
        shape = tuple(int(d) for d in array.shape)
        compression = self._compressor.wire_value
        payload = self._compressor.compress(raw)
        template = sample_template(index, payload, compression, len(raw), array.dtype.name, shape)
        return EncodedSample(template, compression, len(raw), array.dtype.name, shape, len(payload))


class NpyDirectoryQSL(EncodingQSL):
    """Samples from a directory of ``.npy`` files: index i is the i-th file sorted by name."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        performance_count: int | None = None,
        compression: CompressionConfig = NO_COMPRESSION,
    ) -> None:
        self.directory = os.fspath(directory)
        self.files = _npy_files(self.directory)
        super().__init__(len(self.files), performance_count, compression)

    def name(self) -> str:
        return f"NpyDirectoryQSL({self.directory})"

    def _array(self, index: int) -> np.ndarray:
        path = self.files[index]
        try:
            array: np.ndarray = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{path}: cannot read as .npy: {exc}") from exc
        return array


def _npy_files(directory: str) -> list[str]:
    if not os.path.exists(directory):
        raise DatasetError(f"dataset directory {directory} does not exist")
    if not os.path.isdir(directory):
        raise DatasetError(f"dataset path {directory} is not a directory")
    names = sorted(os.listdir(directory))
    if not names:
        raise DatasetError(f"dataset directory {directory} is empty; it needs .npy files")
    files = []
    for name in names:
        path = os.path.join(directory, name)
        if not name.endswith(".npy") or not os.path.isfile(path):
            raise DatasetError(
                f"{path}: not a .npy file; the dataset directory may hold only .npy files"
            )
        _check_npy_header(path)
        files.append(path)
    return files


def _check_npy_header(path: str) -> None:
    """Read just the header, so a bad file fails before the run rather than during loading."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                _, _, dtype = np.lib.format.read_array_header_2_0(f)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a valid .npy file ({exc})") from exc
    if dtype.kind not in _NUMERIC_KINDS:
        raise DatasetError(f"{path}: dtype {dtype} is not numeric; samples must be numeric arrays")


@dataclass(frozen=True)
class SyntheticSpec:
    """What ``--synthetic SHAPE:DTYPE:COUNT`` asks for, e.g. ``224x224x3:uint8:1024``."""

    shape: tuple[int, ...]
    dtype: str
    count: int

    @classmethod
    def parse(cls, text: str) -> SyntheticSpec:
        parts = text.split(":")
        if len(parts) != 3:
            raise ConfigError(
                f"synthetic spec {text!r}: expected SHAPE:DTYPE:COUNT, e.g. 224x224x3:uint8:1024"
            )
        shape_text, dtype_text, count_text = parts
        if not re.fullmatch(r"[0-9]+(x[0-9]+)*", shape_text):
            raise ConfigError(
                f"synthetic spec {text!r}: bad SHAPE {shape_text!r}; expected dimensions "
                "joined by 'x', e.g. 224x224x3"
            )
        shape = tuple(int(d) for d in shape_text.split("x"))
        if any(d == 0 for d in shape):
            raise ConfigError(f"synthetic spec {text!r}: every dimension must be >= 1")
        try:
            dtype = np.dtype(dtype_text)
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind not in _NUMERIC_KINDS or dtype_text != dtype.name:
            raise ConfigError(
                f"synthetic spec {text!r}: bad DTYPE {dtype_text!r}; expected a numeric type "
                "such as uint8, int32, float16, float32"
            )
        if not count_text.isdigit() or int(count_text) < 1:
            raise ConfigError(f"synthetic spec {text!r}: COUNT must be a whole number >= 1")
        return cls(shape, dtype.name, int(count_text))

    def __str__(self) -> str:
        return f"{'x'.join(map(str, self.shape))}:{self.dtype}:{self.count}"

    @property
    def sample_bytes(self) -> int:
        """The size of one sample's array (exact: Python integers, no overflow)."""
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize


class SyntheticQSL(EncodingQSL):
    """``count`` random samples of one shape and dtype; sample i depends only on (seed, i)."""

    def __init__(
        self,
        spec: SyntheticSpec,
        *,
        seed: int = 0,
        performance_count: int | None = None,
        compression: CompressionConfig = NO_COMPRESSION,
        available_memory: int | None | Callable[[], int | None] = available_bytes,
    ) -> None:
        self.spec = spec
        self.seed = seed
        super().__init__(spec.count, performance_count, compression)
        available = available_memory() if callable(available_memory) else available_memory
        check_fits(f"--synthetic {spec}", spec.sample_bytes, self._performance, available)

    def name(self) -> str:
        return f"SyntheticQSL({self.spec})"

    def _array(self, index: int) -> np.ndarray:
        return synthetic_sample(self.spec, self.seed, index)


def synthetic_sample(spec: SyntheticSpec, seed: int, index: int) -> np.ndarray:
    """Sample ``index`` of ``SyntheticQSL(spec, seed=seed)``, so a checker can regenerate it."""
    if not 0 <= index < spec.count:
        raise IndexError(f"sample index {index} out of range 0..{spec.count - 1}")
    rng = np.random.default_rng([seed, index])
    dtype = np.dtype(spec.dtype)
    if dtype.kind == "f":
        return rng.standard_normal(spec.shape, dtype=np.float64).astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, spec.shape, dtype=np.uint8).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, spec.shape, dtype=dtype, endpoint=True)
