"""A dispatch worker process: the gRPC side of a share of the nodes.

Started by ``WorkerPool`` as ``python -m qdl.workers._worker`` with its rings' and control
socket's file descriptors. It builds a ``GrpcTransport`` per node it was given; a thread takes
messages off the issue ring and queues them on their node's streams; the gRPC loop thread puts
every response, send stamp and failure on the completion ring as it happens; the main thread
answers control calls (each on a thread of its own, since a connect may wait seconds).

It lives exactly as long as the LoadGen process wants it: when the control socket or the issue
ring reports the other side gone (its process ended, however), it cancels its streams and exits.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

from .._gil import shorten_switch_interval
from ..transports import GrpcTransport, OutgoingMessage
from ._protocol import BROKEN, MESSAGE, RESPONSE, SENT, SEQUENCES, encode_error
from ._ring import RingClosed, RingMemory, RingReader, RingWriter

_now = time.perf_counter_ns


class _Relayed(OutgoingMessage):
    """A message from the issue ring, with its number in the LoadGen process."""

    __slots__ = ("seq",)

    def __init__(self, data: bytes, n_samples: int, seq: int) -> None:
        super().__init__(data, n_samples, _now())
        self.seq = seq


class Worker:
    def __init__(
        self, control: Connection, issue: RingReader, done: RingWriter, specs: list[Any]
    ) -> None:
        self._control = control
        self._reply_lock = threading.Lock()
        self._issue = issue
        self._done = done
        self._done_lock = threading.Lock()  # the loop thread and the issue thread both report
        self._transports = [
            GrpcTransport(
                address,
                raw_responses=True,
                on_sent=self._sent_reporter(node),
                **options,
            )
            for node, (address, options) in enumerate(specs)
        ]

    # --- completion ring (loop thread, and the issue thread for failures) -------------------

    def _put(self, kind: int, node: int, count: int, stamp: int, data: bytes) -> None:
        with self._done_lock:
            self._done.put(kind, node, count, stamp, data, timeout=3600.0)

    def _sent_reporter(self, node: int) -> Any:
        pack = SEQUENCES.pack

        def sent(messages: list[OutgoingMessage], now: int) -> None:
            data = b"".join([pack(m.seq) for m in messages])  # type: ignore[attr-defined]
            self._put(SENT, node, len(messages), now, data)

        return sent

    def _response_reporter(self, node: int) -> Any:
        def response(raw: bytes, size: int, t: int) -> None:
            self._put(RESPONSE, node, 0, t, raw)

        return response

    def _broken_reporter(self, node: int) -> Any:
        def broken(exc: Exception) -> None:
            self._put(BROKEN, node, 0, _now(), pickle.dumps(encode_error(exc)))

        return broken

    # --- issue ring (its own thread) --------------------------------------------------------

    def relay_issues(self) -> None:
        transports = self._transports
        try:
            for records in self._issue.batches():
                for record in records:
                    if record.kind != MESSAGE:
                        continue
                    try:
                        transports[record.tag].issue(
                            _Relayed(record.data, record.items, record.stamp)
                        )
                    except Exception as exc:  # a full queue that stayed full, a broken node
                        self._broken_reporter(record.tag)(exc)
        except RingClosed:
            self.exit()

    # --- control calls (main thread reads, a thread per call answers) -----------------------

    def serve(self) -> None:
        while True:
            try:
                request = self._control.recv()
            except (EOFError, OSError):
                self.exit()
            threading.Thread(target=self._answer, args=(request,), daemon=True).start()

    def _answer(self, request: tuple[int, str, int, tuple[Any, ...]]) -> None:
        call_id, op, node, args = request
        try:
            value: Any = self._call(op, node, args)
            reply = (call_id, True, value)
        except BaseException as exc:
            reply = (call_id, False, encode_error(exc))
        with self._reply_lock:
            try:
                self._control.send(reply)
            except (OSError, ValueError):
                pass

    def _call(self, op: str, node: int, args: tuple[Any, ...]) -> Any:
        transport = self._transports[node]
        if op == "connect":
            return transport.connect()
        if op == "describe":
            return transport.describe(*args)
        if op == "open":
            transport.open(self._response_reporter(node), self._broken_reporter(node))
            return None
        if op == "flush":
            return transport.flush()
        if op == "close":
            transport.close()
            return None
        if op == "cancel":
            transport.cancel()
            return None
        if op == "statistics":
            return transport.statistics()
        raise ValueError(f"unknown dispatch worker call {op!r}")

    def exit(self) -> None:
        """The LoadGen process is gone or done with us: end the streams at once and leave."""
        for transport in self._transports:
            try:
                transport.cancel()
            except Exception:
                pass
        os._exit(0)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="qdl.workers._worker")
    p.add_argument("--control", type=int, required=True)
    p.add_argument("--issue", required=True, help="capacity,memfd,wake-read,woken-write")
    p.add_argument("--done", required=True, help="capacity,memfd,wake-write,woken-read")
    args = p.parse_args(argv)
    control = Connection(args.control)
    capacity, memfd, wake_r, woken_w = (int(v) for v in args.issue.split(","))
    issue = RingReader(RingMemory(capacity, memfd), wake_r, woken_w)
    capacity, memfd, wake_w, woken_r = (int(v) for v in args.done.split(","))
    done = RingWriter(RingMemory(capacity, memfd), wake_w, woken_r)
    try:
        specs = control.recv()
    except (EOFError, OSError):
        os._exit(0)  # the LoadGen process gave up on us before we started
    shorten_switch_interval()
    worker = Worker(control, issue, done, specs)
    threading.Thread(target=worker.relay_issues, name="qdl-worker-issue", daemon=True).start()
    control.send((0, True, os.getpid()))
    worker.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
