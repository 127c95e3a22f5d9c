"""The reference engine's HTTP server: OpenAI completions and SGLang ``/generate`` over aiohttp.

One asyncio loop serves every request; a request holds one of ``max_concurrency`` slots while it
streams (continuous batching: up to that many run side by side, the rest queue). Each stream
sends, at every wake-up, all tokens due by then, each its own SSE event, so a busy loop falls
behind in larger writes instead of in more of them. Chunks are formatted from templates, not
``json.dumps``, to keep the per-token cost low.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ._config import EngineConfig
from ._tokens import output_length, output_tokens, token_text

STAND_IN = "lon reference engine (a stand-in for tests, not a real model)"
VERSION = "lon-reference-engine 0.1.0 (a stand-in, not a real engine)"


class RequestError(Exception):
    """A request the engine rejects with HTTP 400 and this message."""


def _error(status: int, message: str, kind: str) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": status}}
    return web.json_response(body, status=status)


def _token_ids(value: Any, field: str) -> list[int]:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
        value = value[0]  # a batch of one prompt
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(t, int) and not isinstance(t, bool) for t in value)
    ):
        raise RequestError(f"{field} must be a non-empty list of token ids (integers)")
    return value


def _count(value: Any, field: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestError(f"{field} must be an integer >= 1, not {value!r}")
    return value


class _Plan:
    """One request's answer: its token ids, how it finishes, and when each token is due."""

    __slots__ = ("prompt", "ids", "finish", "count")

    def __init__(self, config: EngineConfig, prompt: list[int], limit: int, ignore_eos: bool):
        natural = output_length(prompt, config.output_tokens)
        self.count = limit if ignore_eos else min(limit, natural)
        self.finish = (
            "length" if self.count == limit and (ignore_eos or natural > limit) else "stop"
        )
        self.prompt = prompt
        self.ids = output_tokens(prompt, self.count, config.vocab_size)


class Stats:
    """The engine's counters, served on ``GET /stats``."""

    def __init__(self) -> None:
        self.requests = 0
        self.active = 0
        self.peak_active = 0
        self.queued = 0
        self.tokens_sent = 0
        self.failures_injected = 0
        self.ttft_count = 0
        self.ttft_sum_s = 0.0
        self.ttft_max_s = 0.0
        self.peers: set[Any] = set()  # client (host, port)s seen: connections opened

    def as_dict(self) -> dict[str, Any]:
        mean = self.ttft_sum_s / self.ttft_count if self.ttft_count else 0.0
        return {
            "requests": self.requests,
            "active": self.active,
            "peak_active": self.peak_active,
            "queued": self.queued,
            "tokens_sent": self.tokens_sent,
            "failures_injected": self.failures_injected,
            "connections": len(self.peers),
            "ttft_ms_mean": round(mean * 1e3, 3),
            "ttft_ms_max": round(self.ttft_max_s * 1e3, 3),
        }


class ReferenceEngine:
    """The stand-in engine; ``app()`` is its aiohttp application."""

    def __init__(self, config: EngineConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.stats = Stats()
        self._clock = clock
        self._ready_at = clock() + config.startup_delay_s
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._model_json = json.dumps(config.model)
        self._created = int(time.time())

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/version", self._version)
        app.router.add_get("/stats", self._stats)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/generate", self._generate)
        return app

    # -- plain endpoints ------------------------------------------------------------------------

    def _starting(self) -> web.Response | None:
        if self._clock() < self._ready_at:
            return _error(503, "reference engine: still starting (--startup-delay-s)", "Starting")
        return None

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        key = self.config.api_key
        if key and request.headers.get("Authorization") != f"Bearer {key}":
            return _error(401, "Unauthorized", "Unauthorized")
        return None

    async def _health(self, request: web.Request) -> web.Response:
        return self._starting() or web.Response(status=200)

    async def _models(self, request: web.Request) -> web.Response:
        refusal = self._unauthorized(request) or self._starting()
        if refusal:
            return refusal
        model = {
            "id": self.config.model,
            "object": "model",
            "created": self._created,
            "owned_by": STAND_IN,
        }
        return web.json_response({"object": "list", "data": [model]})

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": VERSION})

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats.as_dict())

    # -- generation -----------------------------------------------------------------------------

    async def _admit(
        self, request: web.Request
    ) -> tuple[dict[str, Any] | None, web.Response | None]:
        refusal = self._unauthorized(request) or self._starting()
        if refusal:
            return None, refusal
        self.stats.requests += 1
        if request.transport is not None:
            self.stats.peers.add(request.transport.get_extra_info("peername"))
        every = self.config.fail_every
        if every and self.stats.requests % every == 0:
            self.stats.failures_injected += 1
            message = (
                f"reference engine: injected failure of request {self.stats.requests} "
                f"(--fail-every {every})"
            )
            return None, _error(500, message, "InternalServerError")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return None, _error(400, "the request body is not JSON", "BadRequestError")
        if not isinstance(body, dict):
            return None, _error(400, "the request body must be a JSON object", "BadRequestError")
        return body, None

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body, refusal = await self._admit(request)
        if refusal:
            return refusal
        assert body is not None
        try:
            prompt = _token_ids(body.get("prompt"), "prompt")
            limit = _count(body.get("max_tokens"), "max_tokens", 16)
            plan = _Plan(self.config, prompt, limit, bool(body.get("ignore_eos", False)))
        except RequestError as exc:
            return _error(400, str(exc), "BadRequestError")
        with_ids = bool(body.get("return_token_ids")) and not self.config.text_only
        # vLLM's older way: logprobs whose tokens read "token_id:<id>"
        as_logprobs = (
            bool(body.get("logprobs"))
            and bool(body.get("return_tokens_as_token_ids"))
            and not self.config.text_only
        )
        options = body.get("stream_options") or {}
        usage = isinstance(options, dict) and bool(options.get("include_usage"))
        form = _OpenAIChunks(self, plan, with_ids, usage, as_logprobs)
        if body.get("stream"):
            return await self._stream(request, plan, form)
        await self._wait_whole(plan)
        return web.json_response(form.whole())

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body, refusal = await self._admit(request)
        if refusal:
            return refusal
        assert body is not None
        params = body.get("sampling_params") or {}
        try:
            if not isinstance(params, dict):
                raise RequestError("sampling_params must be a JSON object")
            prompt = _token_ids(body.get("input_ids"), "input_ids")
            limit = _count(params.get("max_new_tokens"), "sampling_params.max_new_tokens", 128)
            plan = _Plan(self.config, prompt, limit, bool(params.get("ignore_eos", False)))
        except RequestError as exc:
            return _error(400, str(exc), "BadRequestError")
        form = _SGLangChunks(self, plan)
        if body.get("stream"):
            return await self._stream(request, plan, form)
        await self._wait_whole(plan)
        return web.json_response(form.whole())

    async def _wait_whole(self, plan: _Plan) -> None:
        self.stats.queued += 1
        async with self._slots:
            self.stats.queued -= 1
            self._enter()
            try:
                seconds = (self.config.ttft_ms + self.config.tpot_ms * (plan.count - 1)) / 1e3
                await asyncio.sleep(max(0.0, seconds))
                self.stats.tokens_sent += plan.count
            finally:
                self.stats.active -= 1

    def _enter(self) -> None:
        self.stats.active += 1
        self.stats.peak_active = max(self.stats.peak_active, self.stats.active)

    async def _stream(
        self, request: web.Request, plan: _Plan, form: _OpenAIChunks | _SGLangChunks
    ) -> web.StreamResponse:
        arrived = self._clock()
        self.stats.queued += 1
        async with self._slots:
            self.stats.queued -= 1
            self._enter()
            try:
                return await self._send(request, plan, form, arrived)
            finally:
                self.stats.active -= 1

    async def _send(
        self,
        request: web.Request,
        plan: _Plan,
        form: _OpenAIChunks | _SGLangChunks,
        arrived: float,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        try:
            await self._tokens(request, response, plan, form, arrived)
        except ConnectionResetError:
            pass  # the client went away mid-stream: nobody is left to answer
        return response

    async def _tokens(
        self,
        request: web.Request,
        response: web.StreamResponse,
        plan: _Plan,
        form: _OpenAIChunks | _SGLangChunks,
        arrived: float,
    ) -> None:
        config = self.config
        loop = asyncio.get_running_loop()
        start = loop.time()
        ttft, tpot = config.ttft_ms / 1e3, config.tpot_ms / 1e3
        faults = [k for k in (config.drop_stream_after, config.stall_after) if k >= 0]
        cut = min(faults, default=plan.count)
        garbage_at = config.malformed_after
        sent = 0
        while sent < plan.count:
            delay = start + ttft + tpot * sent - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            due = plan.count
            if tpot > 0:
                due = min(plan.count, int((loop.time() - start - ttft) / tpot) + 1)
            due = max(due, sent + 1)
            if sent < cut <= due:
                due = cut
            if sent < garbage_at <= due:
                due = garbage_at
            if due > sent:
                await response.write(form.tokens(sent, due).encode())
                if sent == 0:
                    self._first_token(arrived)
                self.stats.tokens_sent += due - sent
                sent = due
            if sent == garbage_at:
                await response.write(b"data: {this is not JSON\n\n")
                garbage_at = -1
            if sent == cut and cut < plan.count:
                if cut == config.stall_after:
                    await self._stall(request)
                await response.write_eof()  # ends the HTTP response, without [DONE]
                return
        await response.write(form.ending().encode())
        await response.write_eof()

    def _first_token(self, arrived: float) -> None:
        ttft = self._clock() - arrived
        self.stats.ttft_count += 1
        self.stats.ttft_sum_s += ttft
        self.stats.ttft_max_s = max(self.stats.ttft_max_s, ttft)

    async def _stall(self, request: web.Request) -> None:
        """Send nothing more, holding the connection open until the client goes away."""
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.2)

    def new_id(self) -> str:
        return f"{self.stats.requests:x}"


class _OpenAIChunks:
    """OpenAI completions stream chunks (vLLM's fields: ``token_ids`` with return_token_ids)."""

    def __init__(
        self,
        engine: ReferenceEngine,
        plan: _Plan,
        with_ids: bool,
        usage: bool,
        as_logprobs: bool,
    ):
        self.as_logprobs = as_logprobs
        self.plan = plan
        self.with_ids = with_ids
        self.usage = usage
        self.overcount = engine.config.overcount_usage
        self.rid = f"cmpl-{engine.new_id()}"
        self.created = engine._created
        self.model = engine.config.model
        self._head = (
            f'data: {{"id":"{self.rid}","object":"text_completion","created":{self.created},'
            f'"model":{engine._model_json},"choices":[{{"index":0,"text":"'
        )

    def tokens(self, begin: int, end: int) -> str:
        ids, last = self.plan.ids, self.plan.count - 1
        parts = []
        for j in range(begin, end):
            token = ids[j]
            extra = f',"token_ids":[{token}]' if self.with_ids else ""
            if self.with_ids and j == 0:
                extra += f',"prompt_token_ids":{json.dumps(self.plan.prompt)}'
            finish = f'"{self.plan.finish}"' if j == last else "null"
            logprobs = "null"
            if self.as_logprobs:
                logprobs = (
                    f'{{"text_offset":[0],"token_logprobs":[0.0],"tokens":["token_id:{token}"],'
                    f'"top_logprobs":[{{"token_id:{token}":0.0}}]}}'
                )
            parts.append(
                f'{self._head}{token_text(token)}"{extra},"logprobs":{logprobs},'
                f'"finish_reason":{finish}}}]}}\n\n'
            )
        return "".join(parts)

    def _usage(self) -> dict[str, int]:
        prompt, done = len(self.plan.prompt), self.plan.count + self.overcount
        return {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}

    def ending(self) -> str:
        tail = ""
        if self.usage:
            chunk = {
                "id": self.rid,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": self._usage(),
            }
            tail = f"data: {json.dumps(chunk)}\n\n"
        return tail + "data: [DONE]\n\n"

    def whole(self) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": 0,
            "text": "".join(token_text(t) for t in self.plan.ids),
            "logprobs": None,
            "finish_reason": self.plan.finish,
        }
        if self.as_logprobs:
            choice["logprobs"] = {
                "tokens": [f"token_id:{t}" for t in self.plan.ids],
                "token_logprobs": [0.0] * self.plan.count,
            }
        if self.with_ids:
            choice["token_ids"] = self.plan.ids
            choice["prompt_token_ids"] = self.plan.prompt
        return {
            "id": self.rid,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [choice],
            "usage": self._usage(),
        }


class _SGLangChunks:
    """SGLang ``/generate`` chunks: cumulative ``text``/``output_ids`` (its default) or, with
    ``--sglang-incremental``, only the new ones; ``meta_info`` counts every token so far."""

    def __init__(self, engine: ReferenceEngine, plan: _Plan):
        self.plan = plan
        self.incremental = engine.config.sglang_incremental
        self.text_only = engine.config.text_only
        self.overcount = engine.config.overcount_usage
        self.rid = engine.new_id()
        self._text: list[str] = []

    def _meta(self, done: int) -> dict[str, Any]:
        finish: dict[str, Any] | None = None
        if done == self.plan.count:
            if self.plan.finish == "length":
                finish = {"type": "length", "length": self.plan.count}
            else:
                finish = {"type": "stop", "matched": 2}
            done += self.overcount
        return {
            "id": self.rid,
            "finish_reason": finish,
            "prompt_tokens": len(self.plan.prompt),
            "completion_tokens": done,
            "cached_tokens": 0,
        }

    def _chunk(self, begin: int, end: int) -> dict[str, Any]:
        new = self.plan.ids[begin:end]
        chunk: dict[str, Any] = {}
        if self.incremental:
            chunk["text"] = "".join(token_text(t) for t in new)
            if not self.text_only:
                chunk["output_ids"] = new
        else:
            chunk["text"] = "".join(self._text)
            if not self.text_only:
                chunk["output_ids"] = self.plan.ids[:end]
        chunk["meta_info"] = self._meta(end)
        return chunk

    def tokens(self, begin: int, end: int) -> str:
        parts = []
        for j in range(begin, end):
            self._text.append(token_text(self.plan.ids[j]))
            parts.append(f"data: {json.dumps(self._chunk(j, j + 1), separators=(',', ':'))}\n\n")
        return "".join(parts)

    def ending(self) -> str:
        return "data: [DONE]\n\n"

    def whole(self) -> dict[str, Any]:
        chunk: dict[str, Any] = {"text": "".join(token_text(t) for t in self.plan.ids)}
        if not self.text_only:
            chunk["output_ids"] = self.plan.ids
        chunk["meta_info"] = self._meta(self.plan.count)
        return chunk
