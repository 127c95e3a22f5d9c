"""sglang: SGLang's native ``/generate`` endpoint, prompts as ``input_ids``.

Each chunk carries ``output_ids`` and ``meta_info`` (``completion_tokens``, ``finish_reason``).
SGLang streams ``output_ids`` cumulatively by default and only the new ones with
``--incremental-streaming-output``; this backend tells which from ``meta_info.completion_tokens``
and accepts both. Options: see ``sut_server/README.md`` (LLM engines).
"""

from __future__ import annotations

from typing import Any

from ._http_engine import EngineError, HttpEngineBackend, TokenStream, int_list, shorten
from .base import BackendError


class GenerateStream(TokenStream):
    """Reads SGLang ``/generate`` chunks, cumulative or incremental ``output_ids``."""

    finish_reason: Any = None
    cumulative: bool | None = None  # None until a chunk tells
    reported = 0

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            raise EngineError(f"an event that is not a JSON object: {shorten(repr(event), 120)}")
        if "error" in event:
            raise EngineError(
                f"the engine reported an error mid-stream: {shorten(str(event['error']))}"
            )
        meta = event.get("meta_info")
        done = meta.get("completion_tokens") if isinstance(meta, dict) else None
        if not isinstance(meta, dict) or not isinstance(done, int):
            raise EngineError(
                f"an event without meta_info.completion_tokens: {shorten(repr(event), 120)}"
            )
        self.reported = done
        if meta.get("finish_reason"):
            self.finish_reason = meta["finish_reason"]
        raw = event.get("output_ids")
        if raw is None:
            raise EngineError(
                "an event without output_ids (SGLang's /generate always sends them; "
                "is this engine SGLang?)"
            )
        self._take(int_list(raw, "output_ids"), done)

    def _take(self, out: list[int], done: int) -> None:
        have = len(self.ids)
        if self.cumulative is None and have and out:
            if len(out) > have and out[:have] == self.ids and done == len(out):
                self.cumulative = True
            elif done == have + len(out):
                self.cumulative = False
        if self.cumulative:
            self.ids[have:] = out[have:]
        else:
            self.ids.extend(out)

    def finish(self) -> list[int]:
        reason = self.finish_reason
        if not reason:
            raise EngineError(
                f"the stream ended ([DONE]) without meta_info.finish_reason after {self.count} "
                "tokens"
            )
        if isinstance(reason, dict) and reason.get("type") == "abort":
            raise EngineError(
                f"the engine aborted the request: {shorten(str(reason.get('message', reason)))}"
            )
        if self.reported != self.count:
            fewer = "fewer" if self.count < self.reported else "more"
            raise EngineError(
                f"received {self.count} token ids, {fewer} than the engine reported "
                f"(meta_info.completion_tokens={self.reported})"
            )
        return self.ids


class SGLangBackend(HttpEngineBackend):
    """POST {url}/generate with the prompt's input_ids; stream the answer's output_ids."""

    name = "sglang"
    api = "sglang-generate"
    default_url = "http://127.0.0.1:30000"

    def __init__(self, options: dict[str, str]) -> None:
        super().__init__(options)
        if self.tokenizer is not None:
            raise BackendError(
                "backend 'sglang': option tokenizer= is not taken: SGLang's /generate always "
                "returns output_ids (re-tokenizing text is the openai backend's fallback)"
            )

    @property
    def generate_url(self) -> str:
        return f"{self.url}/generate"

    @property
    def ready_urls(self) -> list[str]:
        return [f"{self.url}/health", f"{self.url}/v1/models"]

    @property
    def version_urls(self) -> list[str]:
        return [f"{self.url}/version", f"{self.url}/get_server_info"]

    def body(self, prompt: list[int]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_new_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.min_tokens:
            params["min_new_tokens"] = self.min_tokens
        if self.ignore_eos:
            params["ignore_eos"] = True
        return {"input_ids": prompt, "sampling_params": params, "stream": True}

    def token_stream(self) -> TokenStream:
        return GenerateStream(self.tokenizer)
