"""RFC 2136 + TSIG against a real Knot DNS 3.2 started by this test, checked with dig.

A second, independent primary besides BIND: knotd in the foreground from its
own temp directory (config, zone, database, control socket all inside it),
listening only on 127.0.0.1 at a free high port, the zone updatable by the
keys an ACL names. A second instance without its journal directory answers
every update SERVFAIL: a real server failure, which must be retried.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.providers.base import Provider
from tests.providers.dns_peers import ZONE, dig, free_port, running, secret, zone_text

pytestmark = pytest.mark.peer

KNOTD = "/usr/sbin/knotd"
KEYS = {
    "knot-sha256": ("hmac-sha256", secret("knot-sha256")),
    "knot-sha512": ("hmac-sha512", secret("knot-sha512")),
    "knot-md5": ("hmac-md5", secret("knot-md5")),
    "knot-readonly": ("hmac-sha256", secret("knot-readonly")),  # known, not in the ACL
}


def write_config(directory: Path, port: int, *, journal: bool = True) -> Path:
    (directory / "zone.db").write_text(zone_text())
    if journal:
        (directory / "db").mkdir()  # Knot keeps the update journal there
    keys = "".join(
        f"  - id: {name}\n    algorithm: {alg}\n    secret: {sec}\n"
        for name, (alg, sec) in KEYS.items()
    )
    updaters = ", ".join(name for name in KEYS if name != "knot-readonly")
    config = directory / "knot.conf"
    config.write_text(
        f"""server:
    rundir: "{directory}"
    listen: 127.0.0.1@{port}
key:
{keys}acl:
  - id: updaters
    key: [{updaters}]
    action: update
database:
    storage: "{directory}/db"
control:
    listen: "{directory}/knot.sock"
log:
  - target: stderr
    any: info
zone:
  - domain: {ZONE}
    storage: "{directory}"
    file: "zone.db"
    acl: updaters
"""
    )
    return config


@pytest.fixture(scope="module")
def knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    directory = tmp_path_factory.mktemp(f"knot-{uuid.uuid4().hex[:8]}")
    port = free_port()
    config = write_config(directory, port)
    with running([KNOTD, "-c", str(config)], port, directory / "knotd.log"):
        yield port


@pytest.fixture(scope="module")
def broken_knot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Knot whose journal directory is missing: it fails every update with SERVFAIL."""
    directory = tmp_path_factory.mktemp(f"knot-broken-{uuid.uuid4().hex[:8]}")
    port = free_port()
    config = write_config(directory, port, journal=False)
    with running([KNOTD, "-c", str(config)], port, directory / "knotd.log"):
        yield port


def rfc2136(port: int, key_name: str, key_secret: str | None = None) -> Provider:
    algorithm, real_secret = KEYS.get(key_name, ("hmac-sha256", secret("nobody")))
    cls = providers.get("rfc2136")
    return cls(
        cls.Settings(
            server="127.0.0.1", port=port, zone=ZONE, key_name=key_name,
            key_secret=key_secret or real_secret, key_algorithm=algorithm,
        )
    )  # fmt: skip


def update(provider: Provider, host: HostUpdate) -> list[UpdateResult]:
    return asyncio.run(publish.run(provider.update([host]), time_limit=10))


@pytest.mark.parametrize("key_name", ["knot-sha256", "knot-sha512", "knot-md5"])
def test_knot_applies_the_update(knot: int, key_name: str) -> None:
    name = f"{key_name}.{ZONE}"
    octet = 20 + list(KEYS).index(key_name)
    v4, v6 = IPv4Address(f"198.51.100.{octet}"), IPv6Address(f"2001:db8:4b07::{octet}")
    [result] = update(rfc2136(knot, key_name), HostUpdate(name, v4, v6))
    assert (result.status, result.ipv4, result.ipv6) == (Status.GOOD, v4, v6)
    assert dig(knot, name, "A") == [str(v4)]
    assert dig(knot, name, "AAAA") == [str(v6)]


@pytest.mark.parametrize(
    ("key_name", "wrong", "code"),
    [("knot-sha256", secret("wrong"), "NOTAUTH"), ("knot-nobody", None, "NOTAUTH"),
     ("knot-readonly", None, "NOTAUTH")],
    ids=["wrong-secret", "unknown-key", "not-in-acl"],
)  # fmt: skip
def test_knot_refusals_are_fatal(knot: int, key_name: str, wrong: str | None, code: str) -> None:
    name = f"refused.{ZONE}"
    [result] = update(rfc2136(knot, key_name, wrong), HostUpdate(name, IPv4Address("203.0.113.9")))
    assert (result.status, result.code) == (Status.FATAL, code)
    assert dig(knot, name, "A") == []


def test_a_server_failure_is_retried(broken_knot: int) -> None:
    name = f"home.{ZONE}"
    [result] = update(
        rfc2136(broken_knot, "knot-sha256"), HostUpdate(name, IPv4Address("203.0.113.4"))
    )
    assert (result.status, result.code) == (Status.RETRY, "SERVFAIL")
    assert dig(broken_knot, name, "A") == ["192.0.2.1"]
