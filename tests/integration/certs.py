"""A throwaway PKI for TLS tests: a CA, a server certificate for loopback, client certificates."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Identity:
    """A PEM certificate and its key, on disk."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """What the TLS tests need, all written under one folder."""

    ca: Path
    server: Identity
    client: Identity
    # Signed by another CA, which the server does not trust.
    stranger: Identity


def make_pki(folder: Path) -> Pki:
    """Write a CA, a server identity for 127.0.0.1/localhost and two client identities."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = _ca("saliency test CA")
    other_key, other_cert = _ca("someone else's CA")
    ca = folder / "ca.pem"
    ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    server_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    return Pki(
        ca=ca,
        server=_leaf(
            folder, "server", ca_key, ca_cert, server_names, ExtendedKeyUsageOID.SERVER_AUTH
        ),
        client=_leaf(folder, "client", ca_key, ca_cert, [], ExtendedKeyUsageOID.CLIENT_AUTH),
        stranger=_leaf(
            folder, "stranger", other_key, other_cert, [], ExtendedKeyUsageOID.CLIENT_AUTH
        ),
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _leaf(
    folder: Path,
    name: str,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    alt_names: list[x509.GeneralName],
    usage: x509.ObjectIdentifier,
) -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(name, ca_cert.subject, key).add_extension(
        x509.ExtendedKeyUsage([usage]), critical=False
    )
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    identity = Identity(folder / f"{name}.pem", folder / f"{name}.key")
    identity.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    identity.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return identity
