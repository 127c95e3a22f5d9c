"""Real X.509 certificates for the TLS tests, made with the ``cryptography`` package: a CA, a
node certificate signed by it, a client certificate signed by it, and a second, unrelated CA."""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclasses.dataclass(frozen=True)
class Certificates:
    ca: str
    node_cert: str
    node_key: str
    client_cert: str
    client_key: str
    other_ca: str  # a CA that signed none of the above
    other_client_cert: str  # a client certificate signed by other_ca
    other_client_key: str


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: str, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    cert = (
        _builder(common_name, _name(common_name), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    common_name: str,
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate],
    names: list[x509.GeneralName],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    cert = (
        _builder(common_name, ca[1].subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca[0], hashes.SHA256())
    )
    return key, cert


def _write(directory: Path, stem: str, key: object, cert: x509.Certificate) -> tuple[str, str]:
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        key_path.write_bytes(
            key.private_bytes(  # type: ignore[attr-defined]
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return str(cert_path), str(key_path)


def make_certificates(directory: Path, node_name: str = "node.test") -> Certificates:
    """Write the set to ``directory``. The node's certificate names ``node_name`` and
    127.0.0.1, so a client dialling 127.0.0.1 needs no name override."""
    ca = _ca("test CA")
    other = _ca("other CA")
    node = _leaf(
        "node", ca, [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    client = _leaf("client", ca, [x509.DNSName("client.test")])
    stranger = _leaf("stranger", other, [x509.DNSName("stranger.test")])
    ca_path, _ = _write(directory, "ca", None, ca[1])
    other_path, _ = _write(directory, "other-ca", None, other[1])
    node_cert, node_key = _write(directory, "node", node[0], node[1])
    client_cert, client_key = _write(directory, "client", client[0], client[1])
    stranger_cert, stranger_key = _write(directory, "stranger", stranger[0], stranger[1])
    return Certificates(
        ca_path, node_cert, node_key, client_cert, client_key, other_path, stranger_cert,
        stranger_key,
    )  # fmt: skip
