"""The openai and sglang backends against the reference engine over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import io
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from sut_server.backends.base import BackendError, InferResult
from sut_server.backends.openai import OpenAIBackend
from sut_server.backends.sglang import SGLangBackend
from sut_server.fake_engine import output_length, output_tokens, parse_output_length

from .engine_process import EngineProcess, engine, generate_all, ids_of

PROMPTS = [[1, 2, 3], [7] * 40, [31999, 5], [100, 200, 300, 400]]


def openai(url: str, **options: str) -> OpenAIBackend:
    return OpenAIBackend({"url": f"{url}/v1", "wait_s": "0", "timeout_s": "30", **options})


def sglang(url: str, **options: str) -> SGLangBackend:
    return SGLangBackend({"url": url, "wait_s": "0", "timeout_s": "30", **options})


def expected(prompt: list[int], lengths: str = "uniform:3:12", max_tokens: int = 1024) -> list[int]:
    count = min(max_tokens, output_length(prompt, parse_output_length(lengths)))
    return output_tokens(prompt, count)


@pytest.fixture(scope="module")
def plain() -> EngineProcess:
    with engine("--output-tokens", "uniform:3:12", "--tpot-ms", "1", "--model", "m-1") as e:
        yield e


@pytest.mark.parametrize("make", [openai, sglang], ids=["openai", "sglang"])
def test_token_ids_are_the_engines_and_each_first_token_comes_once_before_the_answer(plain, make):
    results, firsts = generate_all(make(plain.url), PROMPTS)
    for index, (prompt, result) in enumerate(zip(PROMPTS, results)):
        assert result.error == ""
        assert ids_of(result) == expected(prompt)
        assert result.n_tokens == len(expected(prompt))
        assert firsts.tokens[index] == expected(prompt)[:1]  # exactly once
    assert firsts.late == []


def test_sglang_incremental_output_ids_are_read_too():
    with engine("--output-tokens", "uniform:3:12", "--sglang-incremental") as e:
        results, _ = generate_all(sglang(e.url), PROMPTS)
    assert [ids_of(r) for r in results] == [expected(p) for p in PROMPTS]


def test_max_tokens_caps_the_answer_and_ignore_eos_fills_it(plain):
    results, _ = generate_all(openai(plain.url, max_tokens="2"), PROMPTS)
    assert [ids_of(r) for r in results] == [output_tokens(p, 2) for p in PROMPTS]
    results, _ = generate_all(sglang(plain.url, max_tokens="20", ignore_eos="true"), PROMPTS)
    assert [ids_of(r) for r in results] == [output_tokens(p, 20) for p in PROMPTS]


@pytest.mark.parametrize("make", [openai, sglang], ids=["openai", "sglang"])
def test_describe_names_the_model_from_the_engines_list_and_its_version(plain, make):
    backend = make(plain.url)

    async def started() -> dict[str, str]:
        await backend.start()
        await backend.aclose()
        return dict(backend.describe())

    described = asyncio.run(started())
    assert described["model"] == "m-1"
    assert backend.options["model"] == "m-1"  # the options in effect name what ran
    assert "stand-in" in described["version"]
    assert described["api"] in ("openai-completions", "sglang-generate")
    assert described["url"].startswith(plain.url)


def test_256_concurrent_requests_complete_and_the_engine_ran_them_side_by_side():
    # Each request waits 2 s for its first token: ample for all 256 to arrive first.
    with engine("--ttft-ms", "2000", "--tpot-ms", "2", "--output-tokens", "8") as e:
        prompts = [[i, i + 1] for i in range(256)]
        results, firsts = generate_all(openai(e.url, concurrency="256"), prompts)
        stats = e.stats()
    assert [ids_of(r) for r in results] == [output_tokens(p, 8) for p in prompts]
    assert len(firsts.tokens) == 256 and firsts.late == []
    assert stats["peak_active"] == 256
    assert stats["requests"] == 256


def _error_of(results: list[InferResult], url: str, backend: str) -> list[str]:
    errors = [r.error for r in results if r.error]
    for error in errors:
        assert error.startswith(f"{backend}: engine {url}")
        assert "sample " in error
    return errors


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (("--drop-stream-after", "3"), "the stream ended without [DONE] after 3 tokens"),
        (("--malformed-after", "2"), "malformed JSON in the event stream after 2 tokens"),
        (("--overcount-usage", "2"), "fewer than the engine reported"),
        (("--fail-every", "1"), "HTTP 500: reference engine: injected failure of request"),
    ],
    ids=["drop", "malformed", "overcount", "http-500"],
)
@pytest.mark.parametrize("make", [openai, sglang], ids=["openai", "sglang"])
def test_each_engine_fault_is_one_clear_error_per_sample(make, flags, needle):
    with engine("--output-tokens", "8", *flags) as e:
        backend = make(e.url)
        results, firsts = generate_all(backend, PROMPTS)
    errors = _error_of(results, backend.url, backend.name)
    assert len(errors) == len(PROMPTS)
    assert all(needle in error for error in errors), errors[0]
    assert {f"sample {i}:" in results[i].error for i in range(len(PROMPTS))} == {True}


def test_every_other_request_failing_leaves_the_others_whole():
    with engine("--output-tokens", "5", "--fail-every", "2") as e:
        results, _ = generate_all(openai(e.url, concurrency="1"), PROMPTS)
    assert [bool(r.error) for r in results].count(True) == 2
    assert all(ids_of(r) == output_tokens(p, 5) for p, r in zip(PROMPTS, results) if not r.error)


@pytest.mark.parametrize("make", [openai, sglang], ids=["openai", "sglang"])
def test_a_stalled_engine_times_out_within_timeout_s(make):
    with engine("--output-tokens", "8", "--stall-after", "2") as e:
        backend = make(e.url, timeout_s="1")
        began = time.monotonic()
        results, firsts = generate_all(backend, PROMPTS)
        took = time.monotonic() - began
    errors = _error_of(results, backend.url, backend.name)
    assert len(errors) == len(PROMPTS)
    assert all("timed out (timeout_s=1" in error and "after 2 tokens" in error for error in errors)
    assert len(firsts.tokens) == len(PROMPTS)  # the first token did arrive
    assert took < 60  # nothing hung (generous: a loaded machine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_engine_that_is_down_is_one_line_at_start():
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(BackendError, match=r"did not become ready within wait_s=0 s: .*refused"):
        asyncio.run(openai(url).start())


def test_an_engine_that_goes_down_fails_each_sample_naming_it():
    e = EngineProcess("--output-tokens", "4")
    backend = openai(e.url)

    async def run() -> InferResult:
        await backend.start()
        e.stop()
        try:
            from .engine_process import FirstTokens, prompt_request

            result = await backend.generate(prompt_request(5, [1, 2], FirstTokens()))
            assert isinstance(result, InferResult)
            return result
        finally:
            await backend.aclose()

    result = asyncio.run(run())
    assert result.error.startswith(f"openai: engine {e.url}/v1: sample 5: ")
    assert "refused" in result.error or "connection" in result.error


def test_start_waits_for_a_starting_engine_and_says_so_once():
    with engine("--startup-delay-s", "4", "--output-tokens", "3") as e:
        backend = openai(e.url, wait_s="60")
        backend.log = io.StringIO()
        results, _ = generate_all(backend, PROMPTS[:1])
    assert ids_of(results[0]) == output_tokens(PROMPTS[0], 3)
    said = backend.log.getvalue().splitlines()
    assert said == [
        f"sut-server: waiting up to 60 s for the engine at {e.url}/v1: GET {e.url}/health: HTTP 503"
    ]


def test_start_gives_up_after_wait_s_naming_the_engine():
    with engine("--startup-delay-s", "300") as e:
        backend = sglang(e.url, wait_s="0.5")
        backend.log = io.StringIO()
        with pytest.raises(BackendError) as raised:
            asyncio.run(backend.start())
    assert f"the engine at {e.url} did not become ready within wait_s=0.5 s" in str(raised.value)
    assert "HTTP 503" in str(raised.value)


def test_the_api_key_file_is_sent_as_a_bearer_token(tmp_path):
    key = tmp_path / "key"
    key.write_text("s3cret\n")
    with engine("--api-key", "s3cret", "--output-tokens", "4") as e:
        results, _ = generate_all(openai(e.url, api_key_file=str(key)), PROMPTS[:2])
        assert [ids_of(r) for r in results] == [output_tokens(p, 4) for p in PROMPTS[:2]]
        with pytest.raises(BackendError, match=r"refused .* \(HTTP 401\): give its API key"):
            asyncio.run(openai(e.url).start())
    with pytest.raises(BackendError, match=r"option api_key_file=.*missing"):
        openai("http://127.0.0.1:1", api_key_file=str(tmp_path / "missing"))


def _word_level_tokenizer(path, vocab_size: int) -> str:
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {f"t{i}": i for i in range(vocab_size)}
    vocab["[UNK]"] = vocab_size
    tokenizer = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    file = path / "tokenizer.json"
    tokenizer.save(str(file))
    return str(file)


def test_text_only_engines_need_the_tokenizer_fallback(tmp_path):
    tokenizer = _word_level_tokenizer(tmp_path, 50)
    with engine("--text-only", "--vocab-size", "50", "--output-tokens", "uniform:3:12") as e:
        results, firsts = generate_all(openai(e.url, tokenizer=tokenizer), PROMPTS)
        expected_ids = [
            output_tokens(p, output_length(p, parse_output_length("uniform:3:12")), 50)
            for p in PROMPTS
        ]
        assert [ids_of(r) for r in results] == expected_ids
        assert [firsts.tokens[i] for i in range(len(PROMPTS))] == [ids[:1] for ids in expected_ids]
        results, _ = generate_all(openai(e.url), PROMPTS[:1])
    assert results[0].error == (
        f"openai: engine {e.url}/v1: sample 0: the engine sent text without token ids (no "
        "choices[0].token_ids); start it so that it returns token ids, or set tokenizer=PATH to "
        "re-tokenize its text"
    )


@pytest.mark.parametrize(
    ("options", "needle"),
    [
        ({"url": "127.0.0.1:8000"}, "must start with http://"),
        ({"ignore_eos": "maybe"}, "ignore_eos='maybe' must be true or false"),
        ({"concurrency": "0"}, "concurrency='0' must be an integer >= 1"),
        ({"tokenizer": "/nonexistent/tokenizer.json"}, "option tokenizer="),
        ({"api_key": "inline"}, "does not take option(s) api_key"),
        ({"token_ids": "maybe"}, "token_ids='maybe' must be one of field, logprobs, none"),
    ],
)
def test_bad_options_are_one_clear_line(options, needle):
    with pytest.raises(BackendError) as raised:
        OpenAIBackend(options)
    assert needle in str(raised.value)
    assert "\n" not in str(raised.value)


def test_generate_before_start_is_an_error_not_a_crash():
    from .engine_process import FirstTokens, prompt_request

    result = asyncio.run(OpenAIBackend({}).generate(prompt_request(0, [1], FirstTokens())))
    assert "not started" in result.error  # type: ignore[union-attr]


# -- real engines, where installed (with a model to serve) ----------------------------------------


@pytest.mark.skipif(
    shutil.which("llama-server") is None or not os.environ.get("LON_LLAMA_MODEL"),
    reason="needs llama-server on PATH and LON_LLAMA_MODEL=<a .gguf file>",
)
def test_against_a_real_llama_server(tmp_path):  # pragma: no cover - not installed here
    port = _free_port()
    proc = subprocess.Popen(
        [
            "llama-server",
            "-m",
            os.environ["LON_LLAMA_MODEL"],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        backend = openai(
            f"http://127.0.0.1:{port}",
            wait_s="300",
            max_tokens="8",
            token_ids="none",
            **_tokenizer_option(),
        )
        results, firsts = generate_all(backend, [[1, 450, 4996, 310]])
        assert results[0].error == "" and 1 <= results[0].n_tokens <= 8
        assert firsts.late == []
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.skipif(
    importlib.util.find_spec("vllm") is None or not os.environ.get("LON_VLLM_MODEL"),
    reason="needs vllm importable and LON_VLLM_MODEL=<a model name or path>",
)
def test_against_a_real_vllm_server():  # pragma: no cover - not installed here
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "vllm.entrypoints.openai.api_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--model",
            os.environ["LON_VLLM_MODEL"],
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        backend = openai(f"http://127.0.0.1:{port}", wait_s="900", max_tokens="8")
        results, firsts = generate_all(backend, [[1, 450, 4996, 310]])
        assert results[0].error == "" and 1 <= results[0].n_tokens <= 8
        assert firsts.late == []
    finally:
        proc.terminate()
        proc.wait()


def _tokenizer_option() -> dict[str, str]:
    path = os.environ.get("LON_TOKENIZER", "")
    return {"tokenizer": path} if path else {}


def test_token_ids_from_logprobs_the_older_vllm_way(plain):
    results, firsts = generate_all(openai(plain.url, token_ids="logprobs"), PROMPTS)
    assert [ids_of(r) for r in results] == [expected(p) for p in PROMPTS]
    assert firsts.late == []


def test_token_ids_none_asks_for_nothing_and_then_needs_a_tokenizer(plain):
    results, _ = generate_all(openai(plain.url, token_ids="none"), PROMPTS[:1])
    assert "the engine sent text without token ids (no choices[0].token_ids)" in results[0].error


@pytest.mark.parametrize("make", [openai, sglang], ids=["openai", "sglang"])
def test_one_request_at_a_time_reuses_one_connection(make):
    with engine("--output-tokens", "6") as e:
        results, _ = generate_all(make(e.url, concurrency="1"), PROMPTS * 3)
        stats = e.stats()
    assert all(r.error == "" for r in results)
    assert stats["requests"] == 12
    assert stats["connections"] == 1
