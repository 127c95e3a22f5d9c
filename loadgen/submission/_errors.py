"""The one exception the submission layout raises: bad input or a tree it cannot write."""

from __future__ import annotations


class SubmissionError(Exception):
    """A one-line message naming the option, file or directory that is wrong."""


class ReplaceRefused(SubmissionError):
    """Placing the run would replace a VALID result with an INVALID one."""
