"""RFC 2136 + TSIG against a real BIND 9 started by this test, checked with real dig.

named runs in the foreground (``-g``) as root from its own temp directory, with
its own config (no /etc/bind include, no rndc control channel), listening only
on 127.0.0.1 at a free high port. The zone is dynamic (``allow-update`` by key);
one key per HMAC algorithm, plus a key BIND knows but does not allow to update.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.providers.base import Provider
from tests.providers.dns_peers import (
    ALGORITHMS,
    KEYS,
    NAMED,
    ZONE,
    Bind,
    dig,
    free_port,
    running,
    secret,
    write_bind_config,
)

pytestmark = pytest.mark.peer


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bind]:
    assert os.geteuid() == 0, "the BIND test runs named as root (CI does)"
    assert shutil.which("dig"), "dig (bind9-dnsutils) is needed"
    directory = tmp_path_factory.mktemp(f"named-{uuid.uuid4().hex[:8]}")
    port = free_port()
    config = write_bind_config(directory, port)
    command = [NAMED, "-g", "-4", "-n", "1", "-c", str(config)]
    with running(command, port, directory / "named.stderr"):
        yield Bind(port, directory)


def rfc2136(port: int, key_name: str, *, key_secret: str | None = None) -> Provider:
    algorithm, real_secret = KEYS.get(key_name, ("hmac-sha256", secret("unknown")))
    cls = providers.get("nsupdate")
    settings = cls.Settings(
        server="127.0.0.1",
        port=port,
        zone=ZONE,
        key_name=key_name,
        key_secret=key_secret or real_secret,
        key_algorithm=algorithm,
    )
    return cls(settings)


def update(provider: Provider, *hosts: HostUpdate) -> list[UpdateResult]:
    return asyncio.run(publish.run(provider.update(hosts), time_limit=10))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_update_a_and_aaaa_with_each_algorithm(bind: Bind, algorithm: str) -> None:
    name = f"{algorithm}.{ZONE}"
    octet = ALGORITHMS.index(algorithm) + 10
    v4, v6 = IPv4Address(f"198.51.100.{octet}"), IPv6Address(f"2001:db8:2136::{octet}")
    [result] = update(rfc2136(bind.port, f"key-{algorithm}"), HostUpdate(name, v4, v6))
    assert (result.status, result.code, result.ipv4, result.ipv6) == (Status.GOOD, "good", v4, v6)
    assert dig(bind.port, name, "A") == [str(v4)]
    assert dig(bind.port, name, "AAAA") == [str(v6)]


def test_update_replaces_the_old_address(bind: Bind) -> None:
    name = f"home.{ZONE}"
    assert dig(bind.port, name, "A") in (["192.0.2.1"], ["203.0.113.77"])
    [result] = update(
        rfc2136(bind.port, "key-hmac-sha256"), HostUpdate(name, IPv4Address("203.0.113.77"))
    )
    assert result.status is Status.GOOD
    assert dig(bind.port, name, "A") == ["203.0.113.77"]  # replaced, not added beside


@pytest.mark.parametrize(
    ("key_name", "wrong_secret", "code"),
    [
        ("key-hmac-sha256", secret("not-the-key"), "NOTAUTH"),  # BADSIG
        ("key-nobody-knows", None, "NOTAUTH"),  # BADKEY
        ("key-readonly", None, "REFUSED"),  # a valid key the zone's policy does not allow
    ],
    ids=["wrong-secret", "unknown-key", "not-allowed"],
)
def test_refused_keys_are_fatal_and_change_nothing(
    bind: Bind, key_name: str, wrong_secret: str | None, code: str
) -> None:
    name = f"refused.{ZONE}"
    provider = rfc2136(bind.port, key_name, key_secret=wrong_secret)
    [result] = update(provider, HostUpdate(name, IPv4Address("203.0.113.66")))
    assert (result.status, result.code) == (Status.FATAL, code)
    assert result.ipv4 is None
    assert dig(bind.port, name, "A") == []
    for _, (_, sec) in KEYS.items():
        assert sec not in result.message
