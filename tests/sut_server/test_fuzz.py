"""A bounded fuzz run against a real node process: 20 k hostile inputs (see ``fuzz_inputs``);
the node must answer every parsable sample exactly once, keep serving a proper client, and keep
its memory bounded. ``benchmarks/fuzz_node.py`` runs the same for 1 M inputs."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

from .fuzz_inputs import FuzzClient, FuzzInputs, rss_bytes

INPUTS = 20_000
WARM_UP = 2_000
CHECK_EVERY = 2_000
RSS_GROWTH_LIMIT = 96 * 1024 * 1024
"""Room for the allocator's pools and a decoded 8 MiB sample or two; leaking 14-19 KB per
garbage unary call, as grpcio's own deserializers did, grows the node by well over this."""

NODE = [
    sys.executable, "-m", "sut_server", "--listen", "127.0.0.1:0", "--backend", "echo",
    "--name", "fuzzed", "--max-inflight-bytes", str(32 * 1024 * 1024),
]  # fmt: skip


@pytest.fixture
def node():
    proc = subprocess.Popen(NODE, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"listen=(\S+)", line)
        assert match, f"node did not start: {line!r}"
        yield proc, match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


@pytest.mark.timeout(300)
def test_twenty_thousand_hostile_inputs_leave_the_node_serving_and_bounded(node):
    proc, address = node
    inputs = FuzzInputs(seed=12)
    stream = iter(inputs)
    client = FuzzClient(address)
    try:
        client.throw(itertools.islice(stream, WARM_UP))
        baseline = rss_bytes(proc.pid)
        for _ in range((INPUTS - WARM_UP) // CHECK_EVERY):
            client.throw(itertools.islice(stream, CHECK_EVERY))
            assert client.well_behaved(inputs), dict(client.counts)
            assert proc.poll() is None, "the node died"
        final = rss_bytes(proc.pid)
        counts = dict(client.counts)
    finally:
        client.close()
    assert counts["samples answered"] == counts["samples sent"], counts
    assert not any(k.startswith("streams ") and k != "streams ok" for k in counts), counts
    assert not any(k.endswith("INTERNAL") or k.endswith("UNKNOWN") for k in counts), counts
    assert counts.get("unparsable Infer OK", 0) == 0, counts
    assert final - baseline < RSS_GROWTH_LIMIT, (
        f"node RSS grew {(final - baseline) / 2**20:.0f} MiB over {INPUTS - WARM_UP} inputs "
        f"({baseline / 2**20:.0f} -> {final / 2**20:.0f} MiB)"
    )
