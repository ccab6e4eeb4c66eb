"""Credentials: host secrets and tokens (SHA-256), account passwords (argon2).

Host secrets and tokens are 256-bit random strings: a fast hash is enough and
lets every update be checked in microseconds. Human passwords get argon2, whose
~0.4 s verify must not run per update: a successful verify is
remembered as a keyed digest for :data:`PASSWORD_CACHE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import argon2

from homeport.core.units import MINUTE

# Per-host secrets from secrets.token_urlsafe(32): 256 bits, beyond guessing online.
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
    (No-IP's group-login rule); the password is everything after the first literal colon.
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
    """argon2 hashing, a short-lived cache of successful verifications, and a bounded pool.

    argon2 is built to be costly (~0.2 s of CPU and 64 MiB per verify with argon2-cffi's
    defaults), so it must not run once per request an attacker sends: at most
    ``workers`` verifications run at once and ``queue`` more may wait; past that
    :meth:`verify` answers ``None`` at once, without verifying. An account name that
    does not exist is verified against a dummy hash with the same parameters, so its
    answer takes as long as a wrong password for a real account.
    """

    def __init__(
        self, workers: int = 2, queue: int = 16, hasher: argon2.PasswordHasher | None = None
    ) -> None:
        self._argon2 = hasher or argon2.PasswordHasher()
        self._key = secrets.token_bytes(32)  # per process: cache entries mean nothing elsewhere
        self._verified: dict[str, tuple[bytes, float]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._limit = workers + queue
        self._dummy_lock = threading.Lock()
        self._dummy: str | None = None
        self.in_flight = 0  # verifications running or queued

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def _digest(self, stored_hash: str, password: str) -> bytes:
        return hmac.new(self._key, f"{stored_hash}\0{password}".encode(), "sha256").digest()

    def recall(self, name: str, stored_hash: str, password: str, now: float) -> bool:
        """Whether this exact password was verified for this hash lately (no argon2).

        The stored hash is part of the digest: a changed password never matches.
        """
        cached = self._verified.get(name)
        if cached is None or now >= cached[1]:
            return False
        return hmac.compare_digest(cached[0], self._digest(stored_hash, password))

    async def verify(
        self, name: str, stored_hash: str | None, password: str, now: float
    ) -> bool | None:
        """argon2-verify ``password`` (``stored_hash`` None: against the dummy hash, False).

        None when the pool and its queue are full: nothing was verified.
        """
        if self.in_flight >= self._limit:
            return None
        self.in_flight += 1
        work = asyncio.get_running_loop().run_in_executor(
            self._pool, self._check, stored_hash, password
        )
        # Counted until the thread is done, even if the request is cancelled meanwhile.
        work.add_done_callback(self._done)
        ok = await asyncio.shield(work)
        if not ok or stored_hash is None:
            return False
        self._verified[name] = (self._digest(stored_hash, password), now + PASSWORD_CACHE_SECONDS)
        return True

    def _done(self, _work: asyncio.Future[bool]) -> None:
        self.in_flight -= 1

    def _check(self, stored_hash: str | None, password: str) -> bool:
        """In a pool thread: argon2 releases the GIL while it works."""
        try:
            return self._argon2.verify(stored_hash or self._dummy_hash(), password)
        except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
            return False

    def _dummy_hash(self) -> str:
        # Made on first use, with this hasher's parameters, so it costs what a real one does.
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._argon2.hash(secrets.token_urlsafe(SECRET_BYTES))
            return self._dummy

    def forget(self, name: str) -> None:
        self._verified.pop(name, None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
