"""The LoadGen process's side of the dispatch workers: starting them, the rings, the control
calls, the completion threads, and ending them.

Node ``i`` goes to worker ``i % workers``. Each worker has an issue ring (written under a lock,
since the LoadGen's issue thread and a redispatch may both issue) and a completion ring read by
a thread of its own, which stamps every record as it takes it (the completion time the LoadGen
sees is taken after that, when the dispatcher calls QuerySamplesComplete) and keeps how long
each response waited in the ring. A worker that ends while its nodes are open breaks them,
after every record it wrote has been read.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from .._config import DEFAULT_TIMEOUTS, Timeouts
from .._exceptions import ConfigError, NodeProcessError, QDLError, QDLTimeout, StreamBroken
from ._protocol import MESSAGE, RESPONSE, decode_error
from ._ring import Record, RingClosed, RingMemory, RingReader, RingWriter, check_host

_now = time.perf_counter_ns
_ROOT = str(Path(__file__).resolve().parents[2])  # the directory that holds the qdl package
DEFAULT_RING_BYTES = 16 * 1024 * 1024
"""Each ring's size: its pages are touched as it wraps, so it is also what it adds to RSS."""
START_TIMEOUT_S = 30.0
MAX_KEPT_DELAYS = 1 << 22
"""Ring delays kept for the percentiles (the first 4 Mi responses; 32 MiB at most)."""


def how_it_ended(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed ({name})"
    return f"exited with code {returncode}"


class WorkerHandle:
    """One worker process, as the LoadGen process holds it."""

    def __init__(
        self,
        index: int,
        nodes: Sequence[int],
        ring_bytes: int,
        on_record: Callable[[int, Record, int], None],
        on_gone: Callable[[WorkerHandle], None],
    ) -> None:
        self.index = index
        self.nodes = list(nodes)  # the QDL's node indices, in the worker's order
        self._on_record = on_record
        self._on_gone = on_gone
        self._calls: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self.issue_lock = threading.Lock()
        self.gone = False
        self.delays = array("q")
        issue_mem, done_mem = RingMemory(ring_bytes), RingMemory(ring_bytes)
        issue_wake_r, issue_wake_w = os.pipe()  # wakes the worker's issue reader
        issue_room_r, issue_room_w = os.pipe()  # wakes us, waiting for room in the issue ring
        done_wake_r, done_wake_w = os.pipe()  # wakes our completion reader
        done_room_r, done_room_w = os.pipe()  # wakes the worker, waiting for completion room
        ours, theirs = socket.socketpair()
        child_fds = [
            theirs.fileno(), issue_mem.fd, issue_wake_r, issue_room_w,
            done_mem.fd, done_wake_w, done_room_r,
        ]  # fmt: skip
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "qdl.workers._worker",
                    "--control",
                    str(theirs.fileno()),
                    "--issue",
                    f"{ring_bytes},{issue_mem.fd},{issue_wake_r},{issue_room_w}",
                    "--done",
                    f"{ring_bytes},{done_mem.fd},{done_wake_w},{done_room_r}",
                ],  # fmt: skip
                pass_fds=child_fds,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            for fd in child_fds[1:]:
                os.close(fd)  # the memory stays mapped here; the pipe ends are the child's
            theirs.close()
        self._socket = ours  # shut down to end the worker even while a thread reads from it
        self.conn = Connection(os.dup(ours.fileno()))
        self.issue = RingWriter(issue_mem, issue_wake_w, issue_room_r)
        self._done = RingReader(done_mem, done_wake_r, done_room_w)
        self._pipes = (issue_wake_w, issue_room_r, done_wake_r, done_room_w)
        self._control_thread = threading.Thread(
            target=self._read_control, name=f"qdl-worker-{index}-control", daemon=True
        )
        self._completion_thread = threading.Thread(
            target=self._read_completions, name=f"qdl-worker-{index}-completions", daemon=True
        )

    def start(self, specs: list[tuple[str, dict[str, Any]]], timeout: float) -> None:
        """Hand the worker its nodes and wait until it is ready; NodeProcessError if not."""
        try:
            self.conn.send(specs)
            ready = self.conn.poll(timeout)
            hello = self.conn.recv() if ready else None
        except (OSError, EOFError):
            hello = None
        if hello is None:
            self.process.poll()
            raise NodeProcessError(
                f"dispatch worker {self.index} (pid {self.process.pid}) did not start within "
                f"{timeout:g} s; it {how_it_ended(self.process.returncode)}"
            )
        self._control_thread.start()
        self._completion_thread.start()

    # --- control calls ----------------------------------------------------------------------

    def call(self, op: str, local: int, args: tuple[Any, ...], timeout: float, label: str) -> Any:
        """Run ``op`` on the worker's node ``local``; its error is raised here as it was there."""
        future: Future[Any] = Future()
        with self._send_lock:
            if self.gone:
                raise self.lost_error(label)
            call_id = next(self._ids)
            self._calls[call_id] = future
            try:
                self.conn.send((call_id, op, local, args))
            except OSError:
                self._calls.pop(call_id, None)
                raise self.lost_error(label) from None
        try:
            ok, value = future.result(timeout)
        except FutureTimeout:
            self._calls.pop(call_id, None)
            raise QDLTimeout(
                f"node {label}: its dispatch worker {self.index} did not answer {op} "
                f"within {timeout:g} s"
            ) from None
        if not ok:
            raise decode_error(value)
        return value

    def _read_control(self) -> None:
        while True:
            try:
                call_id, ok, value = self.conn.recv()
            except (EOFError, OSError):
                break
            future = self._calls.pop(call_id, None)
            if future is not None:
                future.set_result((ok, value))
        with self._send_lock:
            self.gone = True
            calls, self._calls = self._calls, {}
        for future in calls.values():
            future.set_result((False, ("StreamBroken", self.lost_message(""), None, None)))

    def lost_message(self, label: str) -> str:
        try:
            self.process.wait(2.0)
        except subprocess.TimeoutExpired:
            pass
        who = f"node {label}: its " if label else ""
        return (
            f"{who}dispatch worker {self.index} (pid {self.process.pid}) "
            f"{how_it_ended(self.process.returncode)}"
        )

    def lost_error(self, label: str) -> QDLError:
        return StreamBroken(self.lost_message(label))

    # --- completion ring --------------------------------------------------------------------

    def _read_completions(self) -> None:
        on_record, nodes = self._on_record, self.nodes
        delays = self.delays
        now = _now
        try:
            for records in self._done.batches():
                for record in records:
                    t = now()
                    if record.kind == RESPONSE and len(delays) < MAX_KEPT_DELAYS:
                        delays.append(t - record.stamp)
                    on_record(nodes[record.tag], record, t)
        except RingClosed:
            pass
        self._on_gone(self)

    # --- ending -----------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> None:
        """Tell the worker to leave (it cancels what is still open), wait, then make sure."""
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for thread in (self._completion_thread, self._control_thread):
            if thread.is_alive() and threading.current_thread() is not thread:
                thread.join(timeout)
        self.conn.close()
        for fd in self._pipes:
            try:
                os.close(fd)
            except OSError:
                pass


class RingDelays:
    """How long responses waited in the completion rings, in ns (p50, p99, how many)."""

    def __init__(self, handles: Sequence[WorkerHandle]) -> None:
        import numpy as np

        values = [np.frombuffer(h.delays, dtype=np.int64) for h in handles if len(h.delays)]
        merged = np.concatenate(values) if values else np.zeros(0, dtype=np.int64)
        self.count = int(merged.size)
        self.p50 = int(np.percentile(merged, 50)) if self.count else 0
        self.p99 = int(np.percentile(merged, 99)) if self.count else 0


class WorkerPool:
    """``workers`` dispatch worker processes serving ``addresses``; ``transports`` are the
    nodes as the QDL sees them. The workers start at the first connect and end when the last
    of their transports is closed (or when this process ends, however it ends)."""

    def __init__(
        self,
        workers: int,
        addresses: Sequence[str],
        options: dict[str, Any],
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        ring_bytes: int = DEFAULT_RING_BYTES,
        start_timeout: float = START_TIMEOUT_S,
    ) -> None:
        from ._transport import WorkerTransport

        self.timeouts = timeouts
        if workers < 1:
            raise ConfigError(f"dispatch workers must be >= 1, got {workers}")
        try:
            check_host()
        except ValueError as exc:
            raise ConfigError(f"{exc}: use --dispatch-workers 0") from None
        n = min(workers, len(addresses))
        self._groups = [list(range(w, len(addresses), n)) for w in range(n)]
        self._where = {
            node: (w, k) for w, group in enumerate(self._groups) for k, node in enumerate(group)
        }
        self._specs = [[(addresses[node], options) for node in group] for group in self._groups]
        self._ring_bytes = ring_bytes
        self._start_timeout = start_timeout
        self.transports = [WorkerTransport(self, i, a) for i, a in enumerate(addresses)]
        self._handles: list[WorkerHandle] = []
        self._lock = threading.Lock()
        self._failed: QDLError | None = None
        self._stopping = False
        self._unclosed = set(range(len(addresses)))

    @property
    def workers(self) -> int:
        return len(self._groups)

    def start(self) -> None:
        """Start every worker (once; later calls return at once or raise the first failure)."""
        with self._lock:
            if self._handles or self._stopping:
                return
            if self._failed is not None:
                raise self._failed.chained()
            try:
                for w, group in enumerate(self._groups):
                    self._handles.append(
                        WorkerHandle(w, group, self._ring_bytes, self._on_record, self._on_gone)
                    )  # fmt: skip
                for handle in self._handles:
                    handle.start(self._specs[handle.index], self._start_timeout)
            except QDLError as exc:
                self._failed = exc
                self._stop_all()
                raise
            except OSError as exc:
                self._failed = NodeProcessError(f"could not start a dispatch worker: {exc}")
                self._stop_all()
                raise self._failed from exc

    def call(self, node: int, op: str, args: tuple[Any, ...], timeout: float, label: str) -> Any:
        w, local = self._where[node]
        if w >= len(self._handles):
            raise StreamBroken(f"node {label}: its dispatch worker is not running")
        return self._handles[w].call(op, local, args, timeout, label)

    def put(self, node: int, data: bytes, n_samples: int, seq: int, timeout: float) -> None:
        """Queue one message for ``node``'s worker (RingFull, RingClosed, ValueError: too big)."""
        w, local = self._where[node]
        handle = self._handles[w]
        with handle.issue_lock:
            handle.issue.put(MESSAGE, local, n_samples, seq, data, timeout=timeout)

    def worker_of(self, node: int) -> int:
        return self._where[node][0]

    def _on_record(self, node: int, record: Record, t: int) -> None:
        self.transports[node].on_record(record, t)

    def _on_gone(self, handle: WorkerHandle) -> None:
        if self._stopping:
            return
        message = handle.lost_message("")
        for node in handle.nodes:
            self.transports[node].worker_lost(message)

    def release(self, node: int) -> None:
        """``node``'s transport is closed; the last one to close ends the workers."""
        with self._lock:
            self._unclosed.discard(node)
            if self._unclosed or self._stopping:
                return
            self._stop_all()

    def _stop_all(self) -> None:
        self._stopping = True
        for handle in self._handles:
            handle.stop()

    def ring_delays(self) -> RingDelays:
        return RingDelays(self._handles)

    def pids(self) -> list[int]:
        return [h.process.pid for h in self._handles]
