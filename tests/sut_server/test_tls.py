"""TLS and mutual TLS between lon-run (the QDL's gRPC transport) and sut-server, with real
certificates made in the test: who gets in, and the one line that says why someone did not."""

from __future__ import annotations

import io
import os
import subprocess

import pytest

from lon._run import parse_options, run
from qdl import GrpcTransport, SecurityRefused, Timeouts, TlsConfig
from sut_server import NodeConfig, run_server
from tests.certificates import Certificates, make_certificates
from tests.conftest import LON_RUN, ROOT

FAST = Timeouts(connect=20.0)  # generous: a refusal must come from the handshake, not this


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def mtls_node(certs):
    node = run_server(
        NodeConfig(
            name="secure",
            tls_cert=certs.node_cert,
            tls_key=certs.node_key,
            tls_client_ca=certs.ca,
            grace_s=1.0,
        )
    )
    yield node
    node.stop(1.0)


@pytest.fixture(scope="module")
def plain_node():
    node = run_server(NodeConfig(name="plain", grace_s=1.0))
    yield node
    node.stop(1.0)


def connect(address: str, tls: TlsConfig | None) -> str:
    transport = GrpcTransport(address, timeouts=FAST, tls=tls)
    try:
        return transport.connect().name
    finally:
        transport.close()


def test_a_client_with_a_certificate_from_the_ca_gets_in(mtls_node, certs):
    tls = TlsConfig(certs.ca, certs.client_cert, certs.client_key)
    assert connect(f"127.0.0.1:{mtls_node.port}", tls) == "secure"


def test_the_server_name_override_checks_the_certificate_against_another_name(mtls_node, certs):
    tls = TlsConfig(certs.ca, certs.client_cert, certs.client_key, server_name="node.test")
    assert connect(f"127.0.0.1:{mtls_node.port}", tls) == "secure"
    wrong = TlsConfig(certs.ca, certs.client_cert, certs.client_key, server_name="elsewhere")
    with pytest.raises(SecurityRefused, match="--tls-server-name"):
        connect(f"127.0.0.1:{mtls_node.port}", wrong)


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("plaintext", "it requires TLS"),
        ("no client certificate", "requires a client certificate"),
        ("client certificate from another CA", "requires a client certificate"),
        ("node not signed by the CA given", "not signed by the CA given with lon-run --tls-ca"),
    ],
)
def test_whoever_cannot_authenticate_is_refused_naming_the_node(mtls_node, certs, who, message):
    tls = {
        "plaintext": None,
        "no client certificate": TlsConfig(certs.ca),
        "client certificate from another CA": TlsConfig(
            certs.ca, certs.other_client_cert, certs.other_client_key
        ),
        "node not signed by the CA given": TlsConfig(
            certs.other_ca, certs.client_cert, certs.client_key
        ),
    }[who]
    address = f"127.0.0.1:{mtls_node.port}"
    with pytest.raises(SecurityRefused) as caught:
        connect(address, tls)
    assert message in str(caught.value)
    assert address in str(caught.value)
    assert caught.value.node == address


def test_a_tls_client_against_a_plaintext_node_says_the_node_serves_plaintext(plain_node, certs):
    with pytest.raises(SecurityRefused, match="serves plaintext"):
        connect(f"127.0.0.1:{plain_node.port}", TlsConfig(certs.ca))


def lon_run(tmp_path, address: str, *tls_flags: str) -> tuple[int, str, str]:
    argv = [
        "--nodes", address, "--scenario", "SingleStream", "--synthetic", "8:uint8:16",
        "--output", str(tmp_path / "out"), "--set", "min_duration_ms=200",
        "--set", "min_query_count=20", *tls_flags,
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    code = run(parse_options(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_lon_run_over_mtls_finishes(mtls_node, certs, tmp_path):
    flags = ["--tls-ca", certs.ca, "--tls-cert", certs.client_cert, "--tls-key", certs.client_key]
    code, out, err = lon_run(tmp_path, f"127.0.0.1:{mtls_node.port}", *flags)
    assert code in (0, 1), err
    assert "Result is" in out


def test_lon_run_without_tls_against_an_mtls_node_is_one_line_naming_it(mtls_node, tmp_path):
    address = f"127.0.0.1:{mtls_node.port}"
    code, _, err = lon_run(tmp_path, address)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert address in lines[0] and "requires TLS" in lines[0]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tls-cert", "x.pem", "--tls-key", "x.key"], "--tls-cert needs --tls-ca"),
        (["--tls-ca", "/nonexistent/ca.pem"], "--tls-ca /nonexistent/ca.pem: cannot read"),
        (["--tls-ca", "CA", "--tls-cert", "CA"], "--tls-cert and --tls-key go together"),
    ],
)
def test_lon_run_tls_flag_mistakes_are_one_line(plain_node, certs, tmp_path, flags, message):
    flags = [certs.ca if f == "CA" else f for f in flags]
    code, _, err = lon_run(tmp_path, f"127.0.0.1:{plain_node.port}", *flags)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err, err


def test_the_real_command_prints_one_line_for_an_untrusted_node(mtls_node, certs, tmp_path):
    # grpc core would log the failed handshake on stderr too; lon-run keeps it to its own line.
    env = {k: v for k, v in os.environ.items() if k != "GRPC_VERBOSITY"}
    proc = subprocess.run(
        [*LON_RUN, "--nodes", f"127.0.0.1:{mtls_node.port}", "--scenario", "Offline",
         "--synthetic", "4:uint8:8", "--output", str(tmp_path / "out"),
         "--tls-ca", certs.other_ca, "--tls-cert", certs.client_cert,
         "--tls-key", certs.client_key],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "not signed by the CA given with lon-run --tls-ca" in proc.stderr
