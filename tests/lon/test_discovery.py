"""Node discovery: --nodes dns:NAME:PORT and --nodes-file, against the real resolver and real
nodes; duplicates and names that do not resolve are one-line errors naming them."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from lon._discovery import node_addresses, resolve_host
from lon._nodes import running_nodes, sut_server_command
from qdl import ConfigError
from tests.conftest import FINISHED, LON_RUN, ROOT

UNRESOLVABLE = "no-such-node.invalid"  # .invalid never resolves (RFC 6761)


def localhost_ips() -> list[str]:
    """What this machine's resolver says localhost is (127.0.0.1, and ::1 where listed)."""
    return sorted({info[4][0] for info in socket.getaddrinfo("localhost", 1, socket.AF_UNSPEC)})


def test_dns_entry_expands_to_every_address_the_name_resolves_to():
    found = node_addresses("dns:localhost:50051", None)
    expected = sorted(f"[{ip}]:50051" if ":" in ip else f"{ip}:50051" for ip in localhost_ips())
    assert sorted(found) == expected
    assert "127.0.0.1:50051" in found


def test_several_records_become_several_nodes_in_resolver_order():
    # What a headless Service with three ready pods answers.
    records = {"sut-nodes": ["10.1.0.7", "10.1.0.5", "fd00::9"]}
    found = node_addresses("dns:sut-nodes:50051", None, lambda name, port: records[name])
    assert found == ("10.1.0.7:50051", "10.1.0.5:50051", "[fd00::9]:50051")


def test_resolve_host_lists_each_address_once():
    ips = resolve_host("localhost", 50051)
    assert "127.0.0.1" in ips and len(ips) == len(set(ips))


def test_nodes_file_with_comments_and_blank_lines(tmp_path):
    listing = tmp_path / "nodes.txt"
    listing.write_text(
        "# the SUT machines\n\n10.0.0.2:50051   # rack 1\n  [fd00::3]:50051\ndns:localhost:7000\n"
    )
    found = node_addresses("10.0.0.9:50051", str(listing))
    assert found[:3] == ("10.0.0.9:50051", "10.0.0.2:50051", "[fd00::3]:50051")
    assert "127.0.0.1:7000" in found[3:]


@pytest.mark.parametrize(
    ("nodes", "lines", "message"),
    [
        ("10.0.0.2:1,10.0.0.2:1", None, "node 10.0.0.2:1 is listed twice: --nodes and --nodes"),
        ("127.0.0.1:9", "\n\ndns:localhost:9\n",
         "node 127.0.0.1:9 is listed twice: --nodes and {file}:3 (from dns:localhost:9)"),
        (None, "a:1\n# b:1\nb:1\na:1\n", "node a:1 is listed twice: {file}:1 and {file}:4"),
        (f"dns:{UNRESOLVABLE}:50051", None,
         f"--nodes: dns:{UNRESOLVABLE}:50051: {UNRESOLVABLE} does not resolve"),
        (None, f"ok:1\ndns:{UNRESOLVABLE}:2\n",
         f"{{file}}:2: dns:{UNRESOLVABLE}:2: {UNRESOLVABLE} does not resolve"),
        ("dns:localhost", None, "--nodes: 'dns:localhost' is not dns:NAME:PORT"),
        ("dns:localhost:0", None, "--nodes: 'dns:localhost:0': port '0' is not in 1..65535"),
        (None, "host-without-port\n", "{file}:1: node address 'host-without-port' is not"),
        (None, "# nothing\n", "--nodes-file {file}: lists no node"),
        (None, None, "give the nodes: --nodes HOST:PORT[,...] or --nodes-file FILE"),
    ],
)  # fmt: skip
def test_bad_node_lists_are_one_error_naming_the_entry(tmp_path, nodes, lines, message):
    listing = tmp_path / "nodes.txt"
    if lines is not None:
        listing.write_text(lines)
    with pytest.raises(ConfigError) as caught:
        node_addresses(nodes, str(listing) if lines is not None else None)
    assert message.format(file=listing) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_nodes_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"--nodes-file .*absent.txt: cannot read"):
        node_addresses(None, str(tmp_path / "absent.txt"))


def run_lon(tmp_path, *nodes_args):
    return subprocess.run(
        [*LON_RUN, *nodes_args, "--scenario", "Offline", "--synthetic", "4:uint8:16",
         "--set", "min_duration_ms=100", "--set", "offline_expected_qps=200",
         "--balance", "round-robin", "--output", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def test_lon_run_reaches_a_node_over_ipv4_and_ipv6_from_a_nodes_file(tmp_path):
    # One node listening on both families; dns:localhost gives its IPv4 address (and ::1 where
    # the resolver lists it), [::1] is named explicitly: gRPC connects to each as its own node.
    with running_nodes([sut_server_command("echo", "[::]:0")]) as (node,):
        port = int(node.address.rsplit(":", 1)[1])
        expected = {f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}" for ip in localhost_ips()}
        expected.add(f"[::1]:{port}")
        listing = tmp_path / "nodes.txt"
        listing.write_text(f"dns:localhost:{port}  # every address\n")
        if f"[::1]:{port}" not in node_addresses(f"dns:localhost:{port}", None):
            listing.write_text(listing.read_text() + f"[::1]:{port}\n")
        proc = run_lon(tmp_path, "--nodes-file", str(listing))
    assert proc.returncode in FINISHED, proc.stderr
    stats = json.loads((tmp_path / "out" / "lon_node_stats.json").read_text())
    assert {n["address"] for n in stats["nodes"]} == expected
    assert all(n["samples"] > 0 for n in stats["nodes"])
    assert stats["samples_completed"] == stats["samples_issued"]


def test_lon_run_unresolvable_name_is_exit_2_with_one_line(tmp_path):
    proc = run_lon(tmp_path, "--nodes", f"127.0.0.1:1,dns:{UNRESOLVABLE}:50051")
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"lon-run: error: --nodes: dns:{UNRESOLVABLE}:50051: {UNRESOLVABLE} does not resolve"
    )
    assert proc.stderr.count("\n") == 1
