"""Marking a tree whose runs did not come from the official LoadGen, so nobody files it.

MLPerf results must come from the official LoadGen. A tree laid out from runs of another one
(a rehearsal of the flow) says so where a reviewer reads: a first line in each scenario's
README.md and a ``rehearsal`` field in the system description. ``seal_tree`` refuses such a
tree, so the last step before filing stops it.
"""

from __future__ import annotations

import json
import os

from ._errors import SubmissionError
from ._layout import Layout

MARK = "REHEARSAL, NOT A RESULT"
SYSTEM_FIELD = "rehearsal"


def banner(loadgen: str) -> str:
    return (
        f"> **{MARK}**: runs placed here came from the {loadgen} LoadGen, not the official one; "
        "MLPerf results must be made with the official LoadGen. Rerun without --rehearsal.\n\n"
    )


def mark_rehearsal(layout: Layout, scenario: str, loadgen: str) -> list[str]:
    """Mark the scenario's README.md and the system description; return what was changed."""
    changed = []
    readme = os.path.join(layout.scenario_dir(scenario), "README.md")
    system = layout.system_json
    try:
        text = ""
        if os.path.exists(readme):
            with open(readme, encoding="utf-8") as f:
                text = f.read()
        if MARK not in text:
            os.makedirs(os.path.dirname(readme), exist_ok=True)
            with open(readme, "w", encoding="utf-8") as f:
                f.write(banner(loadgen) + text)
            changed.append(readme)
        if os.path.exists(system):
            with open(system, encoding="utf-8") as f:
                doc = json.load(f)
            if SYSTEM_FIELD not in doc:
                doc[SYSTEM_FIELD] = f"{MARK}: runs made with the {loadgen} LoadGen"
                with open(system, "w", encoding="utf-8") as f:
                    json.dump(doc, f, indent=2)
                    f.write("\n")
                changed.append(system)
    except OSError as exc:
        raise SubmissionError(f"cannot mark {exc.filename}: {exc.strerror}") from None
    except ValueError as exc:
        raise SubmissionError(f"{system}: not JSON ({exc})") from None
    return changed


def rehearsal_marks(scenario_dirs: list[str], system_jsons: list[str]) -> list[str]:
    """The files among these that carry the rehearsal mark."""
    marked = []
    for path in [os.path.join(d, "README.md") for d in scenario_dirs] + system_jsons:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if MARK in f.read():
                    marked.append(path)
        except OSError:
            continue
    return marked
