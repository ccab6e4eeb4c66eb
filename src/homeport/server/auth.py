"""Credentials: host secrets and tokens (SHA-256), account passwords (argon2).

Host secrets and tokens are 256-bit random strings: a fast hash is enough and
lets every update be checked in microseconds. Human passwords get argon2, whose
~0.4 s verify must not run per update (DESIGN §8): a successful verify is
remembered as a keyed digest for :data:`PASSWORD_CACHE_SECONDS`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass

import argon2

from homeport.core.units import MINUTE

# DESIGN §8: per-host secrets from secrets.token_urlsafe(32) (256 bits).
SECRET_BYTES = 32
# How long a verified account password is trusted without a new argon2 verify.
# Routers update every few minutes; 15 minutes keeps argon2 off the hot path
# while a changed password takes effect quickly (the cache is also dropped on change).
PASSWORD_CACHE_SECONDS = 15 * MINUTE


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def secret_matches(secret: str, stored_sha256: str) -> bool:
    return hmac.compare_digest(sha256_hex(secret), stored_sha256)


@dataclass(frozen=True)
class BasicCredentials:
    username: str
    password: str

    def __repr__(self) -> str:
        return f"BasicCredentials(username={self.username!r}, password=[redacted])"


def parse_basic(header: str | None) -> BasicCredentials | None:
    """``Authorization: Basic ...`` -> credentials; None if absent or malformed.

    No-IP group logins ``group:user`` arrive with the first colon as ``%3A``
    (DESIGN §3); the password is everything after the first literal colon.
    """
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return BasicCredentials(username.replace("%3A", ":").replace("%3a", ":"), password)


class PasswordHasher:
    """argon2 hashing with a short-lived cache of successful verifications."""

    def __init__(self) -> None:
        self._argon2 = argon2.PasswordHasher()
        self._key = secrets.token_bytes(32)  # per process: cache entries mean nothing elsewhere
        self._verified: dict[str, tuple[bytes, float]] = {}

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def _digest(self, stored_hash: str, password: str) -> bytes:
        return hmac.new(self._key, f"{stored_hash}\0{password}".encode(), "sha256").digest()

    def verify(self, name: str, stored_hash: str, password: str, now: float) -> bool:
        cached = self._verified.get(name)
        digest = self._digest(stored_hash, password)
        if cached is not None and now < cached[1] and hmac.compare_digest(cached[0], digest):
            return True
        try:
            self._argon2.verify(stored_hash, password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False
        self._verified[name] = (digest, now + PASSWORD_CACHE_SECONDS)
        return True

    def forget(self, name: str) -> None:
        self._verified.pop(name, None)
