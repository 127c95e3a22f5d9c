"""The compliance thresholds an audit.config carries for its verification, not for the LoadGen.

TEST07 and TEST09 keep their pass bounds in the same audit.config that sets up the run (e.g.
``*.*.test07_accuracy_threshold = 60.698``). A key matches on its last dotted part, whatever
model and scenario precede it; a later line overrides an earlier one. TEST09's official script
drops a ``# comment`` after the value and TEST07's does not, so ``inline_comments`` says which.
"""

from __future__ import annotations

from pathlib import Path

from ._errors import VerifyError


def read_threshold(path: str | Path, name: str, *, inline_comments: bool) -> float | None:
    """The last value of setting ``name`` in the audit.config at ``path``, or None if it has none.

    VerifyError if the file cannot be read or the value is not a number (file:line).
    """
    p = Path(path)
    if not p.is_file():
        problem = "is not a file" if p.exists() else "does not exist"
        raise VerifyError(f"audit.config {p} {problem}")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise VerifyError(f"cannot read {p}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise VerifyError(f"{p}: not UTF-8 text") from None
    value: float | None = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, text = (part.strip() for part in line.split("=", 1))
        parts = key.split(".")
        if len(parts) < 3 or parts[-1] != name:
            continue
        if inline_comments:
            text = text.split("#", 1)[0].strip()
        try:
            value = float(text)
        except ValueError:
            raise VerifyError(f"{p}:{number}: {name} {text!r} is not a number") from None
    return value
