"""Where each file of a submission goes: the tree the current submission checker reads.

``ROOT/<division>/<submitter>/`` holds ``systems/<system>.json``, ``src/`` (the code) and
``results/<system>/<benchmark>/<scenario>/``. A scenario directory holds ``performance/run_1/``,
``accuracy/``, the compliance tests' ``TEST0x/`` directories, ``measurements.json``,
``user.conf``, ``mlperf.conf`` and ``README.md``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ._benchmarks import check_benchmark
from ._errors import SubmissionError

DIVISIONS = ("closed", "open", "network")
SCENARIOS = ("SingleStream", "MultiStream", "Server", "Offline", "Interactive")
RUN_DIRS = {
    "PerformanceOnly": os.path.join("performance", "run_1"),
    "SubmissionRun": os.path.join("performance", "run_1"),
    "AccuracyOnly": "accuracy",
}
"""The directory of a scenario each LoadGen mode's run goes to."""


@dataclass(frozen=True)
class Layout:
    """The submission of one system and benchmark, by one submitter in one division."""

    root: str
    division: str
    submitter: str
    system: str
    benchmark: str  # --model as given; after construction, the checker's name of it

    def __post_init__(self) -> None:
        if self.division not in DIVISIONS:
            raise SubmissionError(
                f"--division {self.division!r}: expected one of {', '.join(DIVISIONS)}"
            )
        for label, value in (
            ("--submitter", self.submitter),
            ("--system", self.system),
            ("--model", self.benchmark),
        ):
            if not value or os.sep in value or "/" in value or value in (".", ".."):
                raise SubmissionError(f"{label} {value!r}: must be a plain name, not a path")
        # The directory takes the checker's name of the benchmark (llama3_1-8b: llama3.1-8b).
        object.__setattr__(self, "benchmark", check_benchmark(self.benchmark, self.division))

    @property
    def submitter_dir(self) -> str:
        return os.path.join(self.root, self.division, self.submitter)

    @property
    def system_json(self) -> str:
        return os.path.join(self.submitter_dir, "systems", f"{self.system}.json")

    @property
    def src_dir(self) -> str:
        return os.path.join(self.submitter_dir, "src")

    def scenario_dir(self, scenario: str) -> str:
        if scenario not in SCENARIOS:
            raise SubmissionError(f"scenario {scenario!r}: expected one of {', '.join(SCENARIOS)}")
        return os.path.join(self.submitter_dir, "results", self.system, self.benchmark, scenario)

    def run_dir(self, scenario: str, mode: str) -> str:
        if mode not in RUN_DIRS:
            raise SubmissionError(
                f"a {mode} run is not part of a submission; use one of {', '.join(RUN_DIRS)}"
            )
        return os.path.join(self.scenario_dir(scenario), RUN_DIRS[mode])
