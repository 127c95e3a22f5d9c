"""Verification of the MLPerf compliance tests TEST01, TEST04, TEST06, TEST07, TEST08 and TEST09
(``lon-verify``).

Each ``verify_testNN`` reads the logs of a compliance run (and of the submission runs it is
compared with), decides PASS or FAIL the way the official verification scripts do, and writes
the verdict files and copied logs in the layout the submission checker expects. Bad input
raises :class:`VerifyError` with a message naming the file.
"""

from ._errors import VerifyError
from ._test01 import verify_test01, write_baseline
from ._test04 import verify_test04
from ._test06 import verify_test06
from ._test07 import verify_test07
from ._test08 import verify_test08
from ._test09 import verify_test09
from ._verdict import Check, Verdict

__all__ = [
    "Check",
    "Verdict",
    "VerifyError",
    "verify_test01",
    "verify_test04",
    "verify_test06",
    "verify_test07",
    "verify_test08",
    "verify_test09",
    "write_baseline",
]
