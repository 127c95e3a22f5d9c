"""Losing a node without losing the run (``DispatchConfig.on_node_loss = "redispatch"``), and
finding a hung sample for what it is.

A node is *lost* when its stream breaks, it goes silent (the response timeout), its send queue
stops draining, or it hangs one sample (the per-sample deadline). Under "fail" the run ends
there, as it always did. Under "redispatch" the node is taken out of the balance for the rest of
the run, every sample it still owed is sent again to the remaining nodes (each still completed
exactly once: the QDL's books now point at the new node), and any answer that arrives later from
the lost node is dropped and counted. The run fails only when no node is left.

A lost node does not rejoin during the run, even if it comes back on the same address: the
balance, the per-node accounts and the exactly-once books stay simple, and a node that failed
once in a run is not trusted with more of it. The next lon-run connects to it again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeVar

from ._exceptions import QDLError, QDLTimeout, TransportError


class Booked(Protocol):
    """What the books hold for one issued sample (``_dispatch._Pending``)."""

    node: int
    index: int
    seq: int  # issue order, over all nodes
    sent_at: int  # the QDL's clock when it was booked for its node


@dataclasses.dataclass(frozen=True)
class NodeLoss:
    """One node lost during a run."""

    node: str  # its label
    address: str
    reason: str
    resent: int  # samples it owed, sent again to the others
    at_ns: int  # the QDL's clock
    wall_s: float  # time.time(), for records read by other processes

    def describe(self) -> str:
        return (
            f"node {self.node} lost ({self.reason}); {self.resent} samples it owed were re-sent "
            "to the remaining nodes"
        )


def is_node_loss(error: QDLError) -> bool:
    """Whether ``error`` takes one node out rather than proving the run wrong: a broken stream,
    a silent node, a hung sample. A backend's error answer or a protocol violation is not a
    loss: it fails the run under either policy."""
    return error.node is not None and isinstance(error, (TransportError, QDLTimeout))


_B = TypeVar("_B", bound=Booked)


def find_stuck(
    pending: Iterable[_B],
    outstanding: Sequence[int],
    answered_seq: Sequence[int],
    overtaken: dict[int, tuple[int, int]],
    now: int,
    limit_ns: int,
) -> _B | None:
    """The first sample whose node answered a sample issued after it more than ``limit_ns``
    ago and still owes it; None if there is none.

    Called a few times a second (``now`` on the QDL's clock). Only each node's oldest sample
    matters: if the node has answered nothing newer than its oldest, it has answered nothing
    newer than any. ``pending`` is in booking order; ``overtaken`` keeps, per node, which of its
    samples was first seen overtaken and when (the caller's state between calls). In Offline,
    where every sample is sent at once, this counts from the overtaking, not from the sending,
    so workers finishing out of order are not mistaken for a hang.
    """
    need = sum(1 for n in outstanding if n)
    seen: set[int] = set()
    for rec in pending:
        node = rec.node
        if node in seen or not outstanding[node]:
            continue
        seen.add(node)
        if rec.seq < answered_seq[node]:
            since = overtaken.get(node)
            if since is None or since[0] != rec.seq:
                overtaken[node] = (rec.seq, now)
            elif now - since[1] > limit_ns:
                return rec
        else:
            overtaken.pop(node, None)
        if len(seen) >= need:
            break
    return None
