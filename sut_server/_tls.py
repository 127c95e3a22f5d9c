"""TLS for a node: the PEM files named by --tls-cert/--tls-key/--tls-client-ca, read and checked
before anything listens, turned into grpcio's own server credentials.

With --tls-client-ca the node requires every client to present a certificate signed by that CA
(mutual TLS): a plaintext client, or one without such a certificate, fails the handshake and
never reaches an RPC.
"""

from __future__ import annotations

import ssl

import grpc

from ._errors import ConfigError

_PEM = b"-----BEGIN "


def read_pem(flag: str, path: str) -> bytes:
    """The bytes of a PEM file; ConfigError naming ``flag`` and ``path`` if it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read(1024 * 1024 + 1)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read ({exc.strerror})") from None
    if len(data) > 1024 * 1024 or _PEM not in data:
        raise ConfigError(f"{flag} {path}: not a PEM file (expected '-----BEGIN ...')")
    return data


def check_tls_flags(cert: str | None, key: str | None, client_ca: str | None) -> None:
    """The flag combinations that make sense: a certificate and key together, a client CA
    only with them."""
    if (cert is None) != (key is None):
        raise ConfigError("--tls-cert and --tls-key go together (give both or neither)")
    if client_ca is not None and cert is None:
        raise ConfigError("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS first)")


def server_credentials(cert: str, key: str, client_ca: str | None) -> grpc.ServerCredentials:
    """grpcio server credentials; with ``client_ca`` client certificates are required."""
    chain = read_pem("--tls-cert", cert)
    private = read_pem("--tls-key", key)
    roots = read_pem("--tls-client-ca", client_ca) if client_ca is not None else None
    # grpc core only logs a bad pair and then fails to bind; the ssl module says what is wrong.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"--tls-cert {cert} / --tls-key {key}: not a certificate and its private key "
            f"({exc.reason or exc})"
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=client_ca)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"--tls-client-ca {client_ca}: not a PEM CA certificate ({exc.reason or exc})"
            ) from None
    return grpc.ssl_server_credentials(
        [(private, chain)], root_certificates=roots, require_client_auth=roots is not None
    )
