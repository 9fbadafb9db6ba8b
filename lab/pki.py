"""The lab's certificate authority, TLS certificates and the token server's signing key."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DAYS = 3650


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "berth lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=DAYS)))


def ensure(directory: Path, server_names: list[str]) -> None:
    """Create ca.crt, server.{crt,key} (for server_names) and token.{crt,key} once."""
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / "token.crt").exists():
        return
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("berth lab CA")
    ca = (_builder(ca_name, ca_name, ca_key.public_key())
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                         critical=True)
          .sign(ca_key, hashes.SHA256()))
    _write_key(directory / "ca.key", ca_key)
    (directory / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    server_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in server_names]
    sans.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    server = (_builder(_name(server_names[0]), ca_name, server_key.public_key())
              .add_extension(x509.SubjectAlternativeName(sans), critical=False)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    _write_key(directory / "server.key", server_key)
    (directory / "server.crt").write_bytes(server.public_bytes(serialization.Encoding.PEM))

    # The registry trusts tokens signed by this self-signed certificate (its rootcertbundle).
    token_key = ec.generate_private_key(ec.SECP256R1())
    token_name = _name("berth lab token signer")
    token = _builder(token_name, token_name, token_key.public_key()).sign(token_key, hashes.SHA256())
    _write_key(directory / "token.key", token_key)
    (directory / "token.crt").write_bytes(token.public_bytes(serialization.Encoding.PEM))


def ensure_edge(directory: Path, names: list[str]) -> None:
    """edge.{crt,key}: the certificate droplets' Traefik serves in the lab instead of ACME's."""
    if (directory / "edge.crt").exists():
        return
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(names[0]), ca.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(directory / "edge.key", key)
    (directory / "edge.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_registry(directory: Path, prefix: str, server_names: list[str]) -> None:
    """{prefix}-server.{crt,key} (for server_names, from the lab CA) and {prefix}-token.{crt,key}: a second
    registry's TLS certificate and its own token signer, once."""
    if (directory / f"{prefix}-token.crt").exists():
        return
    ca_key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), password=None)
    ca = x509.load_pem_x509_certificate((directory / "ca.crt").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_builder(_name(server_names[0]), ca.subject, key.public_key())
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in server_names]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(directory / f"{prefix}-server.key", key)
    (directory / f"{prefix}-server.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    token_key = ec.generate_private_key(ec.SECP256R1())
    token_name = _name(f"berth lab {prefix} token signer")
    token = _builder(token_name, token_name, token_key.public_key()).sign(token_key, hashes.SHA256())
    _write_key(directory / f"{prefix}-token.key", token_key)
    (directory / f"{prefix}-token.crt").write_bytes(token.public_bytes(serialization.Encoding.PEM))
