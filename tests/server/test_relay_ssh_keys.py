"""The relay's ssh keys, in-process: parsing at the edge, and storage on both engines."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncssh
import pytest

from homeport.errors import ConflictError, NotFoundError, UsageError
from homeport.server import admin
from homeport.server.relay import ssh_keys
from homeport.server.store import Store
from tests.server.pg import pg_socket, pg_url  # noqa: F401 - fixtures

T = TypeVar("T")
HOST = "pi.dyn.example.net."


def keygen(path: Path, kind: str = "ed25519") -> str:
    """A public key line from OpenSSH's own ssh-keygen."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "me@home", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path.parent.joinpath(path.name + ".pub").read_text()


def test_public_keys_parse_to_line_comment_and_ssh_keygens_fingerprint(tmp_path: Path) -> None:
    for kind in ("ed25519", "ecdsa", "rsa"):
        text = keygen(tmp_path / kind, kind)
        key = ssh_keys.parse_public_key(text)
        shown = subprocess.run(
            ["ssh-keygen", "-l", "-f", "-"], input=text, capture_output=True, text=True, check=True
        )
        assert key.fingerprint == shown.stdout.split()[1]
        assert key.comment == "me@home"
        assert text.startswith(key.line + " ")
        # The RFC 4716 form of the same key is the same key.
        pub = tmp_path / f"{kind}.pub"
        rfc = subprocess.run(
            ["ssh-keygen", "-e", "-f", str(pub)], capture_output=True, text=True, check=True
        )
        assert rfc.stdout.startswith("---- BEGIN SSH2 PUBLIC KEY ----")
        assert ssh_keys.parse_public_key(rfc.stdout).fingerprint == key.fingerprint


@pytest.mark.parametrize(
    "text", ["", "ssh-ed25519", "ssh-ed25519 AAAA", "hello world", "ssh-ed25519 " + "A" * 20000]
)
def test_anything_else_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="not an ssh public key"):
        ssh_keys.parse_public_key(text)


def test_a_private_key_is_refused_without_repeating_it(tmp_path: Path) -> None:
    keygen(tmp_path / "k")
    private = (tmp_path / "k").read_text()
    with pytest.raises(UsageError) as caught:
        ssh_keys.parse_public_key(private)
    assert "private key" in str(caught.value)
    assert private.splitlines()[1] not in str(caught.value)


def test_the_host_key_is_made_once_with_mode_0600(tmp_path: Path) -> None:
    first = ssh_keys.host_key(tmp_path)
    path = tmp_path / ssh_keys.HOST_KEY_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = ssh_keys.host_key(tmp_path)
    assert again.get_fingerprint() == first.get_fingerprint()
    assert isinstance(asyncssh.read_private_key(path), asyncssh.SSHKey)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("pg_url"))


def run(tmp_path: Path, database: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await Store.open(tmp_path / "data", announce=True, database=database)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_keys_are_stored_listed_and_removed_per_host(tmp_path: Path, database: str | None) -> None:
    one = keygen(tmp_path / "one")
    two = keygen(tmp_path / "two")

    async def work(store: Store) -> None:
        await admin.add_zone(store, "dyn.example.net.", [], 60)
        await admin.add_host(store, HOST, None)
        await admin.add_host(store, "nas.dyn.example.net.", None)
        with pytest.raises(NotFoundError):
            await ssh_keys.add_key(store, "nope.dyn.example.net.", one)
        row = await ssh_keys.add_key(store, HOST, one)
        await ssh_keys.add_key(store, HOST, two)
        with pytest.raises(ConflictError):
            await ssh_keys.add_key(store, HOST, one)
        # The same key may serve another host too: the ssh user name says which.
        await ssh_keys.add_key(store, "nas.dyn.example.net.", one)
        stored = await ssh_keys.keys(store, HOST)
        assert [k.key for k in stored] == [
            one.split()[0] + " " + one.split()[1],
            two.rsplit(" ", 1)[0],
        ]
        assert stored[0] == row
        await ssh_keys.remove_key(store, HOST, row.fingerprint)
        with pytest.raises(NotFoundError):
            await ssh_keys.remove_key(store, HOST, row.fingerprint)
        assert [k.fingerprint for k in await ssh_keys.keys(store, HOST)] == [
            ssh_keys.parse_public_key(two).fingerprint
        ]
        assert len(await ssh_keys.keys(store, "nas.dyn.example.net.")) == 1
        # Removing the host removes its keys.
        await admin.remove_host(store, HOST)
        assert await store.ssh_keys(HOST) == []
        audit = [(e.action, e.detail) for e in await store.audit_log(20)]
        assert ("host ssh-key rm", row.fingerprint) in audit

    run(tmp_path, database, work)
