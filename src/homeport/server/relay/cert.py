"""The relay's TLS certificate: the operator's (``cert``/``key``), or a self-signed ECDSA
one made once in the data directory, which clients pin by its fingerprint."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import ssl
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from homeport.errors import ConfigError, StoreError
from homeport.server.relay.config import RelayConfig

CERT_NAME: Final = "relay-cert.pem"
KEY_NAME: Final = "relay-key.pem"
# Pinned by fingerprint, not by a CA: its lifetime only has to outlast the server. Ten
# years, so a relay never breaks its clients by expiring (they would have to re-pin).
SELF_SIGNED_DAYS: Final = 3650


def cert_paths(config: RelayConfig, data_dir: Path) -> tuple[Path, Path]:
    if config.cert is not None and config.key is not None:
        return config.cert, config.key
    return data_dir / CERT_NAME, data_dir / KEY_NAME


def ensure_cert(config: RelayConfig, data_dir: Path) -> tuple[Path, Path]:
    """The certificate and key files, making the self-signed pair on first use."""
    cert, key = cert_paths(config, data_dir)
    if config.cert is not None or cert.exists():
        return cert, key
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "homeport relay")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
    )
    if config.public_ipv4:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(config.public_ipv4))]),
            critical=False,
        )
    certificate = builder.sign(private, hashes.SHA256())
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(
                private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        # The certificate last: its presence means the pair is complete.
        tmp = cert.with_suffix(".tmp")
        tmp.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        tmp.replace(cert)
    except OSError as exc:
        raise StoreError(f"cannot write the relay certificate in {data_dir}: {exc}") from exc
    return cert, key


def fingerprint(cert: Path) -> str:
    """``sha256:<hex of the certificate's DER>``: what clients pin."""
    try:
        loaded = x509.load_pem_x509_certificate(cert.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the relay certificate {cert}: {exc}") from exc
    der = loaded.public_bytes(serialization.Encoding.DER)
    return "sha256:" + hashlib.sha256(der).hexdigest()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.3 only: agents are ours, and 1.3 saves a round trip per data connection."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the relay's cert/key: {exc}") from exc
    return context
