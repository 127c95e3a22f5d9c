"""openai: an engine's OpenAI completions endpoint (vLLM, trtllm-serve, llama.cpp's server, ...).

Each sample's prompt token ids are POSTed to ``{url}/completions`` with ``stream: true``. The
answer's token ids come from the engine's own ``choices[0].token_ids`` (vLLM >= 0.10.2 sends
them when asked with ``return_token_ids``; trtllm-serve's chunks have the field too) or, with
``token_ids=logprobs``, from ``logprobs.tokens`` reading ``token_id:<id>`` (older vLLM). An
engine that streams only text needs ``tokenizer=PATH`` (a tokenizer.json) to re-tokenize it;
without one that is a clear error. ``usage`` (asked for with ``stream_options.include_usage``)
is checked against the ids received. Options: see ``sut_server/README.md`` (LLM engines).
"""

from __future__ import annotations

from typing import Any

from ._http_engine import EngineError, HttpEngineBackend, TokenStream, int_list, shorten
from .base import BackendError, OptionReader


class CompletionStream(TokenStream):
    """Reads OpenAI completions chunks: ``choices[].token_ids``/``text``, ``finish_reason``,
    ``usage.completion_tokens``."""

    finish_reason: str | None = None
    reported: int | None = None

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise EngineError(f"an event that is not a JSON object: {shorten(repr(event), 120)}")
        if "error" in event:
            raise EngineError(
                f"the engine reported an error mid-stream: {shorten(str(event['error']))}"
            )
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.reported = usage["completion_tokens"]
        choices = event.get("choices")
        if not isinstance(choices, list):
            raise EngineError(f"an event without a choices list: {shorten(repr(event), 120)}")
        for choice in choices:
            if not isinstance(choice, dict):
                raise EngineError(f"a choice that is not an object: {shorten(repr(choice), 120)}")
            token_ids = choice.get("token_ids")
            if token_ids is not None:
                self.ids.extend(int_list(token_ids, "choices[0].token_ids"))
            elif (from_logprobs := _logprob_ids(choice.get("logprobs"))) is not None:
                self.ids.extend(from_logprobs)
            elif choice.get("text"):
                self.take_text(choice["text"], "choices[0].token_ids")
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])

    def finish(self) -> list[int]:
        if self.finish_reason is None:
            raise EngineError(
                f"the stream ended ([DONE]) without a finish_reason after {self.count} tokens"
            )
        if self.text and not self.ids:
            return self.retokenized()  # usage counts the engine's tokens, not these
        if self.reported is not None and self.reported != self.count:
            fewer = "fewer" if self.count < self.reported else "more"
            raise EngineError(
                f"received {self.count} token ids, {fewer} than the engine reported "
                f"(usage.completion_tokens={self.reported})"
            )
        return self.ids


def _logprob_ids(logprobs: Any) -> list[int] | None:
    """Token ids from vLLM's older way (``logprobs`` with ``return_tokens_as_token_ids``: each
    token reads ``token_id:<id>``), or None where the chunk has no such tokens."""
    if not isinstance(logprobs, dict):
        return None
    tokens = logprobs.get("tokens")
    if not isinstance(tokens, list) or not tokens:
        return None
    ids = []
    for token in tokens:
        if not isinstance(token, str) or not token.startswith("token_id:"):
            return None
        try:
            ids.append(int(token[len("token_id:") :]))
        except ValueError:
            raise EngineError(f"logprobs.tokens holds {token!r}, not token_id:<integer>") from None
    return ids


TOKEN_ID_WAYS = ("field", "logprobs", "none")
"""How token ids are asked for: ``return_token_ids`` (vLLM >= 0.10.2), ``logprobs=1`` with
``return_tokens_as_token_ids`` (older vLLM), or not at all (strict servers; text needs a
tokenizer unless the engine sends ``token_ids`` anyway)."""


class OpenAIBackend(HttpEngineBackend):
    """POST {url}/completions with the prompt's token ids; stream the answer's token ids."""

    name = "openai"
    api = "openai-completions"
    default_url = "http://127.0.0.1:8000/v1"

    def read_options(self, opts: OptionReader) -> None:
        self.token_ids = opts.string("token_ids", "field")
        if self.token_ids not in TOKEN_ID_WAYS:
            raise BackendError(
                f"backend {self.name!r}: option token_ids={self.token_ids!r} must be one of "
                f"{', '.join(TOKEN_ID_WAYS)}"
            )

    @property
    def root(self) -> str:
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url

    @property
    def generate_url(self) -> str:
        return f"{self.url}/completions"

    @property
    def ready_urls(self) -> list[str]:
        return [f"{self.root}/health", f"{self.url}/models"]

    @property
    def version_urls(self) -> list[str]:
        return [f"{self.root}/version"]

    def body(self, prompt: list[int]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.min_tokens:
            body["min_tokens"] = self.min_tokens
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.token_ids == "field":
            body["return_token_ids"] = True
        elif self.token_ids == "logprobs":
            body["logprobs"] = 1
            body["return_tokens_as_token_ids"] = True
        return body

    def token_stream(self) -> TokenStream:
        return CompletionStream(self.tokenizer)
