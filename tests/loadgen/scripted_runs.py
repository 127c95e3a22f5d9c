"""One StartTest with a scripted SUT, run by either LoadGen in a child process.

The same child script drives the official wheel (``mlperf_loadgen``) and ours (``loadgen``), so
the two are compared on what only a whole run shows: how often ``response_cb`` is called, which
errors the detail log and the summary count, which samples were issued. Each run gets a fresh
process (the wheel keeps process-global state and cannot run two tests in one process safely).

The SUT completes every sample inline with 8 bytes; with ``first_token`` it first reports a
4-byte first token. ``n_tokens`` lists the token counts its responses carry, in turn.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 120.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r"""
import array, json, os, sys
spec = json.loads(sys.stdin.read())
if spec["impl"] == "official":
    import mlperf_loadgen as lg
else:
    sys.path.insert(0, spec["root"])
    import loadgen as lg

ts = lg.TestSettings()
for key, value in spec["settings"].items():
    if key == "scenario":
        value = getattr(lg.TestScenario, value)
    elif key == "mode":
        value = getattr(lg.TestMode, value)
    setattr(ts, key, value)

data = array.array("B", b"\x01\x02\x03\x04\x05\x06\x07\x08")
address = data.buffer_info()[0]
tokens = spec["n_tokens"]
state = {"issued": [], "complete_cb": 0, "first_token_cb": 0, "answered": 0}

def complete_cb(response):
    state["complete_cb"] += 1

def first_token_cb(response):
    state["first_token_cb"] += 1

def issue(samples):
    state["issued"].append([s.index for s in samples])
    if spec["first_token"]:
        lg.FirstTokenComplete(
            [lg.QuerySampleResponse(s.id, address, 4) for s in samples], first_token_cb
        )
    responses = []
    for s in samples:
        n = tokens[state["answered"] % len(tokens)]
        state["answered"] += 1
        responses.append(lg.QuerySampleResponse(s.id, address, 8, n))
    lg.QuerySamplesComplete(responses, complete_cb)

sut = lg.ConstructSUT(issue, lambda: None)
qsl = lg.ConstructQSL(spec["total"], spec["performance"], lambda i: None, lambda i: None)
log = lg.LogSettings()
log.log_output.outdir = spec["outdir"]
log.enable_trace = False
lg.StartTestWithLogSettings(sut, qsl, ts, log, "no-audit.config")
print("STATE " + json.dumps(state))
"""

# The official detail log writes non-finite doubles as C++ prints them, which is not JSON.
_NON_FINITE = re.compile(r'("value": )(-?)(inf|nan)\b')


@dataclass
class ScriptedRun:
    """What one StartTest did and wrote."""

    issued: list[list[int]]  # sample indices of every IssueQuery, in order
    complete_cb_calls: int  # response_cb calls made by QuerySamplesComplete
    first_token_cb_calls: int  # response_cb calls made by FirstTokenComplete
    detail: list[dict[str, Any]]  # one parsed MLLOG entry per line
    summary: str
    accuracy: list[dict[str, Any]]

    def values(self, key: str) -> list[Any]:
        return [e["value"] for e in self.detail if e["key"] == key]

    def errors(self) -> list[tuple[str, Any]]:
        """(key, value) of every entry the detail log marks as an error, in order."""
        return [(e["key"], e["value"]) for e in self.detail if e["metadata"]["is_error"]]

    def keyed(self, *prefixes: str) -> list[tuple[str, Any]]:
        """(key, value) of every entry whose key starts with one of ``prefixes``."""
        return [(e["key"], e["value"]) for e in self.detail if e["key"].startswith(prefixes)]


def detail_entry(line: str) -> dict[str, Any]:
    """One ``:::MLLOG`` line parsed, whichever LoadGen wrote it."""

    def fix(m: re.Match[str]) -> str:
        return m.group(1) + m.group(2) + ("Infinity" if m.group(3) == "inf" else "NaN")

    return json.loads(_NON_FINITE.sub(fix, line[len(":::MLLOG ") :]))


def scripted_run(
    impl: str,
    settings: dict[str, Any],
    *,
    total: int = 100,
    performance: int = 10,
    first_token: bool = False,
    n_tokens: tuple[int, ...] = (0,),
) -> ScriptedRun:
    """Run one StartTest with ``impl`` ("official" or "ours") and collect what it did."""
    with tempfile.TemporaryDirectory(prefix="lg-scripted-") as tmp:
        spec = {
            "impl": impl,
            "root": ROOT,
            "settings": settings,
            "total": total,
            "performance": performance,
            "first_token": first_token,
            "n_tokens": list(n_tokens),
            "outdir": tmp,
        }
        proc = subprocess.run(
            [sys.executable, "-c", CHILD],
            input=json.dumps(spec),
            cwd=tmp,  # no audit.config can be picked up from the caller's directory
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
        )
        state = None
        for line in proc.stdout.splitlines():
            if line.startswith("STATE "):
                state = json.loads(line[len("STATE ") :])
        if proc.returncode != 0 or state is None:
            raise RuntimeError(
                f"{impl} child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
            )

        def read(name: str) -> str:
            with open(os.path.join(tmp, name), encoding="utf-8") as f:
                return f.read()

        detail = [detail_entry(line) for line in read("mlperf_log_detail.txt").splitlines()]
        return ScriptedRun(
            issued=state["issued"],
            complete_cb_calls=state["complete_cb"],
            first_token_cb_calls=state["first_token_cb"],
            detail=detail,
            summary=read("mlperf_log_summary.txt"),
            accuracy=json.loads(read("mlperf_log_accuracy.json")),
        )
