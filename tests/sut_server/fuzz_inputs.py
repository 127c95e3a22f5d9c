"""Hostile inputs for a node, and the client that throws them: shared by the suite's bounded
fuzz test and ``benchmarks/fuzz_node.py`` (the 1 M-input run).

Kinds of input, drawn from one seeded ``random.Random``:

    raw      random bytes, to Infer or to a unary RPC (Describe, Flush, health Check)
    mutated  a valid SampleBatch with bytes flipped, cut, inserted or repeated
    lying    samples whose uncompressed_size disagrees with their payload
    bomb     zstd frames of tens of MiB of zeros in a few KB, declared truthfully, too small,
             too large, with and without a size in the frame, several to a message
    shape    absurd shapes (thousands of 2**62 dimensions), dtypes and huge strings

Infer inputs that parse as a SampleBatch go over long-lived streams and every sample in them
must be answered exactly once (an error is an answer); ones that do not parse go one per
stream, which the node must end with INVALID_ARGUMENT.
"""

from __future__ import annotations

import collections
import dataclasses
import random
from collections.abc import Iterable, Iterator

import grpc
import zstandard

from protos.v1 import sut_node_pb2 as pb

UNARY = {
    "Describe": "/lon.v1.SutNode/Describe",
    "Flush": "/lon.v1.SutNode/Flush",
    "Check": "/grpc.health.v1.Health/Check",
}
INFER = "/lon.v1.SutNode/Infer"
BOMB_BYTES = 64 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class FuzzInput:
    kind: str
    rpc: str  # "Infer" or a key of UNARY
    data: bytes


def _bomb(size: int, with_size: bool) -> bytes:
    """``size`` zero bytes as one zstd frame (a few KB), made without holding them."""
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=with_size)
    obj = compressor.compressobj(size=size if with_size else -1)
    chunk = bytes(1024 * 1024)
    parts = [obj.compress(chunk) for _ in range(size // len(chunk))]
    parts.append(obj.flush())
    return b"".join(parts)


class FuzzInputs:
    """An endless, reproducible stream of hostile inputs (see the module docstring)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self._zstd = zstandard.ZstdCompressor(level=1)
        self._bombs = {True: _bomb(BOMB_BYTES, True), False: _bomb(BOMB_BYTES, False)}
        self._small_bomb = _bomb(8 * 1024 * 1024, False)  # within a 32 MiB budget: decoded
        self._next_id = 1

    def _rid(self) -> int:
        self._next_id += 1
        return self._next_id

    def valid_sample(self) -> pb.Sample:
        rng = self.rng
        payload = rng.randbytes(rng.randrange(0, 512))
        sample = pb.Sample(response_id=self._rid(), sample_index=rng.randrange(1 << 20))
        if rng.random() < 0.5:
            sample.payload = self._zstd.compress(payload)
            sample.compression = pb.COMPRESSION_ZSTD
        else:
            sample.payload = payload
        sample.uncompressed_size = len(payload)
        sample.dtype = "uint8"
        sample.shape.append(len(payload))
        return sample

    def valid_batch(self, count: int | None = None) -> pb.SampleBatch:
        n = self.rng.randrange(1, 5) if count is None else count
        return pb.SampleBatch(samples=[self.valid_sample() for _ in range(n)])

    def __iter__(self) -> Iterator[FuzzInput]:
        makers = (
            (0.30, self._raw),
            (0.30, self._mutated),
            (0.15, self._lying),
            (0.10, self._bomb_message),
            (0.15, self._shape),
        )
        weights = [w for w, _ in makers]
        while True:
            ((_, make),) = self.rng.choices(makers, weights)
            yield make()

    def _raw(self) -> FuzzInput:
        rng = self.rng
        data = rng.randbytes(rng.randrange(1, 2048))
        rpc = rng.choice(["Infer", "Describe", "Flush", "Check", "Describe", "Check"])
        return FuzzInput("raw", rpc, data)

    def _mutated(self) -> FuzzInput:
        rng = self.rng
        data = bytearray(self.valid_batch().SerializeToString())
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(4)
            at = rng.randrange(len(data) or 1)
            if op == 0 and data:
                data[at] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[at:]
            elif op == 2:
                data[at:at] = rng.randbytes(rng.randrange(1, 16))
            else:
                data[at:at] = data[at : at + rng.randrange(1, 64)] * rng.randrange(1, 8)
        rpc = "Infer" if rng.random() < 0.8 else rng.choice(list(UNARY))
        return FuzzInput("mutated", rpc, bytes(data) or b"\x00")

    def _lying(self) -> FuzzInput:
        rng = self.rng
        batch = self.valid_batch()
        for sample in batch.samples:
            true = sample.uncompressed_size
            sample.uncompressed_size = rng.choice(
                [true + 1, max(0, true - 1), 0, 1 << 40, (1 << 64) - 1, rng.randrange(1 << 31)]
            )
        return FuzzInput("lying", "Infer", batch.SerializeToString())

    def _bomb_message(self) -> FuzzInput:
        rng = self.rng
        samples = []
        for _ in range(rng.randrange(1, 5)):
            with_size = rng.random() < 0.5
            payload = self._bombs[with_size]
            declared = rng.choice(
                [BOMB_BYTES, 8 * 1024, 16 * 1024 * 1024, 256 * 1024 * 1024, (1 << 64) - 1]
            )
            if rng.random() < 0.02:
                payload, declared = self._small_bomb, 8 * 1024 * 1024
            samples.append(
                pb.Sample(
                    response_id=self._rid(),
                    payload=payload,
                    compression=pb.COMPRESSION_ZSTD,
                    uncompressed_size=declared,
                )
            )
        return FuzzInput("bomb", "Infer", pb.SampleBatch(samples=samples).SerializeToString())

    def _shape(self) -> FuzzInput:
        rng = self.rng
        sample = self.valid_sample()
        del sample.shape[:]
        sample.shape.extend(
            rng.choice([[1 << 62] * rng.randrange(1, 2000), [-1, -(1 << 63)], [0], [3, 0, 7]])
        )
        sample.dtype = rng.choice(
            ["float128", "object", "<U10", "V0", "\x00", "x" * rng.randrange(1, 65536), "int4"]
        )
        if rng.random() < 0.3:
            sample.compression = rng.choice([2, 7, 1 << 30])  # unknown compressions
        return FuzzInput("shape", "Infer", pb.SampleBatch(samples=[sample]).SerializeToString())


class FuzzClient:
    """Throws inputs at one node and keeps count of what came back."""

    def __init__(self, address: str, stream_chunk: int = 256) -> None:
        self.channel = grpc.insecure_channel(
            address, options=[("grpc.max_receive_message_length", -1)]
        )
        self._unary = {name: self.channel.unary_unary(path) for name, path in UNARY.items()}
        self._infer = self.channel.stream_stream(INFER)
        self._chunk = stream_chunk
        self.counts: collections.Counter[str] = collections.Counter()

    def close(self) -> None:
        self.channel.close()

    def throw(self, inputs: Iterable[FuzzInput]) -> None:
        """Send ``inputs``; parsable Infer messages are sent in streams of ``stream_chunk``."""
        pending: list[tuple[bytes, int]] = []
        for item in inputs:
            self.counts[f"input {item.kind}"] += 1
            if item.rpc != "Infer":
                self._call(item.rpc, item.data)
                continue
            try:
                samples = len(pb.SampleBatch.FromString(item.data).samples)
            except Exception:
                self._one_shot(item.data)
                continue
            pending.append((item.data, samples))
            if len(pending) >= self._chunk:
                self._stream(pending)
                pending = []
        if pending:
            self._stream(pending)

    def _call(self, rpc: str, data: bytes) -> None:
        try:
            self._unary[rpc](data, timeout=30)
            self.counts[f"{rpc} ok"] += 1
        except grpc.RpcError as exc:
            self.counts[f"{rpc} {exc.code().name}"] += 1

    def _one_shot(self, data: bytes) -> None:
        try:
            for _ in self._infer(iter([data]), timeout=30):
                pass
            self.counts["unparsable Infer OK"] += 1
        except grpc.RpcError as exc:
            self.counts[f"unparsable Infer {exc.code().name}"] += 1

    def _stream(self, messages: list[tuple[bytes, int]]) -> None:
        expected = sum(n for _, n in messages)
        answered = 0
        errors = 0
        try:
            for raw in self._infer(iter([m for m, _ in messages]), timeout=120):
                for result in pb.ResponseBatch.FromString(raw).results:
                    if result.kind == pb.SampleResult.KIND_FINAL:
                        answered += 1
                        errors += bool(result.error)
            self.counts["streams ok"] += 1
        except grpc.RpcError as exc:
            self.counts[f"streams {exc.code().name}"] += 1
        self.counts["samples sent"] += expected
        self.counts["samples answered"] += answered
        self.counts["samples answered with an error"] += errors

    def well_behaved(self, inputs: FuzzInputs) -> bool:
        """A proper client's Describe and Infer still work and echo answers are exact."""
        describe = self._unary["Describe"](pb.DescribeRequest().SerializeToString(), timeout=30)
        pb.NodeInfo.FromString(describe)
        batch = inputs.valid_batch(4)
        want = {}
        for sample in batch.samples:
            data = sample.payload
            if sample.compression == pb.COMPRESSION_ZSTD:
                data = zstandard.ZstdDecompressor().decompress(data)
            want[sample.response_id] = data
        got = {}
        for raw in self._infer(iter([batch.SerializeToString()]), timeout=60):
            for result in pb.ResponseBatch.FromString(raw).results:
                if result.error:
                    return False
                got[result.response_id] = result.payload
        return got == want


def rss_bytes(pid: int) -> int:
    """Resident set size of process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")
