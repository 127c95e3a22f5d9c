"""The SUT's name, asked of the nodes each time the LoadGen asks for it.

The official bindings' contract is that a QDL's Name is returned over the network, so
``QueryDispatchLibrary.name`` does not repeat what the nodes said at connect: it sends every
node a Describe (in parallel, each with the same short deadline) and composes their names.

A node that does not answer in time, or fails, is named in the name instead of its own name,
with the reason, on one line. The name is not a reason to stop a run: the LoadGen only logs it
(the detail log's sut_name, the summary's "SUT name"), and raising from inside it would end
the run with a traceback (the official LoadGen calls it from C++) over a node that may only
be slow; a node really gone fails the run through its streams, with its own error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Sequence

from ._exceptions import QDLError
from .transports import NodeDescription, Transport

_GRACE_S = 0.5
"""How much longer than the deadline a transport's own Describe may overrun before the name
stops waiting for it (a transport that ignores its deadline must not hang the LoadGen)."""


def sut_name(parts: Sequence[str]) -> str:
    """The QDL's name from one part per node: a node's name, or why it has none."""
    return f"Network SUT: {len(parts)} node(s): {', '.join(parts)}"


def ask_names(
    transports: Sequence[Transport],
    known: Sequence[NodeDescription],
    timeout: float,
    lost: Collection[int] = (),
) -> list[str]:
    """Each node's name from a Describe now, or "[why]" naming the node, in node order.

    ``known`` (what each node said at connect) gives the labels of nodes that do not answer;
    nodes in ``lost`` were taken out of the run and are not asked.
    """
    parts: list[str | None] = [None] * len(transports)

    def ask(i: int) -> None:
        label = known[i].label
        try:
            parts[i] = transports[i].describe(timeout).name
        except QDLError as exc:
            parts[i] = _why(str(exc))
        except Exception as exc:  # a transport's bug must not end the run from a name
            parts[i] = _why(f"node {label}: Describe failed ({exc!r})")

    threads = []
    for i in range(len(transports)):
        if i in lost:
            parts[i] = _why(f"node {known[i].label}: taken out of the run")
            continue
        thread = threading.Thread(target=ask, args=(i,), name=f"qdl-describe-{i}", daemon=True)
        thread.start()
        threads.append((i, thread))
    deadline = time.monotonic() + timeout + _GRACE_S
    for i, thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive() or parts[i] is None:
            parts[i] = _why(f"node {known[i].label}: Describe not answered within {timeout:g} s")
    return [p if p is not None else "" for p in parts]


def _why(text: str) -> str:
    return f"[{' '.join(text.split())}]"
