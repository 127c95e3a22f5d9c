"""The reference engine (python -m sut_server.fake_engine) as a real process, over real HTTP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest

from sut_server.fake_engine import output_length, output_tokens, parse_output_length

from .engine_process import EngineProcess, engine


def post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def events(text: str) -> list[Any]:
    found = []
    for block in text.split("\n\n"):
        if block.startswith("data: "):
            data = block[len("data: ") :]
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


@pytest.fixture(scope="module")
def plain():
    with engine("--output-tokens", "uniform:4:9", "--model", "tiny") as e:
        yield e


def test_it_says_everywhere_that_it_is_a_stand_in(plain):
    assert plain.ready_line.startswith("reference engine ready (a stand-in, not a real engine):")
    assert f"url={plain.url}" in plain.ready_line and "model=tiny" in plain.ready_line
    models = plain.get("/v1/models")
    assert models["data"][0]["id"] == "tiny"
    assert "stand-in" in models["data"][0]["owned_by"]
    assert "stand-in" in plain.get("/version")["version"]


def test_completions_stream_and_whole_answers_carry_the_same_deterministic_ids(plain):
    prompt = [5, 6, 7, 8]
    count = output_length(prompt, parse_output_length("uniform:4:9"))
    assert 4 <= count <= 9
    body = {"prompt": prompt, "max_tokens": 100, "return_token_ids": True}
    status, text = post(
        f"{plain.url}/v1/completions",
        {**body, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert status == 200
    chunks = events(text)
    assert chunks[-1] == "[DONE]"
    streamed = [t for c in chunks[:-2] for t in c["choices"][0]["token_ids"]]
    assert streamed == output_tokens(prompt, count)
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-2]] == [None] * (count - 1) + [
        "stop"
    ]
    assert chunks[-2]["usage"]["completion_tokens"] == count
    status, text = post(f"{plain.url}/v1/completions", body)
    whole = json.loads(text)["choices"][0]
    assert whole["token_ids"] == streamed
    assert whole["text"] == "".join(c["choices"][0]["text"] for c in chunks[:-2])


def test_token_ids_come_only_when_asked_for_as_in_vllm(plain):
    status, text = post(f"{plain.url}/v1/completions", {"prompt": [1], "stream": True})
    assert status == 200
    assert all("token_ids" not in c["choices"][0] for c in events(text)[:-1])


def test_generate_streams_sglang_chunks_with_cumulative_output_ids(plain):
    prompt = [9, 9, 9]
    status, text = post(
        f"{plain.url}/generate",
        {"input_ids": prompt, "sampling_params": {"max_new_tokens": 3}, "stream": True},
    )
    chunks = events(text)
    assert chunks[-1] == "[DONE]"
    ids = output_tokens(prompt, 3)
    assert [c["output_ids"] for c in chunks[:-1]] == [ids[:1], ids[:2], ids]
    assert [c["meta_info"]["completion_tokens"] for c in chunks[:-1]] == [1, 2, 3]
    assert chunks[-2]["meta_info"]["finish_reason"] == {"type": "length", "length": 3}
    status, text = post(
        f"{plain.url}/generate",
        {"input_ids": prompt, "sampling_params": {"max_new_tokens": 50, "ignore_eos": True}},
    )
    assert json.loads(text)["output_ids"] == output_tokens(prompt, 50)


def test_answer_lengths_follow_the_distribution_and_never_pass_max_tokens(plain):
    lengths = parse_output_length("uniform:4:9")
    seen = set()
    for i in range(40):
        prompt = [i, 2 * i + 1]
        status, text = post(
            f"{plain.url}/v1/completions",
            {"prompt": prompt, "max_tokens": 6, "return_token_ids": True},
        )
        choice = json.loads(text)["choices"][0]
        natural = output_length(prompt, lengths)
        assert choice["token_ids"] == output_tokens(prompt, min(6, natural))
        assert choice["finish_reason"] == ("length" if natural > 6 else "stop")
        seen.add(natural)
    assert min(seen) >= 4 and max(seen) <= 9 and len(seen) > 3


def test_requests_run_side_by_side_up_to_max_concurrency_and_queue_beyond():
    with engine("--max-concurrency", "3", "--ttft-ms", "400", "--output-tokens", "2") as e:
        answers: list[int] = []

        def one(i: int) -> None:
            answers.append(post(f"{e.url}/v1/completions", {"prompt": [i], "stream": True})[0])

        threads = [threading.Thread(target=one, args=(i,)) for i in range(7)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stats = e.stats()
    assert answers == [200] * 7
    assert stats["peak_active"] == 3
    assert stats["requests"] == 7 and stats["tokens_sent"] == 14
    assert stats["ttft_ms_mean"] >= 400


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/v1/completions", {"prompt": "text"}, "prompt must be a non-empty list of token ids"),
        ("/v1/completions", {"prompt": [1], "max_tokens": 0}, "max_tokens must be an integer >= 1"),
        ("/generate", {"input_ids": [1], "sampling_params": 3}, "sampling_params must be"),
        ("/generate", {"text": "hello"}, "input_ids must be a non-empty list"),
    ],
)
def test_bad_requests_get_400_with_the_reason(plain, path, body, needle):
    status, text = post(plain.url + path, body)
    assert status == 400
    assert needle in json.loads(text)["error"]["message"]


def test_an_api_key_is_required_where_set_and_health_stays_open():
    with engine("--api-key", "k1") as e:
        assert post(f"{e.url}/v1/completions", {"prompt": [1]})[0] == 401
        ok, _ = post(f"{e.url}/v1/completions", {"prompt": [1]}, {"Authorization": "Bearer k1"})
        assert ok == 200
        with urllib.request.urlopen(f"{e.url}/health", timeout=30) as resp:
            assert resp.status == 200


def test_fail_every_n_answers_every_nth_request_with_a_json_500():
    with engine("--fail-every", "3") as e:
        answers = [post(f"{e.url}/v1/completions", {"prompt": [i]}) for i in range(8)]
        status, _ = post(f"{e.url}/generate", {"input_ids": [1]})
        assert e.stats()["failures_injected"] == 3
    statuses, texts = [a[0] for a in answers], [a[1] for a in answers]
    assert statuses == [200, 200, 500, 200, 200, 500, 200, 200]
    assert "injected failure of request 3 (--fail-every 3)" in texts[2]
    assert status == 500  # the 9th request, on the other endpoint: one count for both


def test_startup_delay_answers_503_until_ready():
    with engine("--startup-delay-s", "300") as e:
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"{e.url}/v1/models", timeout=30)
        assert raised.value.code == 503
        raised.value.close()
        assert post(f"{e.url}/v1/completions", {"prompt": [1]})[0] == 503


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (
            ["--output-tokens", "uniform:9:2"],
            "--output-tokens 'uniform:9:2': expected N or uniform",
        ),
        (["--listen", "nowhere"], "--listen 'nowhere': expected HOST:PORT"),
        (["--max-concurrency", "0"], "--max-concurrency 0: must be at least 1"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(flags, needle):
    done = subprocess.run(
        [sys.executable, "-m", "sut_server.fake_engine", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert needle in done.stderr
    assert "Traceback" not in done.stderr


def test_a_port_in_use_is_one_line_and_exit_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "sut_server.fake_engine", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert done.stderr.startswith(f"reference engine: error: cannot listen on 127.0.0.1:{port}")
    assert len(done.stderr.strip().splitlines()) == 1


def test_sigterm_stops_it_cleanly():
    e = EngineProcess()
    e.proc.terminate()
    assert e.proc.wait(timeout=30) == 0
    e.stop()
