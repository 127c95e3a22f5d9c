"""The layout of an MLPerf submission tree, for tools that produce one (``lon-run``).

Nothing here knows about the network: it takes paths and plain data (node reports as dicts)
and writes the tree the current submission checker reads (``<division>/<submitter>/results/
<system>/<benchmark>/<scenario>/...``, ``systems/``, ``src/``). ``lon-submission seal ROOT``
truncates the accuracy logs and records their hashes once all runs and checks are in.
"""

from ._benchmarks import check_benchmark, mlperf_benchmarks
from ._errors import ReplaceRefused, SubmissionError
from ._layout import DIVISIONS, RUN_DIRS, Layout
from ._place import place_run, summary_validity
from ._records import FILL_ME, append_command, system_skeleton, unfilled, write_records
from ._rehearsal import MARK as REHEARSAL_MARK
from ._rehearsal import mark_rehearsal
from ._seal import Sealed, file_hash, seal_accuracy_dir, seal_tree, truncated

__all__ = [
    "DIVISIONS",
    "FILL_ME",
    "REHEARSAL_MARK",
    "RUN_DIRS",
    "Layout",
    "ReplaceRefused",
    "Sealed",
    "SubmissionError",
    "append_command",
    "check_benchmark",
    "file_hash",
    "mark_rehearsal",
    "mlperf_benchmarks",
    "place_run",
    "seal_accuracy_dir",
    "seal_tree",
    "summary_validity",
    "system_skeleton",
    "truncated",
    "unfilled",
    "write_records",
]
