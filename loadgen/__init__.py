"""A pure-Python MLPerf Inference LoadGen; ``import loadgen as mlperf_loadgen`` is a drop-in."""

from ._enums import LoggingMode, TestMode, TestScenario
from ._interfaces import QuerySampleLibrary, SystemUnderTest
from ._samples import QuerySample, QuerySampleResponse
from ._settings import LogOutputSettings, LogSettings, TestSettings

__all__ = [
    "LogOutputSettings",
    "LogSettings",
    "LoggingMode",
    "QuerySample",
    "QuerySampleLibrary",
    "QuerySampleResponse",
    "SystemUnderTest",
    "TestMode",
    "TestScenario",
    "TestSettings",
]
