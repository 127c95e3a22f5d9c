"""``power_begin``/``power_end`` as the power client and checker read them: our LoadGen writes
them in the official wheel's format (UTC, month first, milliseconds), and each lies inside its
run as the official definition has it (begin when issuing starts, end at the last completion)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from lon._nodes import NodeProcess
from tests.conftest import LOADGENS, LON_RUN, need_loadgen

STAMP = re.compile(r"^\d\d-\d\d-\d{4} \d\d:\d\d:\d\d\.\d{3}$")
RUN = (
    "--scenario", "SingleStream", "--model", "resnet50", "--synthetic", "8x8x3:uint8:64",
    "--set", "min_duration_ms=1000", "--set", "min_query_count=16",
    "--set", "single_stream_expected_latency_ns=200000", "--quiet", "--audit-config", "none",
)  # fmt: skip


def power_stamps(detail: Path) -> dict[str, str]:
    """The values of the power_begin and power_end records of a detail log."""
    found = {}
    for line in detail.read_text().splitlines():
        record = json.loads(line.removeprefix(":::MLLOG "))
        if record["key"] in ("power_begin", "power_end"):
            found[record["key"]] = record["value"]
    return found


def utc(value: str) -> float:
    parsed = datetime.strptime(value, "%m-%d-%Y %H:%M:%S.%f")
    return parsed.replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize("loadgen", LOADGENS)
def test_power_stamps_are_utc_and_inside_the_run(
    loadgen: str, tmp_path: Path, echo_pair: list[NodeProcess]
) -> None:
    need_loadgen(loadgen)
    nodes = ",".join(node.address for node in echo_pair)
    before = time.time()
    done = subprocess.run(
        [*LON_RUN, "--nodes", nodes, *RUN, "--loadgen", loadgen, "--output", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    after = time.time()
    assert done.returncode in (0, 1), done.stderr
    stamps = power_stamps(tmp_path / "mlperf_log_detail.txt")
    assert set(stamps) == {"power_begin", "power_end"}
    assert all(STAMP.match(v) for v in stamps.values()), stamps
    # The stamps have milliseconds; the bounds are widened by that much.
    assert before - 0.001 <= utc(stamps["power_begin"]) <= utc(stamps["power_end"]) <= after
