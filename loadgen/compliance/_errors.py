"""The one exception of the verifier: bad input, as opposed to a failing test."""

from __future__ import annotations


class VerifyError(Exception):
    """A verification could not run: a missing or malformed file, a bad option.

    A FAIL verdict is a result; this is not. The message names the file (and the line or entry)
    so the user can fix it; ``lon-verify`` prints it as one line and exits with status 2.
    """
