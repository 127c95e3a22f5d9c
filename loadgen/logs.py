"""The public face of the LoadGen's log files for tools built on top of a run.

``mark_run_failed`` makes the logs of a run that did not finish say so, whichever LoadGen wrote
them (ours writes them that way itself; the official one cannot be told).
"""

from ._failed_run import mark_run_failed

__all__ = ["mark_run_failed"]
