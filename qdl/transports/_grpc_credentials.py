"""The channel credentials a ``TlsConfig`` names: the PEM files read and checked before any
node is dialled, turned into grpcio's own ``ssl_channel_credentials``."""

from __future__ import annotations

import grpc

from .._config import TlsConfig
from .._exceptions import ConfigError

_PEM = b"-----BEGIN "
_MAX_PEM_BYTES = 1024 * 1024


def read_pem(flag: str, path: str) -> bytes:
    """The bytes of a PEM file; ConfigError naming ``flag`` and ``path`` if it is not one."""
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{flag} {path}: cannot read ({exc.strerror})") from None
    if len(data) > _MAX_PEM_BYTES or _PEM not in data:
        raise ConfigError(f"{flag} {path}: not a PEM file (expected '-----BEGIN ...')")
    return data


def channel_security(
    tls: TlsConfig | None,
) -> tuple[grpc.ChannelCredentials | None, list[tuple[str, str]]]:
    """The credentials (None: plaintext) and the extra channel options for ``tls``."""
    if tls is None:
        return None, []
    roots = read_pem("--tls-ca", tls.ca)
    key = read_pem("--tls-key", tls.key) if tls.key is not None else None
    chain = read_pem("--tls-cert", tls.cert) if tls.cert is not None else None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=roots, private_key=key, certificate_chain=chain
    )
    options = []
    if tls.server_name is not None:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return credentials, options
