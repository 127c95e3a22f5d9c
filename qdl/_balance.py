"""Load-balancing policies: which node gets the next sample. Pure and I/O-free.

Terms: *outstanding* is the number of samples sent to a node and not yet answered, as the
dispatcher counts them (it adds each choice before asking for the next one, so one large query
spreads instead of piling onto the node that looked idlest at its start).

- round-robin: nodes in turn, ignoring load.
- least-outstanding: the node with the fewest outstanding samples; ties go to the first such
  node at or after a rotating cursor, so equal nodes alternate exactly.
- prompt-tokens: the node with the fewest outstanding prompt tokens (the sum of the lengths of
  its unanswered samples, a sample's length being its element count: a prompt's tokens), ties
  as least-outstanding; for LLMs, whose work grows with the prompt. The dispatcher passes the
  token loads instead of the sample counts (``Balancer.load``).
- weighted: smooth weighted round-robin over the capacities nodes report in Describe; over any
  window of sum(weights) choices node i gets exactly weights[i] of them (for integer weights),
  interleaved rather than in runs.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

from ._exceptions import ConfigError


class Balancer(abc.ABC):
    """Chooses a node index in ``range(len(outstanding))``.

    ``load`` says what ``outstanding`` counts: "samples" (unanswered samples per node) or
    "prompt-tokens" (the summed lengths of those samples).
    """

    load = "samples"

    @abc.abstractmethod
    def choose(self, outstanding: Sequence[int]) -> int: ...


class RoundRobin(Balancer):
    def __init__(self, n_nodes: int) -> None:
        self._n = n_nodes
        self._next = 0

    def choose(self, outstanding: Sequence[int]) -> int:
        node = self._next
        self._next = (node + 1) % self._n
        return node


class LeastOutstanding(Balancer):
    def __init__(self, n_nodes: int) -> None:
        self._n = n_nodes
        self._cursor = 0

    def choose(self, outstanding: Sequence[int]) -> int:
        n = self._n
        best = self._cursor
        best_load = outstanding[best]
        for step in range(1, n):
            i = (self._cursor + step) % n
            if outstanding[i] < best_load:
                best, best_load = i, outstanding[i]
        self._cursor = (best + 1) % n
        return best


class PromptTokens(LeastOutstanding):
    """Least outstanding work, counted in prompt tokens (the dispatcher's loads)."""

    load = "prompt-tokens"


class Weighted(Balancer):
    """Smooth weighted round-robin: each choice adds every weight to its node's credit, picks
    the node with the most credit (the first on ties) and takes the total weight from it."""

    def __init__(self, weights: Sequence[float]) -> None:
        self._weights = [float(w) for w in weights]
        self._total = sum(self._weights)
        self._credit = [0.0] * len(self._weights)

    def choose(self, outstanding: Sequence[int]) -> int:
        credit = self._credit
        for i, w in enumerate(self._weights):
            credit[i] += w
        best = max(range(len(credit)), key=credit.__getitem__)
        credit[best] -= self._total
        return best


def make_balancer(policy: str, capacities: Sequence[float], labels: Sequence[str]) -> Balancer:
    """The balancer for ``policy``; "weighted" needs every node to report a capacity > 0."""
    n = len(capacities)
    if policy == "round-robin":
        return RoundRobin(n)
    if policy == "least-outstanding":
        return LeastOutstanding(n)
    if policy == "prompt-tokens":
        return PromptTokens(n)
    if policy == "weighted":
        bad = [label for label, c in zip(labels, capacities) if not c > 0]
        if bad:
            raise ConfigError(
                "weighted balancing needs every node to report a capacity > 0 in Describe; "
                f"no capacity from: {', '.join(bad)}"
            )
        return Weighted(capacities)
    raise ConfigError(f"unknown balance policy {policy!r}")
