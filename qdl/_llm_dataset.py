"""LLM data sets: prompts as token ids, sent as int32 little-endian arrays of shape (n,).

The MLCommons LLM benchmarks ship their preprocessed prompts as a table with a column of
token-id lists (``tok_input``): a pandas pickle (llama2-70b, deepseek-r1), JSON records
(llama3.1-8b) or parquet (gpt-oss-120b). ``TokenFileQSL`` reads such a file once, checks every
prompt, and serves the prompts like any other QSL. ``SyntheticTokenQSL`` makes prompts of
realistic lengths for demos. A sample's length is its prompt length, which the
``prompt-tokens`` balancing policy weighs samples by.

pandas and pyarrow are imported only when a file is read (the ``llm-data`` extra).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._config import NO_COMPRESSION, CompressionConfig
from ._exceptions import ConfigError, DatasetError
from ._qsl import EncodingQSL

DEFAULT_COLUMN = "tok_input"
TOKEN_DTYPE = np.dtype("<i4")
READERS = {".pkl": "pickle", ".pickle": "pickle", ".json": "json", ".parquet": "parquet"}
INSTALL_HINT = "pip install 'lon[llm-data]'"
_INT32 = np.iinfo(np.int32)


def read_token_file(path: str, column: str = DEFAULT_COLUMN) -> list[np.ndarray]:
    """Every prompt of ``path``'s ``column`` as an int32 array; DatasetError names a problem.

    A pickle can run code when it is read: only read one from a path the user named.
    """
    kind = READERS.get(os.path.splitext(path)[1].lower())
    if kind is None:
        raise DatasetError(
            f"dataset {path}: unknown extension; expected a directory of .npy files or a "
            f"{', '.join(READERS)} file"
        )
    if not os.path.isfile(path):
        raise DatasetError(f"dataset {path}: no such file")
    if os.path.getsize(path) == 0:
        raise DatasetError(f"dataset {path}: the file is empty")
    frame = _read_frame(path, kind)
    if column not in frame.columns:
        have = ", ".join(map(str, frame.columns)) or "none"
        raise DatasetError(f"dataset {path}: no column {column!r}; its columns are: {have}")
    prompts = [_tokens(path, row, value) for row, value in enumerate(frame[column])]
    if not prompts:
        raise DatasetError(f"dataset {path}: column {column!r} has no rows")
    return prompts


def _read_frame(path: str, kind: str) -> Any:
    try:
        import pandas as pd
    except ImportError:
        raise DatasetError(f"dataset {path}: reading it needs pandas ({INSTALL_HINT})") from None
    try:
        if kind == "pickle":
            frame = pd.read_pickle(path)
        elif kind == "json":
            frame = pd.read_json(path)
        else:
            frame = pd.read_parquet(path)
    except ImportError as exc:
        raise DatasetError(
            f"dataset {path}: reading it needs {exc.name or 'pyarrow'} ({INSTALL_HINT})"
        ) from None
    except Exception as exc:  # every reader has its own errors; each means "not this format"
        raise DatasetError(f"dataset {path}: cannot read as {kind}: {exc}") from None
    if not isinstance(frame, pd.DataFrame):
        raise DatasetError(
            f"dataset {path}: holds a {type(frame).__name__}, not a table (pandas DataFrame)"
        )
    return frame


def _tokens(path: str, row: int, value: Any) -> np.ndarray:
    """One prompt's token ids as int32; DatasetError for anything but whole numbers in range."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        array = np.asarray([], dtype=object)
    if array.ndim != 1 or array.size == 0:
        raise DatasetError(f"dataset {path}: row {row}: expected a non-empty list of token ids")
    if array.dtype.kind not in "iu":
        raise DatasetError(
            f"dataset {path}: row {row}: token ids must be integers, not {array.dtype}"
        )
    if int(array.min()) < _INT32.min or int(array.max()) > _INT32.max:
        raise DatasetError(f"dataset {path}: row {row}: a token id does not fit in int32")
    return array.astype(TOKEN_DTYPE)


class TokenQSL(EncodingQSL):
    """Prompts held as int32 token-id arrays; sample i is ``prompts[i]``."""

    def __init__(
        self,
        prompts: Sequence[np.ndarray],
        label: str,
        *,
        performance_count: int | None = None,
        compression: CompressionConfig = NO_COMPRESSION,
    ) -> None:
        self.prompts = list(prompts)
        self.label = label
        super().__init__(len(self.prompts), performance_count, compression)

    def name(self) -> str:
        return f"TokenQSL({self.label})"

    def prompt_length(self, index: int) -> int:
        return int(self.prompts[index].shape[0])

    def _array(self, index: int) -> np.ndarray:
        return self.prompts[index]


def token_file_qsl(
    path: str,
    column: str = DEFAULT_COLUMN,
    *,
    performance_count: int | None = None,
    compression: CompressionConfig = NO_COMPRESSION,
) -> TokenQSL:
    """A TokenQSL over ``path``'s ``column`` (see ``read_token_file``)."""
    prompts = read_token_file(path, column)
    return TokenQSL(prompts, path, performance_count=performance_count, compression=compression)


@dataclass(frozen=True)
class SyntheticLLMSpec:
    """``--synthetic-llm IN:OUT[:COUNT]``: COUNT prompts of about IN tokens; OUT (the output
    length wanted) is advisory, recorded with the run: the node decides output lengths.
    ``count`` 0: not given (the caller takes the benchmark's sample count)."""

    input_tokens: int
    output_tokens: int
    count: int

    @classmethod
    def parse(cls, text: str) -> SyntheticLLMSpec:
        parts = text.split(":")
        if len(parts) not in (2, 3) or not all(p.isdigit() and int(p) >= 1 for p in parts):
            raise ConfigError(
                f"--synthetic-llm {text!r}: expected IN:OUT:COUNT or IN:OUT, whole numbers "
                ">= 1, e.g. 1024:256:1000"
            )
        count = int(parts[2]) if len(parts) == 3 else 0
        return cls(int(parts[0]), int(parts[1]), count)

    def with_count(self, count: int) -> SyntheticLLMSpec:
        return SyntheticLLMSpec(self.input_tokens, self.output_tokens, count)

    def __str__(self) -> str:
        return f"{self.input_tokens}:{self.output_tokens}:{self.count}"


VOCABULARY = 32000
"""Synthetic token ids are drawn from 0..VOCABULARY-1 (llama2's vocabulary size)."""
LENGTH_SIGMA = 0.6
"""Spread of the log-normal prompt lengths: real prompt sets are long-tailed."""


def synthetic_prompts(spec: SyntheticLLMSpec, seed: int = 0) -> list[np.ndarray]:
    """``spec.count`` (>= 1) prompts whose lengths are log-normal with median ``spec.input_tokens``
    (at least 1, at most 8 times the median); the same for the same seed."""
    rng = np.random.default_rng([seed, spec.input_tokens, spec.count])
    lengths = rng.lognormal(np.log(spec.input_tokens), LENGTH_SIGMA, spec.count)
    lengths = np.clip(np.rint(lengths), 1, 8 * spec.input_tokens).astype(np.int64)
    return [rng.integers(0, VOCABULARY, int(n), dtype=np.int32) for n in lengths]


def synthetic_token_qsl(
    spec: SyntheticLLMSpec,
    *,
    seed: int = 0,
    performance_count: int | None = None,
    compression: CompressionConfig = NO_COMPRESSION,
) -> TokenQSL:
    """A TokenQSL of ``synthetic_prompts(spec, seed)``."""
    return TokenQSL(
        synthetic_prompts(spec, seed),
        f"synthetic-llm {spec}",
        performance_count=performance_count,
        compression=compression,
    )
