"""What the HTTP engine backends share: options, the client session, waiting for the engine,
reading server-sent events, and turning every failure into one message per sample.

A subclass says where to POST, what body to send and how to read its engine's events (a
``TokenStream``); this module does the rest. Each failure of a request becomes
``InferResult(error="<backend>: engine <url>: sample <i>: <what>")``; nothing waits longer than
``timeout_s`` (aiohttp's total and socket-read timeouts: in all, and between two reads).
"""

from __future__ import annotations

import abc
import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TextIO

import aiohttp
import numpy as np

from .base import AsyncBackend, BackendError, InferRequest, InferResult, OptionReader

_SHORT = 300  # characters of an engine's error text kept in a message


class EngineError(Exception):
    """One request failed; the message says what, without the backend/url/sample prefix."""


def shorten(text: str, limit: int = _SHORT) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_text(body: str) -> str:
    """The message inside an engine's JSON error body (OpenAI, vLLM, SGLang shapes), else the
    body itself."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return body
    if isinstance(parsed, dict):
        inner = parsed.get("error", parsed)
        if isinstance(inner, dict):
            inner = inner.get("message", inner)
        if isinstance(inner, str):
            return inner
        message = parsed.get("message")
        if isinstance(message, str):
            return message
    return body


def boolean(opts: OptionReader, key: str, default: bool, backend: str) -> bool:
    """A true/false option (also 1/0, yes/no)."""
    raw = opts.string(key, "true" if default else "false").lower()
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise BackendError(f"backend {backend!r}: option {key}={raw!r} must be true or false")


async def sse_data(content: aiohttp.StreamReader) -> AsyncIterator[str]:
    """The ``data`` of each server-sent event (multi-line data joined with newlines)."""
    lines: list[str] = []
    async for raw in content:
        line = raw.rstrip(b"\r\n")
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
        elif line.startswith(b"data:"):
            value = line[5:]
            lines.append(
                (value[1:] if value.startswith(b" ") else value).decode("utf-8", "replace")
            )
        elif line.startswith((b":", b"event:", b"id:", b"retry:")):
            continue
        else:
            shown = shorten(line.decode("utf-8", "replace"), 120)
            raise EngineError(f"malformed event stream: a line that is no SSE field: {shown!r}")
    if lines:
        yield "\n".join(lines)


class Tokenizer:
    """The documented fallback for engines that stream text only: re-tokenize it with a
    tokenizer.json (the ``tokenizers`` package). Never used unless ``tokenizer=PATH`` is set."""

    def __init__(self, path: str, backend: str) -> None:
        try:
            from tokenizers import Tokenizer as HFTokenizer
        except ImportError:
            raise BackendError(
                f"backend {backend!r}: option tokenizer= needs the tokenizers package "
                "(pip install 'lon[llm]')"
            ) from None
        try:
            self._tokenizer = HFTokenizer.from_file(path)
        except Exception as exc:
            reason = shorten(str(exc), 200)
            raise BackendError(
                f"backend {backend!r}: option tokenizer={path!r}: cannot load it: {reason}"
            ) from None

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)


class TokenStream(abc.ABC):
    """Reads one request's events: collects token ids, then checks how the stream ended."""

    def __init__(self, tokenizer: Tokenizer | None) -> None:
        self.ids: list[int] = []
        self.tokenizer = tokenizer
        self.text: list[str] = []  # only with the tokenizer fallback

    @abc.abstractmethod
    def feed(self, event: Any) -> None:
        """Take one parsed event; raise EngineError for what makes no sense."""

    @abc.abstractmethod
    def finish(self) -> list[int]:
        """After [DONE]: all output token ids, once the ending checks out."""

    @property
    def count(self) -> int:
        return len(self.ids)

    def first(self) -> int | None:
        """The first output token id once known."""
        if self.ids:
            return self.ids[0]
        if self.text and self.tokenizer is not None:
            ids = self.tokenizer.encode("".join(self.text))
            return ids[0] if ids else None
        return None

    def take_text(self, text: str, missing: str) -> None:
        """Text arrived without token ids: keep it for re-tokenizing, or fail naming the field."""
        if self.tokenizer is None:
            raise EngineError(
                f"the engine sent text without token ids (no {missing}); start it so that it "
                "returns token ids, or set tokenizer=PATH to re-tokenize its text"
            )
        self.text.append(text)

    def retokenized(self) -> list[int]:
        assert self.tokenizer is not None
        return self.tokenizer.encode("".join(self.text))


def int_list(value: Any, field: str) -> list[int]:
    if not isinstance(value, list) or not all(
        isinstance(t, int) and not isinstance(t, bool) for t in value
    ):
        raise EngineError(f"{field} is not a list of integers: {shorten(repr(value), 120)}")
    return value


class HttpEngineBackend(AsyncBackend):
    """An AsyncBackend that streams each sample's answer from an engine over local HTTP."""

    api = ""  # "openai-completions", "sglang-generate"
    default_url = ""
    clock: Callable[[], float] = staticmethod(time.monotonic)
    poll_s = 0.5  # how often start() asks a starting engine again
    log: TextIO | None = None  # where start() says what it waits for (None: stderr)

    def __init__(self, options: dict[str, str]) -> None:
        opts = OptionReader(options, self.name)
        self.url = opts.string("url", self.default_url).rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise BackendError(
                f"backend {self.name!r}: option url={self.url!r} must start with http:// or https://"
            )
        self.model = opts.string("model", "")
        self.max_tokens = opts.integer("max_tokens", 1024, minimum=1, maximum=1_000_000)
        self.min_tokens = opts.integer("min_tokens", 1, minimum=0, maximum=1_000_000)
        self.temperature = opts.number("temperature", 0.0, minimum=0.0, maximum=100.0)
        self.ignore_eos = boolean(opts, "ignore_eos", False, self.name)
        self.concurrency = opts.integer("concurrency", 256, minimum=1, maximum=65536)
        self.timeout_s = opts.number("timeout_s", 600.0, minimum=0.001, maximum=1e6)
        self.wait_s = opts.number("wait_s", 600.0, minimum=0.0, maximum=1e6)
        key_file = opts.string("api_key_file", "")
        tokenizer = opts.string("tokenizer", "")
        self.read_options(opts)
        self.options = opts.finish()
        self.headers: dict[str, str] = {}
        if key_file:
            try:
                with open(key_file, encoding="utf-8") as f:
                    key = f.read().strip()
            except OSError as exc:
                raise BackendError(
                    f"backend {self.name!r}: option api_key_file={key_file!r}: {exc.strerror}"
                ) from None
            if not key:
                raise BackendError(
                    f"backend {self.name!r}: option api_key_file={key_file!r}: the file is empty"
                )
            self.headers["Authorization"] = f"Bearer {key}"
        self.tokenizer = Tokenizer(tokenizer, self.name) if tokenizer else None
        self.version = ""
        self._session: aiohttp.ClientSession | None = None

    # -- what a subclass says -------------------------------------------------------------------

    def read_options(self, opts: OptionReader) -> None:  # noqa: B027  # optional hook
        """Read options of this backend only (before ``finish``)."""

    @property
    @abc.abstractmethod
    def generate_url(self) -> str:
        """Where each sample is POSTed."""

    @property
    @abc.abstractmethod
    def ready_urls(self) -> list[str]:
        """What must answer 200 before the engine counts as ready (a 404 is skipped); one
        ending in ``models`` lists the model ids."""

    @property
    @abc.abstractmethod
    def version_urls(self) -> list[str]:
        """Where the engine's version may be read (``{"version": ...}``), tried in order."""

    @abc.abstractmethod
    def body(self, prompt: list[int]) -> dict[str, Any]:
        """The JSON body of one request."""

    @abc.abstractmethod
    def token_stream(self) -> TokenStream:
        """A reader for one request's events."""

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout_s, sock_read=self.timeout_s)
        connector = aiohttp.TCPConnector(
            limit=self.concurrency,
            limit_per_host=self.concurrency,
            keepalive_timeout=2.0,  # below the engines' own (uvicorn's is 5 s)
        )
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers=self.headers, read_bufsize=1 << 20
        )
        try:
            models = await self._wait_ready()
            if not self.model:
                self.model = self._first_model(models)
                self.options = {**self.options, "model": self.model}  # what runs, for the record
            self.version = await self._read_version()
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def describe(self) -> Mapping[str, str]:
        return {"url": self.url, "model": self.model, "version": self.version, "api": self.api}

    async def _probe(self, url: str) -> tuple[int, Any]:
        """GET ``url`` with a short timeout: (status, parsed JSON or None)."""
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=min(5.0, self.timeout_s))
        async with self._session.get(url, timeout=timeout) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, None

    async def _wait_ready(self) -> Any:
        deadline = self.clock() + self.wait_s
        said = False
        while True:
            reason, models = await self._readiness()
            if reason is None:
                return models
            if self.clock() >= deadline:
                raise BackendError(
                    f"backend {self.name!r}: the engine at {self.url} did not become ready "
                    f"within wait_s={self.wait_s:g} s: {reason}"
                )
            if not said:
                print(
                    f"sut-server: waiting up to {self.wait_s:g} s for the engine at {self.url}: "
                    f"{reason}",
                    file=self.log or sys.stderr,
                    flush=True,
                )
                said = True
            await asyncio.sleep(max(0.0, min(self.poll_s, deadline - self.clock())))

    async def _readiness(self) -> tuple[str | None, Any]:
        """(None, the models answer) once ready, else (why not, None)."""
        models = None
        for url in self.ready_urls:
            try:
                status, answer = await self._probe(url)
            except aiohttp.ClientConnectorError as exc:
                return _connect_reason(exc), None
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                return f"GET {url}: {shorten(str(exc) or type(exc).__name__, 120)}", None
            if status in (401, 403):
                raise BackendError(
                    f"backend {self.name!r}: the engine at {self.url} refused the request to "
                    f"{url} (HTTP {status}): give its API key with api_key_file=PATH"
                )
            if status == 404 and not url.endswith("models"):
                continue
            if status != 200:
                return f"GET {url}: HTTP {status}", None
            if url.endswith("models"):
                models = answer
        return None, models

    def _first_model(self, models: Any) -> str:
        try:
            first = models["data"][0]["id"]
        except (TypeError, KeyError, IndexError):
            first = None
        if not isinstance(first, str) or not first:
            raise BackendError(
                f"backend {self.name!r}: the engine at {self.url} lists no model id "
                f"(data[0].id of its models list); give one with model=NAME"
            )
        return first

    async def _read_version(self) -> str:
        for url in self.version_urls:
            try:
                status, answer = await self._probe(url)
            except (aiohttp.ClientError, asyncio.TimeoutError):
                continue
            if (
                status == 200
                and isinstance(answer, dict)
                and isinstance(answer.get("version"), str)
            ):
                return answer["version"]
        return ""

    # -- one request ----------------------------------------------------------------------------

    async def generate(self, request: InferRequest) -> InferResult:
        try:
            ids = await self._generate(request)
        except EngineError as exc:
            return InferResult(
                error=f"{self.name}: engine {self.url}: sample {request.sample_index}: {exc}"
            )
        return InferResult(payload=np.asarray(ids, dtype="<i4").tobytes(), n_tokens=len(ids))

    async def _post(self, body: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST one request; once more if a pooled connection turns out closed by the engine
        before it answered (keep-alive races), which cannot have started any generation."""
        assert self._session is not None
        try:
            return await self._session.post(self.generate_url, json=body)
        except aiohttp.ServerDisconnectedError:
            return await self._session.post(self.generate_url, json=body)

    def _prompt(self, request: InferRequest) -> list[int]:
        if request.dtype not in ("", "int32") or len(request.data) % 4:
            raise EngineError(
                f"the sample is not int32 token ids (dtype {request.dtype!r}, "
                f"{len(request.data)} bytes)"
            )
        if not request.data:
            raise EngineError("the sample's prompt is empty")
        prompt: list[int] = np.frombuffer(request.data, dtype="<i4").tolist()
        return prompt

    async def _generate(self, request: InferRequest) -> list[int]:
        if self._session is None:
            raise EngineError("the backend was not started (start() was not awaited)")
        prompt = self._prompt(request)
        stream = self.token_stream()
        sent_first = False
        try:
            async with await self._post(self.body(prompt)) as resp:
                if resp.status != 200:
                    text = await resp.text()
                    raise EngineError(f"HTTP {resp.status}: {shorten(error_text(text))}")
                done = False
                async for data in sse_data(resp.content):
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        event = json.loads(data)
                    except ValueError:
                        raise EngineError(
                            f"malformed JSON in the event stream after {stream.count} tokens: "
                            f"{shorten(data, 120)!r}"
                        ) from None
                    stream.feed(event)
                    if not sent_first:
                        first = stream.first()
                        if first is not None:
                            request.first_token(np.asarray([first], dtype="<i4").tobytes())
                            sent_first = True
                if not done:
                    raise EngineError(
                        f"the stream ended without [DONE] after {stream.count} tokens"
                    )
                await resp.content.read()  # to its end, so that the connection is kept for reuse
                ids = stream.finish()
        except asyncio.TimeoutError:
            raise EngineError(
                f"timed out (timeout_s={self.timeout_s:g}: the longest a request may take, and "
                f"the longest wait between two tokens) after {stream.count} tokens"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            raise EngineError(f"cannot connect: {_connect_reason(exc)}") from None
        except aiohttp.ClientPayloadError as exc:
            raise EngineError(
                f"the connection broke mid-stream after {stream.count} tokens: "
                f"{shorten(str(exc), 120)}"
            ) from None
        except aiohttp.ClientError as exc:
            raise EngineError(
                f"the HTTP request failed: {shorten(str(exc) or type(exc).__name__, 200)}"
            ) from None
        if not ids:
            raise EngineError("the engine returned no output tokens (min_tokens=1 asks for one)")
        if not sent_first:  # text that re-tokenized to nothing until the end
            request.first_token(np.asarray(ids[:1], dtype="<i4").tobytes())
        return ids


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if os_error.errno:
        reason = os.strerror(os_error.errno)
    else:
        reason = os_error.strerror or str(os_error) or type(os_error).__name__
    return reason[0].lower() + reason[1:] if reason else "cannot connect"
