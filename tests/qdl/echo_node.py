"""A small SutNode for the QDL tests: it decompresses each sample and echoes it back.

Run in-process through ``serve`` (a real ``grpc.server`` on 127.0.0.1:0), or as its own process
(``python -m tests.qdl.echo_node --listen 127.0.0.1:0``), which prints the same ready line as
sut-server so a test can kill it mid-run.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures

import grpc
import zstandard

from protos.v1 import keepalive
from protos.v1 import sut_node_pb2 as pb
from protos.v1 import sut_node_pb2_grpc as pb_grpc
from tests.conftest import ROOT

_now = time.monotonic_ns


class EchoNode(pb_grpc.SutNodeServicer):
    """Answers each SampleBatch with one ResponseBatch echoing the decompressed payloads.

    delay_s:        sleep before answering each batch (to keep samples outstanding).
    fail_index:     sample index whose result carries an error instead of a payload.
    hold:           when set, batches are received but not answered until it is cleared.
    flush_delay_s:  sleep before answering Flush (a node that holds Flush until it drains).
    describe_delay_s: sleep before answering Describe (set it after connect: a slow node).
    Describe answers with ``name`` as it is at the time and counts itself in ``describes``.
    """

    def __init__(
        self,
        name: str = "echo",
        *,
        compressions: tuple[int, ...] = (pb.COMPRESSION_NONE, pb.COMPRESSION_ZSTD),
        capacity: float = 100.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        delay_s: float = 0.0,
        fail_index: int | None = None,
        flush_delay_s: float = 0.0,
        announce: bool = False,
    ) -> None:
        self.name = name
        self.announce = announce  # print FIRST_BATCH when the first batch arrives
        self.compressions = compressions
        self.capacity = capacity
        self.max_message_bytes = max_message_bytes
        self.delay_s = delay_s
        self.fail_index = fail_index
        self.flush_delay_s = flush_delay_s
        self.describe_delay_s = 0.0
        self.describes = 0
        self.batches: list[pb.SampleBatch] = []
        self.flushes = 0
        self.hold = threading.Event()
        self._lock = threading.Lock()

    def Describe(self, request, context):  # noqa: N802 - gRPC method name
        with self._lock:
            self.describes += 1
        if self.describe_delay_s:
            time.sleep(self.describe_delay_s)
        return pb.NodeInfo(
            name=self.name,
            backend="echo",
            version="test",
            compressions=list(self.compressions),
            capacity=self.capacity,
            workers=1,
            max_batch=1,
            max_message_bytes=self.max_message_bytes,
        )

    def Flush(self, request, context):  # noqa: N802
        with self._lock:
            self.flushes += 1
        if self.flush_delay_s:
            time.sleep(self.flush_delay_s)
        return pb.FlushReply(pending=0)

    def Infer(self, request_iterator, context):  # noqa: N802
        context.send_initial_metadata(())  # admitted, as sut-server says at once
        decompressor = zstandard.ZstdDecompressor()
        for batch in request_iterator:
            with self._lock:
                self.batches.append(batch)
                first = len(self.batches) == 1
            if first and self.announce:
                print(FIRST_BATCH, flush=True)
            while self.hold.is_set() and context.is_active():
                time.sleep(0.01)
            for unit in _units(batch.samples):
                if self.delay_s:
                    time.sleep(self.delay_s)
                yield self._answer(unit, decompressor)

    def _answer(self, unit, decompressor) -> pb.ResponseBatch:
        """One ResponseBatch for the samples of one unit (what the QDL queued together)."""
        results = []
        for s in unit:
            received = _now()
            if s.compression == pb.COMPRESSION_ZSTD:
                data = decompressor.decompress(s.payload, max_output_size=s.uncompressed_size)
            else:
                data = s.payload
            decompressed = _now()
            error = ""
            if len(data) != s.uncompressed_size:
                error = f"size {len(data)} != {s.uncompressed_size}"
            if s.sample_index == self.fail_index:
                error = "echo backend refuses this sample"
            computed = _now()
            results.append(
                pb.SampleResult(
                    response_id=s.response_id,
                    payload=b"" if error else data,
                    n_tokens=1,
                    error=error,
                    timing=pb.NodeTiming(
                        received_ns=received,
                        decompressed_ns=decompressed,
                        computed_ns=computed,
                        sent_ns=_now(),
                    ),
                )
            )
        return pb.ResponseBatch(results=results)

    def received_queries(self) -> list[list[int]]:
        """The response ids of every SampleBatch received, batch by batch."""
        with self._lock:
            return [[s.response_id for s in b.samples] for b in self.batches]

    def received_units(self) -> list[list[int]]:
        """The response ids of every unit received (a SampleBatch may hold several)."""
        with self._lock:
            return [[s.response_id for s in u] for b in self.batches for u in _units(b.samples)]


def _units(samples) -> list[list]:
    """Split a SampleBatch's samples at each ``unit_samples`` marker."""
    out: list[list] = []
    for s in samples:
        if s.unit_samples or not out:
            out.append([])
        out[-1].append(s)
    return out


@contextlib.contextmanager
def serve(node: EchoNode, listen: str = "127.0.0.1:0") -> Iterator[str]:
    """Serve ``node`` in this process; yields its address and stops the server at exit."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_receive_message_length", -1),
            ("grpc.max_send_message_length", -1),
            *keepalive.NODE_OPTIONS,  # the QDL's pings, allowed as the contract asks
        ],
    )
    pb_grpc.add_SutNodeServicer_to_server(node, server)
    port = server.add_insecure_port(listen)
    server.start()
    try:
        yield f"{listen.rsplit(':', 1)[0]}:{port}"
    finally:
        server.stop(0).wait()


FIRST_BATCH = "echo node: first batch received"
"""What a node run as a process prints when samples first reach it: a test can act on it."""


READY = re.compile(r"sut-server ready: name=(\S+) listen=(\S+) backend=(\S+)")


@contextlib.contextmanager
def echo_process(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """An echo node in its own process (so a test can kill it); yields (process, address)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.qdl.echo_node", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            match = READY.search(line)
            if match:
                break
        else:
            raise AssertionError(f"echo node did not start: {line!r}")
        yield proc, match.group(2)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        proc.stdout.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--name", default="echo-proc")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--backend", default="echo", help="accepted like sut-server's; ignored")
    args = parser.parse_args(argv)
    node = EchoNode(args.name, delay_s=args.delay, announce=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with serve(node, args.listen) as address:
        print(f"sut-server ready: name={args.name} listen={address} backend=echo", flush=True)
        stop.wait()


if __name__ == "__main__":
    sys.exit(main())
