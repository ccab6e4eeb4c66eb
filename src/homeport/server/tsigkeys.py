"""Per-host TSIG keys (RFC 8945) whose secrets are never stored.

A TSIG secret must be usable for HMAC, so it cannot be hashed the way host secrets
are. Rather than encrypting it (no cipher among our dependencies, and hand-written
encryption is worse than none), the secret is *derived*: HMAC-SHA512 of the key's
name and a random per-key salt under a server key. The database holds only the
name, algorithm and salt; the server key lives in :data:`SERVER_KEY_FILE`, mode
0600, beside the database (back it up with the data directory: without it every
TSIG key must be issued again). A stolen database alone gives no secret; a new
key (``homeport server host tsig NAME`` again) takes a new salt, so the old
secret stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import dns.name
import dns.tsig

from homeport.errors import ConfigError
from homeport.server.store import TsigKeyRow

SERVER_KEY_FILE = "tsig-server.key"
_SERVER_KEY_BYTES = 32  # 256 bits, as the host secrets
# The algorithms RFC 8945 §6 lists as implementable (MD5 is cert-manager's default),
# with their secret length: the hash's output size, as BIND's tsig-keygen makes them.
ALGORITHMS: dict[str, tuple[dns.name.Name, int]] = {
    "hmac-md5": (dns.tsig.HMAC_MD5, 16),
    "hmac-sha1": (dns.tsig.HMAC_SHA1, 20),
    "hmac-sha224": (dns.tsig.HMAC_SHA224, 28),
    "hmac-sha256": (dns.tsig.HMAC_SHA256, 32),
    "hmac-sha384": (dns.tsig.HMAC_SHA384, 48),
    "hmac-sha512": (dns.tsig.HMAC_SHA512, 64),
}
DEFAULT_ALGORITHM = "hmac-sha256"  # certbot's and lego's default


@dataclass(frozen=True)
class HostKey:
    """A usable key and the host it speaks for."""

    key: dns.tsig.Key
    host: str


class Keyring:
    """Every TSIG key the server answers to, one place for both uses of RFC 8945.

    ``hosts``: per-host keys, for RFC 2136 UPDATE of a host's challenge names
    (:mod:`homeport.server.dns_update`); ``secondaries``: the secondaries' keys, for
    zone transfers and NOTIFY (:mod:`homeport.server.xfr`). A key is looked up in its
    role only: a host's key never gets a transfer, a secondary's never an UPDATE.
    Each dict is replaced whole on reload (the UDP thread reads them).
    """

    def __init__(self) -> None:
        self.hosts: dict[dns.name.Name, HostKey] = {}
        self.secondaries: dict[dns.name.Name, dns.tsig.Key] = {}

    def host(self, name: dns.name.Name) -> HostKey | None:
        return self.hosts.get(name)

    def host_key(self, name: dns.name.Name) -> dns.tsig.Key | None:
        entry = self.hosts.get(name)
        return entry.key if entry is not None else None

    def secondary(self, name: dns.name.Name) -> dns.tsig.Key | None:
        return self.secondaries.get(name)


def server_key(data_dir: Path, *, create: bool) -> bytes | None:
    """The server key from its 0600 file; made once when ``create`` (None: there is none)."""
    path = data_dir / SERVER_KEY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if not create:
            return None
        data = secrets.token_bytes(_SERVER_KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return server_key(data_dir, create=False)  # another process just made it
        except OSError as exc:
            raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    if len(data) != _SERVER_KEY_BYTES:
        raise ConfigError(f"{path} is not a homeport TSIG server key")
    return data


def derive_secret(server: bytes, row: TsigKeyRow) -> bytes:
    """The key's secret: HMAC-SHA512(server key, name + salt), cut to the algorithm's size."""
    _, size = ALGORITHMS[row.algorithm]
    message = b"homeport tsig v1\0" + row.name.lower().encode() + b"\0" + row.salt.encode()
    return hmac.new(server, message, hashlib.sha512).digest()[:size]


def new_salt() -> str:
    return secrets.token_hex(16)


def keyring(server: bytes | None, rows: list[TsigKeyRow]) -> dict[dns.name.Name, HostKey]:
    """Key name -> usable key, for every row (none without the server key)."""
    if server is None:
        return {}
    out: dict[dns.name.Name, HostKey] = {}
    for row in rows:
        if row.algorithm not in ALGORITHMS:
            continue
        name = dns.name.from_text(row.name)
        key = dns.tsig.Key(name, derive_secret(server, row), ALGORITHMS[row.algorithm][0])
        out[name] = HostKey(key, row.host)
    return out
