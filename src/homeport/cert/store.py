"""Certificates on disk: ``DIR/NAME/fullchain.pem`` and ``DIR/NAME/privkey.pem``.

The layout Caddy, nginx and haproxy configs point at (``homeport proxy``). Each file is
replaced atomically (a reader sees the old file or the new one, whole); the key is
written first, mode 0600, then the chain, so a reader never gets a chain whose key is
not on disk yet. The ACME account key lives beside them, one per CA directory URL.
A small ``state.json`` per name remembers a failed attempt (for the retry delay).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from homeport.agent.statefile import write_atomic
from homeport.core.certrenew import Current
from homeport.errors import ConfigError, StoreError

FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"
# haproxy (2.2+) loads the key of `crt fullchain.pem` from `fullchain.pem.key`: a link to
# the key, so `homeport proxy haproxy` works on the same files without a second copy.
HAPROXY_KEY = "fullchain.pem.key"
STATE = "state.json"
ACCOUNTS = ".accounts"
CURVES: dict[str, ec.EllipticCurve] = {"ec256": ec.SECP256R1(), "ec384": ec.SECP384R1()}


@dataclass(frozen=True)
class Stored:
    name: str
    path: Path
    current: Current | None


def name_dir(root: Path, name: str) -> Path:
    if "/" in name or name.startswith(".") or not name:
        raise ConfigError(f"{name[:80]!r} is not a certificate name")
    return root / name


def new_key(key_type: str) -> ec.EllipticCurvePrivateKey:
    """A fresh certificate or account key (EC P-256 by default: small, every client has it)."""
    curve = CURVES.get(key_type)
    if curve is None:
        raise ConfigError(f"key type {key_type!r} unknown; known: {', '.join(CURVES)}")
    return ec.generate_private_key(curve)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def account_key(root: Path, directory_url: str) -> ec.EllipticCurvePrivateKey:
    """The account key for this CA, created on first use."""
    digest = hashlib.sha256(directory_url.encode()).hexdigest()[:16]
    path = root / ACCOUNTS / digest / "account.key"
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        key = new_key("ec256")
        _write(path, key_pem(key), 0o600)
        _write(path.with_name("directory.txt"), directory_url.encode() + b"\n", 0o644)
        return key
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{path}: cannot read the ACME account key ({type(exc).__name__})"
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise StoreError(f"{path}: not an EC key")
    return loaded


def read(root: Path, name: str) -> Stored:
    path = name_dir(root, name)
    return Stored(name, path, current_of(path / FULLCHAIN))


def current_of(fullchain: Path) -> Current | None:
    """Names and dates of the first certificate in ``fullchain`` (None: no file)."""
    try:
        data = fullchain.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{fullchain}: cannot read: {exc.strerror}") from None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        raise StoreError(f"{fullchain}: not a PEM certificate") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        names = frozenset(san.value.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = frozenset()
    return Current(
        names, cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
    )


def write(root: Path, name: str, fullchain: bytes, key: bytes) -> Path:
    """Replace NAME's key and chain (key first); the directory they are in."""
    path = name_dir(root, name)
    _write(path / PRIVKEY, key, 0o600)
    _write(path / FULLCHAIN, fullchain, 0o644)
    link = path / HAPROXY_KEY
    if not link.is_symlink() and not link.exists():  # a file of the user's own stays
        try:
            link.symlink_to(PRIVKEY)
        except OSError as exc:
            raise StoreError(f"{link}: cannot link: {exc.strerror or exc}") from exc
    return path


def last_failure(root: Path, name: str) -> float | None:
    try:
        data = json.loads((name_dir(root, name) / STATE).read_text())
    except (OSError, ValueError):
        return None
    value = data.get("last_failure") if isinstance(data, dict) else None
    return float(value) if isinstance(value, int | float) else None


def note_attempt(root: Path, name: str, failed_at: float | None) -> None:
    _write(name_dir(root, name) / STATE, json.dumps({"last_failure": failed_at}).encode(), 0o644)


def listing(root: Path) -> list[Stored]:
    """Every name with a certificate under ``root``, sorted."""
    if not root.is_dir():
        return []
    found = []
    for path in sorted(root.iterdir()):
        if path.is_dir() and not path.name.startswith(".") and (path / FULLCHAIN).exists():
            found.append(Stored(path.name, path, current_of(path / FULLCHAIN)))
    return found


def utc(timestamp: float) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _write(path: Path, data: bytes, mode: int) -> None:
    try:
        write_atomic(path, data, mode)
    except OSError as exc:
        raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from exc
