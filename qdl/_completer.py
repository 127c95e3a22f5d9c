"""What the dispatcher needs of a LoadGen: to complete samples, report first tokens, abort.

This is the half of a ``LoadgenBinding`` the QDL calls while a run is under way; the other
half (``LoadgenBinding.run``, in ``_binding``) is what a command calls to run a test of the
QDL. Keeping them apart lets the dispatcher depend on this small interface only, and tests
stand in for the LoadGen by implementing three methods.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

Completion = tuple[int, bytes, int]
"""(response id, payload, n_tokens) of one answered sample."""


class Completer(abc.ABC):
    """The LoadGen-specific calls the QDL makes while a run is under way."""

    @abc.abstractmethod
    def complete(self, completions: Sequence[Completion]) -> None:
        """QuerySamplesComplete for these samples, in one call."""

    @abc.abstractmethod
    def first_token(self, completions: Sequence[Completion]) -> None:
        """FirstTokenComplete for these samples, in one call."""

    @abc.abstractmethod
    def abort(self, reason: str, outstanding_ids: Sequence[int]) -> None:
        """End the running test because of ``reason``; ``outstanding_ids`` were never answered
        and are no longer on the QDL's books, so this must see to it that they complete."""
