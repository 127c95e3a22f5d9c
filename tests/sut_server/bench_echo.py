"""Echo throughput of real ``sut-server`` processes on loopback (not a test; run by hand).

    .venv/bin/python tests/sut_server/bench_echo.py --nodes 2 --streams 1 --size 512
    .venv/bin/python tests/sut_server/bench_echo.py --nodes 1 --size 150000 --per-message 20

The client works like the QDL: a request generator fed from a queue per stream, a reader thread
per stream, and at most ``--window`` samples outstanding per stream.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time

import grpc

from protos.v1 import sut_node_pb2 as pb

INFER = "/lon.v1.SutNode/Infer"


def start_node(extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    command = [sys.executable, "-m", "sut_server", "--listen", "127.0.0.1:0", *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listen=127\.0\.0\.1:(\d+)", line)
    if not match:
        process.kill()
        raise SystemExit(f"node did not start: {line!r}")
    return process, int(match.group(1))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def drive(channel: grpc.Channel, args: argparse.Namespace, stop: threading.Event, out: list[int]):
    window = threading.Semaphore(args.window)
    payload = bytes(args.size)

    def requests():
        index = 0
        while not stop.is_set():
            batch = pb.SampleBatch()
            for _ in range(args.per_message):
                window.acquire()
                batch.samples.add(
                    response_id=index, sample_index=index, payload=payload,
                    uncompressed_size=args.size,
                )  # fmt: skip
                index += 1
            yield batch.SerializeToString()

    call = channel.stream_stream(INFER)(requests())
    done = 0
    try:
        for raw in call:
            results = pb.ResponseBatch.FromString(raw).results
            done += len(results)
            for _ in range(len(results)):
                window.release()
            if stop.is_set():
                break
    except grpc.RpcError:
        pass
    call.cancel()
    out.append(done)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--streams", type=int, default=1, help="per node")
    parser.add_argument("--window", type=int, default=64, help="outstanding samples per stream")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--per-message", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("node_args", nargs="*", help="extra sut-server flags (after --)")
    args = parser.parse_args()
    nodes = [start_node(args.node_args) for _ in range(args.nodes)]
    try:
        options = [("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)]
        channels = [grpc.insecure_channel(f"127.0.0.1:{p}", options=options) for _, p in nodes]
        for channel in channels:
            grpc.channel_ready_future(channel).result(10)
        stop = threading.Event()
        counts: list[int] = []
        threads = [
            threading.Thread(target=drive, args=(channel, args, stop, counts))
            for channel in channels
            for _ in range(args.streams)
        ]
        cpu0 = [cpu_seconds(p.pid) for p, _ in nodes]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.seconds)
        stop.set()
        for thread in threads:
            thread.join(10)
        elapsed = time.perf_counter() - start
        cpu = [cpu_seconds(p.pid) - c for (p, _), c in zip(nodes, cpu0)]
        total = sum(counts)
        print(
            f"{args.nodes} node(s) x {args.streams} stream(s), {args.size} B samples, "
            f"{args.per_message}/message: {total / elapsed:,.0f} samples/s, "
            f"{total * args.size / elapsed / 1e6:,.0f} MB/s; node CPU "
            f"{', '.join(f'{c / elapsed:.0%}' for c in cpu)}; "
            f"{sum(cpu) / max(total, 1) * 1e6:.0f} us node CPU per sample"
        )
        for channel in channels:
            channel.close()
    finally:
        for process, _ in nodes:
            process.terminate()
        for process, _ in nodes:
            process.wait(15)


if __name__ == "__main__":
    main()
