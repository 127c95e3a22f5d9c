"""Where the SUT nodes are: ``--nodes`` entries and ``--nodes-file`` lines, as node addresses.

An entry is ``HOST:PORT`` (IPv6 hosts in brackets), or ``dns:NAME:PORT``, which stands for every
address ``NAME`` resolves to: what a Kubernetes headless Service (one A/AAAA record per ready pod)
or a round-robin DNS name gives. A nodes file holds one entry per line; ``#`` starts a comment.

The result is a list in which every address appears once: a node listed twice would be sent twice
its share of the load and counted as two nodes, so a duplicate is an error naming both places, as
is a name that does not resolve.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

from qdl import ConfigError

DNS_PREFIX = "dns:"

_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):([0-9]{1,5})")

Resolver = Callable[[str, int], list[str]]
"""Name, port -> the IP addresses the name stands for (an OSError when it resolves to none)."""


def resolve_host(name: str, port: int) -> list[str]:
    """Every IP address ``name`` resolves to for a TCP connection, in resolver order, once each."""
    infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            seen.setdefault(str(sockaddr[0]), None)
    return list(seen)


def format_address(ip: str, port: int) -> str:
    """``HOST:PORT`` as gRPC takes it: IPv6 addresses in brackets."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


@dataclass(frozen=True)
class _Entry:
    text: str  # as written
    where: str  # "--nodes" or "FILE:LINE"


def parse_port(text: str, entry: _Entry) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigError(f"{entry.where}: {entry.text!r}: port {text!r} is not in 1..65535")
    return int(text)


def read_nodes_file(path: str) -> list[_Entry]:
    """The entries of a nodes file: one per non-blank line, ``#`` comments dropped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"--nodes-file {path}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError:
        raise ConfigError(f"--nodes-file {path}: not UTF-8 text") from None
    entries = []
    for number, line in enumerate(lines, 1):
        text = line.partition("#")[0].strip()
        if text:
            entries.append(_Entry(text, f"{path}:{number}"))
    if not entries:
        raise ConfigError(f"--nodes-file {path}: lists no node (one HOST:PORT per line)")
    return entries


def expand(entry: _Entry, resolver: Resolver) -> list[str]:
    """The node addresses one entry stands for."""
    if entry.text.startswith(DNS_PREFIX):
        name, sep, port_text = entry.text[len(DNS_PREFIX) :].rpartition(":")
        if not sep or not name:
            raise ConfigError(f"{entry.where}: {entry.text!r} is not dns:NAME:PORT")
        port = parse_port(port_text, entry)
        try:
            ips = resolver(name, port)
        except (OSError, UnicodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"{entry.where}: {entry.text}: {name} does not resolve ({why})"
            ) from exc
        if not ips:
            raise ConfigError(f"{entry.where}: {entry.text}: {name} resolves to no address")
        return [format_address(ip, port) for ip in ips]
    match = _HOST_PORT.fullmatch(entry.text)
    if not match:
        raise ConfigError(
            f"{entry.where}: node address {entry.text!r} is not HOST:PORT or dns:NAME:PORT "
            "(e.g. 10.0.0.2:50051, [fd00::2]:50051, dns:sut-nodes:50051)"
        )
    parse_port(match.group(2), entry)
    return [entry.text]


def node_addresses(
    nodes: str | None, nodes_file: str | None, resolver: Resolver = resolve_host
) -> tuple[str, ...]:
    """Every node address ``--nodes`` (comma list) and ``--nodes-file`` name, each once, in order.

    Raises ConfigError (one line naming the entry and where it was written) for a malformed
    entry, a name that does not resolve, an address listed twice, or no node at all.
    """
    entries = [_Entry(t.strip(), "--nodes") for t in (nodes or "").split(",") if t.strip()]
    if nodes_file is not None:
        entries += read_nodes_file(nodes_file)
    if not entries:
        raise ConfigError("give the nodes: --nodes HOST:PORT[,...] or --nodes-file FILE")
    first: dict[str, _Entry] = {}
    for entry in entries:
        for address in expand(entry, resolver):
            before = first.get(address)
            if before is not None:
                came = "" if before.text == address else f" (from {before.text})"
                again = "" if entry.text == address else f" (from {entry.text})"
                raise ConfigError(
                    f"node {address} is listed twice: {before.where}{came} and {entry.where}{again}"
                )
            first[address] = entry
    return tuple(first)
