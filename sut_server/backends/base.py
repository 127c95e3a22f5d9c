"""The backend plugin interface: what a SUT node calls to run inference.

A backend is a class; the node builds ONE instance and calls it from ``workers`` threads::

    from sut_server.backends.base import Backend, InferRequest, InferResult, OptionReader

    class MyModel(Backend):
        name = "my-model"                       # shown in Describe and the ready line

        def __init__(self, options: dict[str, str]) -> None:
            opts = OptionReader(options, self.name)
            self.scale = opts.number("scale", 1.0)   # from --backend-opt scale=2.5
            self.options = opts.finish()        # unknown options -> BackendError (exit code 2)

        @property
        def capacity(self) -> float | None:     # samples/s you expect to sustain, or None
            return None

        def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
            return [run_my_model(r.data, r.dtype, r.shape) for r in requests]

        def close(self) -> None:                # optional: release devices, files, ...
            pass

Start a node with it: ``sut-server --backend mypackage.mymodule:MyModel --backend-opt scale=2.5``.

The contract:

- ``__init__(options)`` gets every ``--backend-opt key=value`` (and the convenience flags such as
  ``--service-time-us``) as strings, keys with ``-`` turned into ``_``. Raise ``BackendError`` (or
  ``ValueError``) with a message naming the option for bad values; the command line prints it as one
  line and exits with code 2. ``OptionReader`` does the parsing and the unknown-key check.
- ``infer(requests)`` gets a batch of one or more requests and returns one result per request,
  in the same order: an ``InferResult`` or plain ``bytes`` (short for ``InferResult(payload=...)``).
  ``requests[i].data`` is the decompressed payload. It is called concurrently from the node's
  worker threads, so it must be thread-safe (or run the node with ``--workers 1``). Heavy compute
  should release the GIL (numpy, torch, ... do) for several workers to help.
- A failure for one sample: return ``InferResult(error="...")`` for it. An exception raised by
  ``infer`` fails every sample of the batch with an error naming the exception; the stream and the
  node stay up either way.
- LLM-style backends send the first token ahead of the final result by calling
  ``request.first_token(payload)`` once per request, then return the final result (with
  ``n_tokens``) as usual; the node forwards the first token at once as a KIND_FIRST_TOKEN result.
- ``capacity`` (samples/s, only a relative weight for load balancing) may be ``None``: the node then
  reports ``workers x 1000``.
- ``inline = True`` (class attribute) says ``infer`` is cheap and never blocks: without
  ``--max-batch`` the node then calls it on the thread that received the message instead of
  handing it to a worker (lower latency; ``--workers`` is then unused). Leave it False for anything
  that sleeps or computes for long, or one stream's samples would run one at a time.
- ``options`` (a mapping of strings) says which options the backend runs with, defaults included;
  ``OptionReader.finish()`` returns exactly that. The node reports it in Describe and lon-run
  records it per node, so a run says what computed its answers (``lon-accuracy`` reads numpy-mlp's
  ``seed``, ``hidden`` and ``classes`` from there). Without it the given options are reported.
- Subclassing ``Backend`` is optional: any class with ``__init__(options)`` and ``infer`` works;
  ``name``, ``capacity`` and ``close`` are then looked up if present.

Per-request backends (``AsyncBackend``) are the other style, for engines that batch continuously
themselves (LLM servers behind vLLM, SGLang, trtllm-serve, llama.cpp): the node runs them on ONE
asyncio event loop, one coroutine per sample, at most ``concurrency`` at once, with no thread
per request::

    class MyEngine(AsyncBackend):
        name = "my-engine"

        def __init__(self, options: dict[str, str]) -> None:
            opts = OptionReader(options, self.name)
            self.url = opts.string("url", "http://127.0.0.1:8000/v1")
            self.concurrency = opts.integer("concurrency", 256, minimum=1)
            self.options = opts.finish()

        async def start(self) -> None:          # optional: connect, wait for the engine
            ...

        async def generate(self, request: InferRequest) -> InferResult | bytes:
            ...                                 # request.first_token(first) as soon as it arrives
            return InferResult(payload=all_ids, n_tokens=count)

        def describe(self) -> Mapping[str, str]:   # optional: reported in Describe
            return {"url": self.url, "model": "...", "version": "..."}

        async def aclose(self) -> None:         # optional
            ...

The same rules hold for options, errors (return ``InferResult(error=...)``; an exception fails
that one sample), first tokens and ``options``. ``generate`` must never block the loop.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

from .._errors import BackendError


class InferRequest:
    """One sample to infer: its decompressed bytes plus what the sender said about them.

    sample_index: the LoadGen sample index (deterministic outputs can be derived from it).
    data:         the decompressed payload.
    dtype:        the element type the sender declared, "" if none (numpy names, e.g. "uint8").
    shape:        the declared shape, () if none.

    That is all a backend sees: the node keeps its own books (response id, stream, timestamps)
    beside each request. ``on_first_token(request, payload)`` is what ``first_token`` calls; the
    node passes its own, and a test of a backend may pass one to collect first tokens.
    """

    __slots__ = ("sample_index", "data", "dtype", "shape", "_on_first_token")

    def __init__(
        self,
        sample_index: int,
        data: bytes,
        dtype: str = "",
        shape: tuple[int, ...] = (),
        on_first_token: Callable[[InferRequest, bytes], None] | None = None,
    ) -> None:
        self.sample_index = sample_index
        self.data = data
        self.dtype = dtype
        self.shape = shape
        self._on_first_token = on_first_token

    def first_token(self, payload: bytes) -> None:
        """Send the first token now, ahead of the final result (LLM-style backends only)."""
        if self._on_first_token is not None:
            self._on_first_token(self, payload)

    def __repr__(self) -> str:
        return (
            f"InferRequest(sample_index={self.sample_index}, {len(self.data)} bytes, "
            f"dtype={self.dtype!r}, shape={self.shape})"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class InferResult:
    """The outcome for one request: a payload (and token count), or an error message."""

    payload: bytes = b""
    n_tokens: int = 0
    error: str = ""


class Backend(abc.ABC):
    """Base class of every backend; see the module docstring for the full contract."""

    name: str = "backend"
    inline: bool = False  # True: cheap, non-blocking infer, run on the receiving thread
    options: Mapping[str, str] = {}  # the options in effect, defaults included

    def __init__(self, options: dict[str, str]) -> None:
        """Take no options by default; override to read some with ``OptionReader``."""
        self.options = OptionReader(options, self.name).finish()

    @property
    def capacity(self) -> float | None:
        """Samples/s the backend expects to sustain, or None if it cannot tell."""
        return None

    @abc.abstractmethod
    def infer(self, requests: Sequence[InferRequest]) -> Sequence[InferResult | bytes]:
        """Return one result per request, in order (called concurrently from worker threads)."""

    def close(self) -> None:  # noqa: B027  # optional hook, deliberately not abstract
        """Release whatever the backend holds; called once when the node stops."""


class AsyncBackend(abc.ABC):
    """Base class of per-request backends run on the node's event loop (see the module
    docstring): one ``generate`` coroutine per sample, ``concurrency`` of them at most."""

    name: str = "async-backend"
    options: Mapping[str, str] = {}  # the options in effect, defaults included
    concurrency: int = 256  # samples in flight at once; the node queues the rest

    def __init__(self, options: dict[str, str]) -> None:
        """Take no options by default; override to read some with ``OptionReader``."""
        self.options = OptionReader(options, self.name).finish()

    @property
    def capacity(self) -> float | None:
        """Samples/s the backend expects to sustain, or None if it cannot tell."""
        return None

    async def start(self) -> None:  # noqa: B027  # optional hook, deliberately not abstract
        """Called once on the node's event loop before the node serves: connect, wait for the
        engine to be ready. Raise ``BackendError`` to stop the node with one clear line."""

    @abc.abstractmethod
    async def generate(self, request: InferRequest) -> InferResult | bytes:
        """Answer one sample; call ``request.first_token(payload)`` once, the moment the first
        token is known (token runs), then return the final result."""

    def describe(self) -> Mapping[str, str]:
        """What serves this backend, for Describe (e.g. an engine's url, model and version)."""
        return {}

    async def aclose(self) -> None:  # noqa: B027  # optional hook, deliberately not abstract
        """Release what the backend holds; awaited once on the event loop when the node stops."""


class OptionReader:
    """Typed access to a backend's string options, with one clear error per bad value.

    Call ``finish()`` after reading every option you know: leftover keys are reported as unknown.
    """

    def __init__(self, options: Mapping[str, str], backend: str) -> None:
        self._options = {key.replace("-", "_"): value for key, value in options.items()}
        self._backend = backend
        self._used: set[str] = set()
        self._in_effect: dict[str, str] = {}

    def string(self, key: str, default: str) -> str:
        self._used.add(key)
        value = self._options.get(key, default)
        self._in_effect[key] = value
        return value

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = self.string(key, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise self._bad(key, raw, "an integer") from None
        if minimum is not None and value < minimum:
            raise self._bad(key, raw, f"an integer >= {minimum}")
        if maximum is not None and value > maximum:
            raise self._bad(key, raw, f"an integer <= {maximum}")
        self._in_effect[key] = str(value)
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        raw = self.string(key, repr(default))
        try:
            value = float(raw)
        except ValueError:
            raise self._bad(key, raw, "a number") from None
        if (
            not math.isfinite(value)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            bound = f" >= {minimum:g}" if minimum is not None else ""
            bound += f" and <= {maximum:g}" if maximum is not None else ""
            raise self._bad(key, raw, f"a finite number{bound}")
        self._in_effect[key] = repr(value)
        return value

    def finish(self) -> dict[str, str]:
        """The options in effect (every key read, defaults included), after checking that no
        unknown key was given."""
        unknown = sorted(set(self._options) - self._used)
        if unknown:
            known = ", ".join(sorted(self._used)) or "none"
            raise BackendError(
                f"backend {self._backend!r} does not take option(s) {', '.join(unknown)} "
                f"(it takes: {known})"
            )
        return dict(self._in_effect)

    def _bad(self, key: str, raw: str, what: str) -> BackendError:
        return BackendError(f"backend {self._backend!r}: option {key}={raw!r} must be {what}")


__all__ = ["AsyncBackend", "Backend", "BackendError", "InferRequest", "InferResult", "OptionReader"]
