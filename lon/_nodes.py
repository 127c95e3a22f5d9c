"""Start SUT node processes (``sut-server``) and wait until they say they are ready.

A node prints ``sut-server ready: name=<name> listen=<host>:<port> backend=<backend>`` on
stdout once it is bound, so it may listen on port 0 and we learn the real port from that line.
The QDL never imports the server: it only runs it as a separate program. The reference engine
(``python -m sut_server.fake_engine``, a stand-in LLM server for nodes to sit in front of) is
started the same way, from its own ready line.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qdl import NodeProcessError

READY_LINE = re.compile(
    r"sut-server ready: name=(?P<name>\S+) listen=(?P<address>\S+) backend=(?P<backend>\S+)"
)
ENGINE_READY_LINE = re.compile(
    r"reference engine ready .*?url=(?P<address>\S+) model=(?P<backend>\S+)"
)


def sut_server_command(
    backend: str = "numpy-mlp",
    listen: str = "127.0.0.1:0",
    extra: Sequence[str] = (),
    module: str = "sut_server",
) -> list[str]:
    """The argv that starts one node with this Python (``python -m sut_server ...``)."""
    return [sys.executable, "-m", module, "--listen", listen, "--backend", backend, *extra]


@dataclass
class NodeProcess:
    """A running node: what its ready line said, and the process."""

    name: str
    address: str
    backend: str
    process: subprocess.Popen[str]
    _drain: threading.Thread
    _stderr: tempfile._TemporaryFileWrapper[bytes]

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; return its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._drain.join(timeout)
        self._stderr.close()
        return self.process.returncode


def fake_engine_command(*args: str) -> list[str]:
    """The argv of one reference engine on 127.0.0.1 (any free port) with ``args``."""
    return [sys.executable, "-m", "sut_server.fake_engine", "--listen", "127.0.0.1:0", *args]


@contextlib.contextmanager
def running_engines(count: int, *args: str) -> Iterator[list[str]]:
    """``count`` reference engines started with ``args``; yields their base URLs."""
    commands = [fake_engine_command(*args)] * count
    with running_nodes(commands, ready=ENGINE_READY_LINE) as engines:
        yield [engine.address for engine in engines]


@contextlib.contextmanager
def running_llm_nodes(count: int, *engine_args: str) -> Iterator[list[NodeProcess]]:
    """``count`` openai nodes (n0, n1, ...), each in front of a reference engine of its own."""
    with running_engines(count, *engine_args) as urls:
        commands = [
            sut_server_command("openai", extra=("--name", f"n{i}", "--backend-opt", f"url={u}/v1"))
            for i, u in enumerate(urls)
        ]
        with running_nodes(commands) as nodes:
            yield nodes


def start_node(
    argv: Sequence[str], *, ready_timeout: float = 30.0, ready: re.Pattern[str] = READY_LINE
) -> NodeProcess:
    """Run ``argv`` and wait for its ``ready`` line (its address, and name and backend where
    it says them); raise NodeProcessError if it never comes."""
    stderr = tempfile.NamedTemporaryFile(prefix="lon-node-", suffix=".stderr")  # noqa: SIM115
    try:
        process = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=stderr, text=True, bufsize=1
        )
    except OSError as exc:
        stderr.close()
        raise NodeProcessError(f"cannot start node {' '.join(argv)}: {exc}") from exc
    lines: queue.Queue[str | None] = queue.Queue()
    drain = threading.Thread(
        target=_pump, args=(process, lines), name=f"node-stdout-{process.pid}", daemon=True
    )
    drain.start()
    deadline = time.monotonic() + ready_timeout
    seen: collections.deque[str] = collections.deque(maxlen=5)
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
            why = f"did not report ready within {ready_timeout:g} s"
        else:
            if line is not None:
                match = ready.search(line)
                if match:
                    found = match.groupdict()
                    name = found.get("name") or "reference-engine"
                    return NodeProcess(
                        name, found["address"], found["backend"], process, drain, stderr
                    )
                seen.append(line.rstrip())
                continue
            why = f"exited with code {process.wait()} before it was ready"
        process.kill()
        process.wait()
        drain.join(5)
        raise NodeProcessError(f"node {' '.join(argv[-4:])} {why}{_tail(stderr, seen)}")


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Forward stdout lines until EOF; keeps the pipe drained for the node's whole life."""
    assert process.stdout is not None
    with process.stdout:
        for line in process.stdout:
            lines.put(line)
    lines.put(None)


def _tail(stderr: tempfile._TemporaryFileWrapper[bytes], stdout: Sequence[str]) -> str:
    stderr.flush()
    try:
        with open(stderr.name, "rb") as f:
            f.seek(max(0, os.path.getsize(stderr.name) - 2000))
            text = f.read().decode(errors="replace").strip().splitlines()[-5:]
    except OSError:
        text = []
    shown = [*stdout, *text]
    return ("; last output: " + " | ".join(shown)) if shown else ""


@contextlib.contextmanager
def running_nodes(
    commands: Sequence[Sequence[str]],
    *,
    ready_timeout: float = 30.0,
    ready: re.Pattern[str] = READY_LINE,
) -> Iterator[list[NodeProcess]]:
    """Start every node (they start in parallel), yield them ready, stop them all at exit."""
    results: list[NodeProcess | BaseException | None] = [None] * len(commands)

    def start(i: int) -> None:
        try:
            results[i] = start_node(commands[i], ready_timeout=ready_timeout, ready=ready)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=start, args=(i,), daemon=True) for i in range(len(commands))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [r for r in results if isinstance(r, NodeProcess)]
    try:
        for r in results:
            if isinstance(r, BaseException):
                raise r
        yield started
    finally:
        for node in started:
            node.stop()
