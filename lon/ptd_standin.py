"""A PTDaemon stand-in: rehearse the MLCommons power workflow without a power analyzer.

The power server (power-dev's ``server.py``) starts PTDaemon as
``PTD -l LOGFILE -p PORT [-b N] [-c CH] [-D] [IFACE] DEVICE_TYPE DEVICE_PORT`` and drives it
over TCP with one-line text commands. This program takes the same command line and answers
the commands the server sends, with figures from a model instead of a meter, so everything
around the analyzer (clock sync, ranging, testing, file transfer, the tree) is rehearsed for
real. It says what it is: its ``Identify`` answer and its log name it a simulator, and it takes
only device type 0, so the power checker's analyzer checks fail by name and nothing it produces
passes as a measurement.

``DEVICE_PORT`` carries the model, e.g. ``watts=350,volts=230,pf=0.95``; ``watts=`` may be an
expression of ``t`` and, with ``metrics=URL|URL`` (sut-server's metrics pages), of ``load``, the
nodes' answered samples per second. ``skew=S`` shifts every time it reports by S seconds and
``drop=CMD`` closes the connection when CMD arrives, for rehearsing failures. Samples are not
taken by a timer: each is computed for its due time (``Go`` plus whole intervals) when it is
asked for, so the stand-in is exact on any clock it is given; only the load, if followed, is
read by a thread as the run goes.
"""

from __future__ import annotations

import argparse
import ast
import math
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO

from ._ptd_load import LoadMeter
from ._versions import version_text

SIMULATED_DEVICE_TYPE = 0
"""PTDaemon's number for a dummy analyzer; no power checker accepts it."""

HELLO = "Hello, PTDaemon here!"
IDENTIFY = (
    "lon-ptd-standin SIMULATOR (no analyzer attached; watts come from a model)"
    ",version=simulator-lon-ptd-standin"
)
BANNER = (
    "lon-ptd-standin: SIMULATOR, not PTDaemon: no power analyzer is attached and every figure "
    "comes from the model {model}; nothing it reports is a measurement"
)
STAMP_FORMAT = "%m-%d-%Y %H:%M:%S.%f"  # PTDaemon's, to the microsecond; shown to the ms
FLUSH_PAD = 8192
"""The power server copies PTDaemon's output into its log through a buffered file and reads
that file before closing it, so the last few KiB are missing unless more follows: a real
PTDaemon in a run of minutes prints far more than that; the stand-in ends its ``Go`` and
``Stop`` lines with this many spaces, so the lines the checker looks for reach the file."""

LOAD_PERIOD_S = 0.5
"""How often the nodes' metrics are read for a load-following model."""

Clock = Callable[[], float]
"""Seconds since the epoch, like ``time.time``."""


class StandinError(Exception):
    """A command line or model the stand-in cannot run with; the message says why."""


def stamp(t: float) -> str:
    """``t`` as PTDaemon writes times: UTC, month first, milliseconds."""
    return datetime.fromtimestamp(t, tz=timezone.utc).strftime(STAMP_FORMAT)[:-3]


_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sin": math.sin,
    "cos": math.cos,
    "min": min,
    "max": max,
    "abs": abs,
}
_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.UAdd, ast.Mod)


def compile_watts(text: str) -> Callable[[float, float], float]:
    """Watts as a function of ``t`` (seconds since ``Go``) and ``load`` (the nodes' answered
    samples per second, with ``metrics=``): a number or an arithmetic expression over them with
    sin, cos, min, max, abs; nothing else is evaluated."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise StandinError(f"watts={text}: not an expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ("t", "load", *_FUNCTIONS):
            raise StandinError(
                f"watts={text}: unknown name {node.id!r} (use t, load, {', '.join(_FUNCTIONS)})"
            )
        if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
            raise StandinError(f"watts={text}: only calls to {', '.join(_FUNCTIONS)}")
        allowed = (
            ast.Expression,
            ast.BinOp,
            ast.UnaryOp,
            ast.Constant,
            ast.Name,
            ast.Load,
            ast.Call,
        )
        if not isinstance(node, allowed + _OPERATORS):
            raise StandinError(f"watts={text}: {type(node).__name__} is not allowed")
    code = compile(tree, "<watts>", "eval")

    def watts(t: float, load: float) -> float:
        return float(eval(code, {"__builtins__": {}}, {"t": t, "load": load, **_FUNCTIONS}))

    try:
        watts(0.0, 0.0)
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise StandinError(f"watts={text}: {exc}") from None
    return watts


@dataclass(frozen=True)
class Model:
    """What the simulated analyzer reports: watts (a function of time), volts, power factor."""

    watts_text: str = "300"
    volts: float = 230.0
    pf: float = 0.95
    skew_s: float = 0.0
    drop: str | None = None
    metrics: tuple[str, ...] = ()
    watts: Callable[[float, float], float] = field(
        default=lambda t, load: 300.0, repr=False, compare=False
    )

    def __str__(self) -> str:
        return f"watts={self.watts_text},volts={self.volts:g},pf={self.pf:g}"


def parse_model(spec: str) -> Model:
    """``watts=EXPR,volts=V,pf=PF,skew=S,drop=CMD,metrics=URL|URL`` (any subset; the rest
    default)."""
    values: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in ("watts", "volts", "pf", "skew", "drop", "metrics"):
            raise StandinError(
                f"device port {spec!r}: {item!r} is not one of watts=, volts=, pf=, skew=, "
                "drop=, metrics="
            )
        values[key] = value
    try:
        volts = float(values.get("volts", "230"))
        pf = float(values.get("pf", "0.95"))
        skew = float(values.get("skew", "0"))
    except ValueError as exc:
        raise StandinError(f"device port {spec!r}: {exc}") from None
    if not (volts > 0 and 0 < pf <= 1):
        raise StandinError(f"device port {spec!r}: volts must be > 0 and pf in (0, 1]")
    text = values.get("watts", "300")
    urls = tuple(u for u in values.get("metrics", "").split("|") if u)
    return Model(text, volts, pf, skew, values.get("drop") or None, urls, compile_watts(text))


@dataclass
class Measurement:
    """One ``Go`` to ``Stop``: samples fall due every ``interval_s`` after ``start``."""

    mark: str
    start: float
    interval_s: float
    taken: int = 0  # samples already computed (logged)
    read: int = 0  # samples already handed out by RL
    stopped_at: float | None = None

    def due(self, now: float) -> int:
        """How many samples are due by ``now`` (all of them up to Stop once stopped)."""
        end = now if self.stopped_at is None else min(now, self.stopped_at)
        return max(0, math.floor((end - self.start) / self.interval_s + 1e-9))


class Analyzer:
    """The simulated analyzer and PTDaemon's command set over it; no I/O but two files.

    ``log`` receives what PTDaemon prints (the power server keeps it as ptd_logs.txt);
    ``samples`` is the ``-l`` file, one line per sample with its mark, as ranging reads it.
    """

    def __init__(
        self,
        model: Model,
        log: TextIO,
        samples: TextIO,
        clock: Clock,
        load: Callable[[float, float], float] | None = None,
    ) -> None:
        self.model = model
        self._load = load  # samples per second between two times of ``clock``
        self._log = log
        self._samples = samples
        self._clock = clock
        self._ranges = {"A": "20.000000", "V": "300.000000"}
        self._measurement: Measurement | None = None
        self._rows: list[str] = []  # computed, not yet read by RL
        self._last_watts = -1.0

    def now(self) -> float:
        return self._clock() + self.model.skew_s

    def say(self, text: str) -> None:
        self._log.write(f"{stamp(self.now())} : {text}\n")
        self._log.flush()

    def handle(self, line: str) -> str:
        """The reply to one command line (several lines for RL)."""
        name, _, rest = line.partition(",")
        if line == "Hello":
            return HELLO
        if line == "Identify":
            return IDENTIFY
        if line == "RR":
            return f"Ranges,0,{self._ranges['A']},0,{self._ranges['V']}"
        if name == "SR" and rest[:2] in ("A,", "V,"):
            return self._set_range(rest[0], rest[2:])
        if name == "Go":
            return self._go(rest)
        if line == "Stop":
            return self._stop()
        if line == "RL":
            return self._read_samples()
        if name == "RL":
            return "Error: Invalid number of parameters (a single-channel analyzer)"
        if line == "Watts":
            self._take()
            return f"Watts,{self._last_watts:.6f}"
        if line == "Uncertainty":
            return "Uncertainty,simulated"
        return "Unknown command"

    def _set_range(self, what: str, value: str) -> str:
        if value != "Auto":
            try:
                if not float(value) > 0:
                    raise ValueError
            except ValueError:
                return f"Error: invalid range {value!r} for {what}"
        self._ranges[what] = value
        return f"Range {what} changed"

    def _go(self, args: str) -> str:
        parts = args.split(",", 2)
        try:
            interval_ms, rampup = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            return "Error: Go needs INTERVAL_MS,RAMPUP,MARK"
        if interval_ms <= 0 or len(parts) < 3:
            return "Error: Go needs INTERVAL_MS,RAMPUP,MARK"
        self._take()
        mark = parts[2]
        self._measurement = Measurement(mark, self.now(), interval_ms / 1000)
        self._rows.clear()
        self.say(f"Go with mark {mark!r}")
        self.say("(padding)" + " " * FLUSH_PAD)
        return (
            f"Starting untimed measurement, maximum 500000 samples at {interval_ms}ms "
            f"with {rampup} rampup samples"
        )

    def _stop(self) -> str:
        m = self._measurement
        if m is None or m.stopped_at is not None:
            return "Error: no measurement to stop"
        m.stopped_at = self.now()
        self._take()
        self.say("Completed test")
        self.say("(padding)" + " " * FLUSH_PAD)
        return "Stopping untimed measurement"

    def _take(self) -> None:
        """Compute every sample due by now, log it to the ``-l`` file, keep it for RL."""
        m = self._measurement
        if m is None:
            return
        due = m.due(self.now())
        for k in range(m.taken + 1, due + 1):
            at = m.start + k * m.interval_s
            load = 0.0
            if self._load is not None:
                true_at = at - self.model.skew_s
                load = self._load(true_at - m.interval_s, true_at)
            watts = self.model.watts(at - m.start, load)
            amps = watts / (self.model.volts * self.model.pf)
            row = (
                f"Time,{stamp(at)},Watts,{watts:.6f},Volts,{self.model.volts:.6f},"
                f"Amps,{amps:.6f},PF,{self.model.pf:.6f}"
            )
            self._samples.write(f"{row},Mark,{m.mark}\n")
            self._rows.append(row)
            self._last_watts = watts
        self._samples.flush()
        m.taken = max(m.taken, due)

    def _read_samples(self) -> str:
        self._take()
        rows, self._rows = self._rows, []
        return "\r\n".join([f"Last {len(rows)} samples", *rows])


def serve(listener: socket.socket, analyzer: Analyzer) -> None:
    """Answer one power server connection after another until a ``drop`` ends the process."""
    while True:
        conn, peer = listener.accept()
        try:
            with conn, conn.makefile("rb") as reader:
                for raw in reader:
                    line = raw.decode(errors="replace").rstrip("\r\n")
                    if analyzer.model.drop is not None and line == analyzer.model.drop:
                        analyzer.say(f"dropping the connection on {line!r} (drop= in the model)")
                        return
                    conn.sendall((analyzer.handle(line) + "\r\n").encode())
        except OSError as exc:  # the server went away mid-command: wait for the next one
            analyzer.say(f"connection from {peer[0]} lost ({exc.strerror or exc})")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lon-ptd-standin",
        description="A PTDaemon stand-in (a simulator) for rehearsing MLCommons power runs: "
        "set it as 'ptd' in the power server's config, with deviceType: 0 and the model as "
        "devicePort, e.g. watts=350,volts=230,pf=0.95",
    )
    p.add_argument("-l", dest="logfile", required=True, help="the sample log the server reads")
    p.add_argument("-p", dest="port", type=int, default=8888, help="TCP port (default 8888)")
    p.add_argument("-b", dest="board", help="GPIB board (accepted, unused)")
    p.add_argument("-c", dest="channel", help="channels (accepted, unused)")
    p.add_argument("-D", dest="dc", action="store_true", help="DC meter (accepted, unused)")
    for flag in ("-n", "-g", "-y", "-U"):
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--version", action="version", version=version_text())
    p.add_argument("device_type", type=int, help=f"must be {SIMULATED_DEVICE_TYPE} (simulated)")
    p.add_argument("device_port", nargs="?", default="", help="the model: watts=..,volts=..")
    return p


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    import time

    args = build_parser().parse_args(argv)
    try:
        if args.device_type != SIMULATED_DEVICE_TYPE:
            raise StandinError(
                f"device type {args.device_type} names a real analyzer; this stand-in is a "
                f"simulator and takes only deviceType: {SIMULATED_DEVICE_TYPE}"
            )
        model = parse_model(args.device_port)
        samples = open(args.logfile, "a", encoding="utf-8")  # noqa: SIM115 (lives as long as main)
        listener = socket.create_server((args.host, args.port))
    except (StandinError, OSError) as exc:
        sys.stderr.write(f"lon-ptd-standin: error: {exc}\n")
        return 2
    clock = clock or time.time
    meter = LoadMeter(model.metrics, clock) if model.metrics else None
    analyzer = Analyzer(model, sys.stdout, samples, clock, meter.rate if meter else None)
    stopped = threading.Event()
    poller = threading.Thread(target=meter.run, args=(stopped, LOAD_PERIOD_S)) if meter else None
    with listener, samples:
        if poller is not None:
            poller.start()
        analyzer.say(BANNER.format(model=model))
        analyzer.say("Uncertainty checking for Yokogawa-simulator is activated (simulated)")
        analyzer.say(f"listening on {args.host}:{args.port}")
        try:
            serve(listener, analyzer)
        except KeyboardInterrupt:
            pass
        finally:
            stopped.set()
            if poller is not None:
                poller.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
