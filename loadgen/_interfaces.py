"""The two things a benchmark plugs into the LoadGen: a SUT and a sample library.

Subclass these for a Pythonic benchmark; the official-style ``ConstructSUT``/``ConstructQSL``/
``ConstructQDL`` functions build thin callback-based subclasses of them.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

from ._samples import QuerySample


class SystemUnderTest(abc.ABC):
    """Receives queries and answers each sample through ``QuerySamplesComplete``.

    ``issue_query`` may complete inline or return at once and complete later from any thread.
    """

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def issue_query(self, samples: list[QuerySample]) -> None: ...

    def flush_queries(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Called after the last query of each series; the default does nothing."""


class QuerySampleLibrary(abc.ABC):
    """Owns the data set; loads and unloads the samples the LoadGen asks for (untimed)."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @abc.abstractmethod
    def total_sample_count(self) -> int: ...

    @abc.abstractmethod
    def performance_sample_count(self) -> int: ...

    @abc.abstractmethod
    def load_samples_to_ram(self, indices: list[int]) -> None: ...

    @abc.abstractmethod
    def unload_samples_from_ram(self, indices: list[int]) -> None: ...


IssueCallback = Callable[[list[QuerySample]], None]
FastIssueCallback = Callable[[list[int], list[int]], None]
FlushCallback = Callable[[], None]


class CallbackSUT(SystemUnderTest):
    """What ``ConstructSUT(issue_cb, flush_cb)`` returns; its name is ``"PySUT"``."""

    def __init__(self, issue_cb: IssueCallback, flush_cb: FlushCallback) -> None:
        self.issue_query = issue_cb  # type: ignore[method-assign,assignment]  # bound once: no extra call
        self._flush_cb = flush_cb

    def name(self) -> str:
        return "PySUT"

    def issue_query(self, samples: list[QuerySample]) -> None:  # replaced in __init__
        raise NotImplementedError

    def flush_queries(self) -> None:
        self._flush_cb()


class FastCallbackSUT(SystemUnderTest):
    """What ``ConstructFastSUT`` returns: the callback gets ids and indices as two lists."""

    def __init__(self, issue_cb: FastIssueCallback, flush_cb: FlushCallback) -> None:
        self._issue_cb = issue_cb
        self._flush_cb = flush_cb

    def name(self) -> str:
        return "PyFastSUT"

    def issue_query(self, samples: list[QuerySample]) -> None:
        self._issue_cb([s.id for s in samples], [s.index for s in samples])

    def flush_queries(self) -> None:
        self._flush_cb()


class CallbackQDL(CallbackSUT):
    """What ``ConstructQDL`` returns: a SUT whose name comes from ``name_cb`` on every call."""

    def __init__(
        self, issue_cb: IssueCallback, flush_cb: FlushCallback, name_cb: Callable[[], str]
    ) -> None:
        super().__init__(issue_cb, flush_cb)
        self._name_cb = name_cb

    def name(self) -> str:
        return str(self._name_cb())


class CallbackQSL(QuerySampleLibrary):
    """What ``ConstructQSL`` returns; its name is ``"PyQSL"``."""

    def __init__(
        self,
        total_count: int,
        performance_count: int,
        load_cb: Callable[[list[int]], None],
        unload_cb: Callable[[list[int]], None],
    ) -> None:
        self._total = int(total_count)
        self._performance = int(performance_count)
        self._load_cb = load_cb
        self._unload_cb = unload_cb

    def name(self) -> str:
        return "PyQSL"

    def total_sample_count(self) -> int:
        return self._total

    def performance_sample_count(self) -> int:
        return self._performance

    def load_samples_to_ram(self, indices: Sequence[int]) -> None:
        self._load_cb(list(indices))

    def unload_samples_from_ram(self, indices: Sequence[int]) -> None:
        self._unload_cb(list(indices))
