"""What each step of a plan came to, kept beside the runs so a stopped plan resumes.

The file is rewritten whole (a temporary file, then a rename) after every step, so a plan
killed at any moment leaves either the old record or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

STATE_FILE = "lon_submit_state.json"
FINISHED = ("VALID", "INVALID", "PASS", "FAIL", "done")


@dataclass(frozen=True)
class Outcome:
    """One step's result: VALID/INVALID (runs), PASS/FAIL (compliance), done, or failed."""

    outcome: str
    metric: str = ""
    logs: str = ""
    detail: str = ""


class State:
    """The outcomes recorded so far in ``output``."""

    def __init__(self, output: str) -> None:
        self.path = os.path.join(output, STATE_FILE)
        self.steps: dict[str, Outcome] = {}
        try:
            with open(self.path, encoding="utf-8") as f:
                doc = json.load(f)
            self.steps = {k: Outcome(**v) for k, v in doc.get("steps", {}).items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            raise OSError(
                f"{self.path}: unreadable state ({exc}); remove it to start over"
            ) from None

    def record(self, step_id: str, outcome: Outcome) -> None:
        self.steps[step_id] = outcome
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"steps": {k: asdict(v) for k, v in self.steps.items()}}, f, indent=2)
            f.write("\n")
        os.replace(tmp, self.path)
