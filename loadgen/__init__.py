"""A pure-Python MLPerf Inference LoadGen.

``import loadgen as mlperf_loadgen`` is a drop-in for the official bindings. Underneath, a
Pythonic layer: subclass ``SystemUnderTest`` and ``QuerySampleLibrary`` and call ``run_test``.
"""

from ._compat import (
    ConstructFastSUT,
    ConstructQDL,
    ConstructQSL,
    ConstructSUT,
    DestroyFastSUT,
    DestroyQDL,
    DestroyQSL,
    DestroySUT,
    StartTest,
    StartTestWithLogSettings,
)
from ._completion import AbortTest, FirstTokenComplete, QuerySamplesComplete, TestAborted
from ._enums import LoggingMode, TestMode, TestScenario
from ._interfaces import QuerySampleLibrary, SystemUnderTest
from ._log_files import LogOutputError
from ._run import TestReport, run_test
from ._samples import (
    QuerySample,
    QuerySampleResponse,
    VectorQuerySample,
    VectorQuerySampleResponse,
)
from ._settings import LogOutputSettings, LogSettings, TestSettings

__version__ = "0.1.0"

__all__ = [
    "AbortTest",
    "ConstructFastSUT",
    "ConstructQDL",
    "ConstructQSL",
    "ConstructSUT",
    "DestroyFastSUT",
    "DestroyQDL",
    "DestroyQSL",
    "DestroySUT",
    "FirstTokenComplete",
    "LogOutputError",
    "LogOutputSettings",
    "LogSettings",
    "LoggingMode",
    "QuerySample",
    "QuerySampleLibrary",
    "QuerySampleResponse",
    "QuerySamplesComplete",
    "StartTest",
    "StartTestWithLogSettings",
    "SystemUnderTest",
    "TestAborted",
    "TestMode",
    "TestReport",
    "TestScenario",
    "TestSettings",
    "VectorQuerySample",
    "VectorQuerySampleResponse",
    "run_test",
]
