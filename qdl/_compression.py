"""Sample compression: the codecs, their wire enum, and negotiation against what nodes support.

MLPerf lets the QSL compress inputs untimed, at load time, while decompression happens on the
SUT node inside its timed path. So the QDL itself never compresses while a run is timed: the
QSL calls ``Compressor.compress`` from ``load_samples_to_ram`` and the QDL only checks, before
the run, that every node can decompress what the QSL produces.
"""

from __future__ import annotations

from collections.abc import Sequence

import zstandard

from ._config import CompressionConfig
from ._exceptions import CompressionError
from ._wire import COMPRESSION_VALUE

_NAME_OF: dict[int, str] = {int(value): name for name, value in COMPRESSION_VALUE.items()}


def names_of(wire_values: Sequence[int]) -> frozenset[str]:
    """The algorithm names for wire enum values; a node that lists none supports only "none".

    Values this QDL does not know are kept as ``"unknown(<n>)"`` so error messages can show them.
    """
    names = {_NAME_OF.get(v, f"unknown({v})") for v in wire_values}
    names.add("none")
    return frozenset(names)


class Compressor:
    """Compresses sample payloads for one ``CompressionConfig``; not thread-safe."""

    def __init__(self, config: CompressionConfig) -> None:
        self.config = config
        self.wire_value = COMPRESSION_VALUE[config.algorithm]
        self._zstd = (
            zstandard.ZstdCompressor(level=config.level) if config.algorithm == "zstd" else None
        )

    def compress(self, data: bytes) -> bytes:
        if self._zstd is None:
            return data
        try:
            return self._zstd.compress(data)
        except zstandard.ZstdError as exc:
            raise CompressionError(f"zstd level {self.config.level}: {exc}") from exc


def decompress(payload: bytes, wire_value: int, uncompressed_size: int) -> bytes:
    """Undo ``Compressor.compress`` (what a node does, timed); checks the size it gets."""
    if wire_value == COMPRESSION_VALUE["none"]:
        data = payload
    elif wire_value == COMPRESSION_VALUE["zstd"]:
        try:
            data = zstandard.ZstdDecompressor().decompress(
                payload, max_output_size=uncompressed_size
            )
        except zstandard.ZstdError as exc:
            raise CompressionError(f"zstd: cannot decompress payload: {exc}") from exc
    else:
        raise CompressionError(f"unknown compression enum value {wire_value}")
    if len(data) != uncompressed_size:
        raise CompressionError(
            f"payload decompressed to {len(data)} bytes, expected {uncompressed_size}"
        )
    return data


def negotiate(config: CompressionConfig, supported_by_node: dict[str, frozenset[str]]) -> None:
    """Check that every node supports ``config.algorithm``; raise one CompressionError if not.

    ``supported_by_node`` maps a node label (e.g. "node-a at 10.0.0.2:50051") to the algorithm
    names it reported in Describe.
    """
    missing = [node for node, names in supported_by_node.items() if config.algorithm not in names]
    if missing:
        detail = "; ".join(
            f"{node} supports {', '.join(sorted(supported_by_node[node]))}" for node in missing
        )
        raise CompressionError(
            f"compression {config.algorithm!r} is not supported by every node: {detail}"
        )
