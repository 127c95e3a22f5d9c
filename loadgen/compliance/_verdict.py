"""What a verification returns: one result per check, and the overall verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Check:
    """One check of a compliance test.

    ``passed`` is None for a check the test skips (TEST06's first-token check in Offline).
    ``report`` is the text the check writes to its ``verify_*.txt`` file (empty when the check
    shares a file with others); ``notes`` explain a failure on the console only, so the verdict
    files keep the exact lines the submission checker looks for.
    """

    name: str
    passed: bool | None
    report: str = ""
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    """The outcome of one compliance test.

    ``lines`` are the closing lines the official script prints (e.g. ``Accuracy check pass:
    True`` … ``TEST01 verification complete``); ``notes`` say what to do next after a failure.
    """

    test: str
    checks: tuple[Check, ...]
    lines: tuple[str, ...]
    output_dir: Path
    notes: tuple[str, ...] = field(default=())

    @property
    def passed(self) -> bool:
        """True when no check failed (a skipped check does not fail)."""
        return all(c.passed is not False for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name``; KeyError if this test has none."""
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def console_text(self) -> str:
        """Everything ``lon-verify`` prints: the reports, the closing lines and the verdict."""
        parts = [c.report for c in self.checks if c.report]
        notes = [n for c in self.checks for n in c.notes] + list(self.notes)
        parts.append("".join(f"{line}\n" for line in self.lines))
        if notes:
            parts.append("".join(f"{n}\n" for n in notes))
        parts.append(f"{self.test} verdict: {'PASS' if self.passed else 'FAIL'}\n")
        return "".join(parts)
