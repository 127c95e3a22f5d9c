"""The yardstick for network throughput: one plain TCP stream on loopback, no framing at all.

A receiver process reads into a reused buffer and a sender (this process) writes one large
buffer over and over, so what is measured is the kernel's loopback path plus the smallest
possible Python loop on each side. The receiver runs in its own process, as the nodes do, so the
two ends do not share a GIL.
"""

from __future__ import annotations

import multiprocessing
import socket
import time

CHUNK = 1024 * 1024
"""Bytes per send/recv call: large, so the per-call cost of Python is negligible."""


def _receive(listener: socket.socket, total: int) -> None:
    conn, _ = listener.accept()
    view = memoryview(bytearray(CHUNK))
    got = 0
    with conn:
        conn.sendall(b"r")  # ready: the sender starts its clock now
        while got < total:
            n = conn.recv_into(view)
            if not n:
                break
            got += n
        conn.sendall(b"k")  # tells the sender every byte has arrived


def tcp_bytes_per_second(total: int) -> float:
    """Send ``total`` bytes through one loopback TCP connection; bytes/s until all arrived."""
    listener = socket.create_server(("127.0.0.1", 0))
    ctx = multiprocessing.get_context("spawn")
    receiver = ctx.Process(target=_receive, args=(listener, total), daemon=True)
    receiver.start()
    try:
        with socket.create_connection(listener.getsockname()) as conn:
            payload = memoryview(bytes(CHUNK))
            if conn.recv(1) != b"r":
                raise RuntimeError("raw TCP receiver did not start")
            start = time.perf_counter()
            sent = 0
            while sent < total:
                piece = payload[: min(CHUNK, total - sent)]
                conn.sendall(piece)
                sent += len(piece)
            if conn.recv(1) != b"k":
                raise RuntimeError("raw TCP receiver ended early")
            elapsed = time.perf_counter() - start
    finally:
        receiver.join(10)
        listener.close()
    return total / elapsed
