"""Keys of the relay's ``ssh -R`` listener: the hosts' registered public keys, checked at
the edge, and the relay's own host key, generated once into the data directory.

A host may open its tunnels with its secret as the password, or with any public key an
admin registered for it (``homeport server host ssh-key add NAME KEY``). Only public keys
are stored; the relay's private host key lives in :data:`HOST_KEY_FILE`, mode 0600, beside
the database (back it up with the data directory: a new one makes every client's
known_hosts entry stale).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from homeport.errors import ConfigError, NotFoundError, UsageError
from homeport.server.admin import ADMIN
from homeport.server.store import AuditEntry, SshKeyRow, Store

HOST_KEY_FILE = "relay-ssh-host-key"
# Ed25519: small, fast, and accepted by every OpenSSH since 6.5 (2014).
HOST_KEY_ALGORITHM = "ssh-ed25519"
# A pasted key is one line of a few hundred bytes (RSA 16384: ~2.8 KB); anything
# longer is not one public key.
MAX_KEY_TEXT = 16 * 1024


@dataclass(frozen=True)
class PublicKey:
    """A validated public key as it is stored and compared."""

    line: str  # "ssh-ed25519 AAAA..." without the comment
    comment: str
    fingerprint: str  # "SHA256:...", as ssh-keygen -l prints it


def parse_public_key(text: str) -> PublicKey:
    """One public key (OpenSSH ``authorized_keys`` style or RFC 4716); UsageError if not."""
    text = text.strip()
    if "PRIVATE KEY" in text:
        raise UsageError("that is a private key: give the public one (the .pub file's line)")
    if not text or len(text) > MAX_KEY_TEXT:
        raise UsageError("not an ssh public key (expected 'ssh-ed25519 AAAA... [comment]')")
    try:
        key = asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError, TypeError) as exc:
        # The library's message names what it could not parse; never the text itself.
        raise UsageError(f"not an ssh public key: {exc}") from exc
    comment = key.get_comment() or ""
    algorithm, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
    return PublicKey(f"{algorithm} {blob}", comment, key.get_fingerprint("sha256"))


def fingerprint_of(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def _audit(action: str, subject: str, detail: str) -> AuditEntry:
    return AuditEntry(actor=ADMIN, action=action, subject=subject, detail=detail, ts=time.time())


async def add_key(store: Store, host: str, text: str) -> SshKeyRow:
    """Register the public key ``text`` for ``host`` (absolute name); the stored row."""
    key = parse_public_key(text)
    row = SshKeyRow(host, key.fingerprint, key.line, key.comment, time.time())
    await store.add_ssh_key(row, _audit("host ssh-key add", host, key.fingerprint))
    return row


async def keys(store: Store, host: str) -> list[SshKeyRow]:
    if await store.host(host) is None:
        raise NotFoundError(f"no host {host}")
    return await store.ssh_keys(host)


async def remove_key(store: Store, host: str, fingerprint: str) -> None:
    await store.remove_ssh_key(host, fingerprint, _audit("host ssh-key rm", host, fingerprint))


def host_key(data_dir: Path) -> asyncssh.SSHKey:
    """The relay's SSH host key from its 0600 file; generated there on first use."""
    path = data_dir / HOST_KEY_FILE
    try:
        return asyncssh.read_private_key(path)
    except FileNotFoundError:
        pass
    except (OSError, asyncssh.KeyImportError) as exc:
        raise ConfigError(f"cannot read the relay's ssh host key {path}: {exc}") from exc
    key = asyncssh.generate_private_key(HOST_KEY_ALGORITHM, comment="homeport relay")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return host_key(data_dir)  # another process just made it
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as out:
        out.write(key.export_private_key("openssh"))
        out.flush()
        os.fsync(out.fileno())
    return key
