"""What every command-line tool of the project shares: how it reports a usage mistake.

``lon-verify``, ``lon-submission``, ``lon-run`` and ``lon-accuracy`` parse their arguments with
``Parser``, so a bad option is one line on stderr naming the problem, and exit status 2
(``EXIT_BAD_INPUT``), like every other bad input, instead of argparse's usage dump.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

EXIT_BAD_INPUT = 2
"""The exit status of every command for bad input (a usage mistake, a missing file, ...)."""


class Parser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` whose usage errors are one line and status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


__all__ = ["EXIT_BAD_INPUT", "Parser"]
