"""The enums of the official LoadGen API, with the official names and integer values."""

from __future__ import annotations

import enum
import typing


class _OfficialEnum(enum.IntEnum):
    """An IntEnum that prints as the official pybind11 enums do: ``TestScenario.Server``."""

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def __format__(self, spec: str) -> str:
        return str(self) if not spec else format(int(self), spec)


class TestScenario(_OfficialEnum):
    """How queries arrive at the SUT."""

    __test__ = False  # not a pytest test class

    SingleStream = 0  # one query at a time, the next once the previous completed
    MultiStream = 1  # like SingleStream, each query carries samples_per_query samples
    Server = 2  # Poisson arrivals at server_target_qps
    Offline = 3  # one query holding every sample, issued at once


class TestMode(_OfficialEnum):
    """What StartTest runs. The values are also what the config key ``mode`` takes."""

    __test__ = False

    SubmissionRun = 0  # accuracy run, then performance run
    AccuracyOnly = 1  # every sample of the accuracy set once, responses logged
    PerformanceOnly = 2  # timed run, results computed
    FindPeakPerformance = 3  # Server only: search for the highest passing QPS


class LoggingMode(_OfficialEnum):
    """Kept for API compatibility; like the official LoadGen, only AsyncPoll exists."""

    AsyncPoll = 0
    EndOfTestOnly = 1
    Synchronous = 2


_E = typing.TypeVar("_E", bound=enum.IntEnum)


def coerce_enum(enum_type: type[_E], value: object, field: str) -> _E:
    """Return ``value`` as a member of ``enum_type`` or raise a ValueError naming ``field``."""
    if isinstance(value, enum_type):
        return value
    if isinstance(value, str):
        try:
            return enum_type[value]
        except KeyError:
            pass
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            return enum_type(value)
        except ValueError:
            pass
    names = ", ".join(m.name for m in enum_type)
    raise ValueError(f"{field}: unknown {enum_type.__name__} {value!r}; expected one of {names}")
