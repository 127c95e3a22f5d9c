"""The fault table: what lon-run does when a node fails mid-run, under each --on-node-loss.

    .venv/bin/python benchmarks/faults.py [--qps 200] [--duration-ms 3000]

Two sut-server processes on loopback, a Server run over both (round-robin), and one fault on
the first node, injected ~2.5 s after lon-run starts:

    SIGKILL        the node process is killed
    SIGSTOP        the node process is frozen (kept frozen until the run ends)
    restart        killed, and a new node started at once on the same port
    hung sample    its 100th sample is never answered (backend HangOne)
    error every 7  every 7th sample it gets is answered with an error (backend ErrorEvery)

Columns: detect = seconds from the fault to lon-run knowing it (the loss recorded, or the
"run failed" line); exit lag = seconds from that line to lon-run's exit; re-sent = samples
sent again to the surviving node; lost = samples completed without a node's answer; late =
answers from a lost node that arrived anyway and were dropped (a sample completed twice would
fail the run: completed == issued is checked); exit = lon-run's exit status.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
FAULTS = ("SIGKILL", "SIGSTOP", "restart", "hung sample", "error every 7")
INJECT_AFTER_S = 2.5
# The nodes take 20 ms a sample; a 1 s bound makes a run INVALID only for what the fault did.
LATENCY_BOUND_NS = 1_000_000_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """Read a pipe on a thread, stamping each line with time.time()."""

    def __init__(self, pipe) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:  # type: ignore[no-untyped-def]
        for line in pipe:
            self.lines.append((time.time(), line.rstrip("\n")))

    def first(self, pattern: str) -> float | None:
        return next((t for t, line in self.lines if re.search(pattern, line)), None)

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


def node(
    port: int, name: str, backend: str = "echo", *extra: str
) -> tuple[subprocess.Popen, Lines]:
    proc = subprocess.Popen(
        [PY, "-m", "sut_server", "--listen", f"127.0.0.1:{port}", "--name", name,
         "--backend", backend, "--workers", "2", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    line = proc.stdout.readline()
    if "ready" not in line:
        raise RuntimeError(f"node {name} did not start: {line!r}")
    return proc, Lines(proc.stderr)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
    proc.wait(20)


def one_run(fault: str, policy: str, qps: int, duration_ms: int) -> dict[str, object]:
    ports = [free_port(), free_port()]
    backend, extra = "synthetic", ["--service-time-us", "20000"]  # owes a few at any time
    if fault == "hung sample":
        backend, extra = "benchmarks._fault_backends:HangOne", ["--backend-opt", "hang_at=100"]
    elif fault == "error every 7":
        backend, extra = "benchmarks._fault_backends:ErrorEvery", ["--backend-opt", "every=7"]
    victim, victim_err = node(ports[0], "victim", backend, *extra)
    survivor, _ = node(ports[1], "survivor")
    nodes = [victim, survivor]
    out = tempfile.mkdtemp(prefix="faults-")
    argv = [
        PY, "-m", "lon._run", "--nodes", ",".join(f"127.0.0.1:{p}" for p in ports),
        "--scenario", "Server", "--synthetic", "16:uint8:64", "--output", out,
        "--balance", "round-robin", "--on-node-loss", policy,
        "--set", f"server_target_qps={qps}", "--set", f"min_duration_ms={duration_ms}",
        "--set", "min_query_count=100", "--set", f"server_target_latency_ns={LATENCY_BOUND_NS}",
    ]  # fmt: skip
    started = time.time()
    run = subprocess.Popen(
        argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    err, _ = Lines(run.stderr), Lines(run.stdout)
    exited: list[float] = []
    waiter = threading.Thread(target=lambda: (run.wait(), exited.append(time.time())), daemon=True)
    waiter.start()
    injected = started
    try:
        if fault in ("SIGKILL", "SIGSTOP", "restart"):
            time.sleep(INJECT_AFTER_S)
            injected = time.time()
            if fault == "SIGSTOP":
                victim.send_signal(signal.SIGSTOP)
            else:
                victim.kill()
                victim.wait(20)
                if fault == "restart":
                    nodes.append(node(ports[0], "victim-again")[0])
        waiter.join(180)
        code = run.wait(1)
        ended = exited[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for proc in nodes:
            stop(proc)
    if fault == "hung sample":
        injected = victim_err.first("hanging") or started
    elif fault == "error every 7":
        injected = started
    try:
        with open(os.path.join(out, "lon_node_stats.json"), encoding="utf-8") as f:
            stats = json.load(f)
    except OSError:
        stats = {}
    failed_at = err.first(r"lon-run: error: run failed")
    losses = stats.get("node_losses") or []
    known = losses[0]["unix_time"] if losses else failed_at
    answered = sum(n.get("samples", 0) for n in stats.get("nodes", []))
    issued = stats.get("samples_issued", 0)
    return {
        "fault": fault,
        "policy": policy,
        "detect_s": None if known is None else known - injected,
        "exit_lag_s": None if failed_at is None else ended - failed_at,
        "resent": stats.get("samples_resent", 0),
        "lost": issued - answered,
        "late": stats.get("late_answers_dropped", 0),
        "exactly_once": stats.get("samples_completed") == issued,
        "exit": code,
        "result": _verdict(out),
        "why": (stats.get("failure") or (losses[0]["reason"] if losses else ""))[:90],
    }


def _verdict(out: str) -> str:
    """VALID, or INVALID with the summary's reasons (its lines that say what was not met)."""
    try:
        with open(os.path.join(out, "mlperf_log_summary.txt"), encoding="utf-8") as f:
            summary = f.read()
    except OSError:
        return "no summary"
    if "Result is : VALID" in summary:
        return "VALID"
    reasons = [
        line.strip(" *")
        for line in summary.splitlines()
        if line.startswith(" * ") or re.search(r"constraints satisfied : No", line)
    ]
    return "INVALID" + (f" ({'; '.join(reasons)[:80]})" if reasons else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qps", type=int, default=200)
    parser.add_argument("--duration-ms", type=int, default=3000)
    parser.add_argument("--faults", default=",".join(FAULTS))
    args = parser.parse_args()
    rows = []
    for fault in args.faults.split(","):
        for policy in ("fail", "redispatch"):
            row = one_run(fault, policy, args.qps, args.duration_ms)
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)

    def s(v: object) -> str:
        return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    head = ("fault", "policy", "detect s", "exit lag s", "re-sent", "lost", "late", "once", "exit",
            "result")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        cells = (r["fault"], r["policy"], s(r["detect_s"]), s(r["exit_lag_s"]), s(r["resent"]),
                 s(r["lost"]), s(r["late"]), s(r["exactly_once"]), s(r["exit"]),
                 s(r["result"]))  # fmt: skip
        print("| " + " | ".join(cells) + " |")
    print()
    for r in rows:
        print(f"{r['fault']} / {r['policy']}: {r['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
