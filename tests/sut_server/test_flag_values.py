"""Every sut-server flag, given a bad value, is one error line and exit status 2 (run in
process: each case is about the checks, the real command's framing is tested in test_cli)."""

from __future__ import annotations

import pytest

from sut_server._cli import BACKEND_FLAGS, build_parser, main

BAD = {
    "--listen": (["--listen", "127.0.0.1:99999"], "--listen"),
    "--backend": (["--backend", ""], "--backend must not be empty"),
    "--backend-opt": (["--backend-opt", "novalue"], "is not KEY=VALUE"),
    "--name": (["--name", "a b"], "--name"),
    "--workers": (["--workers", "100000"], "--workers must be an integer in 1..1024"),
    "--max-batch": (["--max-batch", "-1"], "--max-batch must be an integer >= 0"),
    "--batch-timeout-us": (
        ["--max-batch", "4", "--batch-timeout-us", "99999999999"],
        "--batch-timeout-us must be an integer in",
    ),
    "--streams-limit": (["--streams-limit", "10000000"], "--streams-limit must be an integer in"),
    "--max-message-bytes": (
        ["--max-message-bytes", "1099511627776"],
        "--max-message-bytes must be an integer in 1024..1073741824",
    ),
    "--max-inflight-bytes": (["--max-inflight-bytes", "10"], "--max-inflight-bytes must be"),
    "--grace": (["--grace", "inf"], "--grace must be a number of seconds"),
    "--metrics-port": (["--metrics-port", "70000"], "--metrics-port must be 0..65535"),
    "--idle-stream-timeout": (["--idle-stream-timeout", "0"], "--idle-stream-timeout must be"),
    "--unused-stream-grace": (["--unused-stream-grace", "-1"], "--unused-stream-grace must be"),
    "--health-calls": (["--health-calls", "0"], "--health-calls must be an integer >= 1"),
    "--wire": (["--wire", "modern"], "--wire"),
    "--tls-cert": (["--tls-cert", "/nonexistent.pem", "--tls-key", "/k"], "--tls-cert /nonex"),
    "--tls-key": (["--tls-key", "/k"], "--tls-cert and --tls-key go together"),
    "--tls-client-ca": (["--tls-client-ca", "/ca"], "--tls-client-ca needs --tls-cert"),
    "--service-time-us": (
        ["--backend", "synthetic", "--service-time-us", "1e300"], "service_time_us='1e300'"
    ),
    "--max-qps": (["--backend", "synthetic", "--max-qps", "nan"], "max_qps='nan'"),
    "--output-bytes": (["--backend", "synthetic", "--output-bytes", "1e12"], "output_bytes"),
    "--hidden": (["--backend", "numpy-mlp", "--hidden", "10^12"], "hidden='10^12'"),
    "--classes": (
        ["--backend", "numpy-mlp", "--classes", "1000000000000"], "must be an integer <= 65536"
    ),
    "--seed": (["--backend", "numpy-mlp", "--seed", "-1"], "seed='-1'"),
    "--ttft-ms": (["--backend", "synthetic-llm", "--ttft-ms", "1e9"], "ttft_ms"),
    "--tpot-ms": (["--backend", "synthetic-llm", "--tpot-ms", "-3"], "tpot_ms"),
    "--output-tokens": (
        ["--backend", "synthetic-llm", "--output-tokens", "1000000000000"], "output_tokens"
    ),
}  # fmt: skip


def test_every_flag_has_a_bad_value_case():
    flags = {
        option
        for action in build_parser()._actions
        for option in action.option_strings
        if option.startswith("--") and option not in ("--help", "--version")
    }
    assert flags == set(BAD), "add a bad-value case for each new flag"
    assert set(BACKEND_FLAGS) <= set(BAD)


@pytest.mark.parametrize("flag", sorted(BAD))
def test_a_bad_value_is_one_line_and_exit_2(flag, capsys):
    args, message = BAD[flag]
    if "--listen" not in args:
        args = ["--listen", "127.0.0.1:0", *args]
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("sut-server: error: ") and message in lines[0], lines[0]
    assert captured.out == ""
