"""deSEC's IP update API through its documented answers."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.desec import DesecFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

TOKEN = "desec-token-abcdefghijklmnop"
HOST = "myhome.dedyn.io"
V4, V6 = IPv4Address("203.0.113.5"), IPv6Address("2001:db8:7::5")


def make(token: str = TOKEN) -> MakeProvider:
    cls = providers.get("desec")
    return lambda url: cls(cls.Settings(server=url, token=token))


CODES = [
    ("good", Status.GOOD, HOST, TOKEN, []),
    ("badauth", Status.FATAL, HOST, "bad-token-xyz", []),
    ("nohost", Status.FATAL, "other.dedyn.io", TOKEN, []),
    ("HTTP 429", Status.RETRY, HOST, TOKEN, ["throttled"]),
    ("HTTP 500", Status.RETRY, HOST, TOKEN, ["http500"]),
]


@pytest.mark.parametrize(
    ("code", "status", "host", "token", "forced"), CODES, ids=[c[0] for c in CODES]
)
def test_every_documented_code(
    code: str, status: Status, host: str, token: str, forced: list[str]
) -> None:
    fake = DesecFake(TOKEN, {HOST})
    results = drive(make(token), fake, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = fake.requests
    assert seen.params == {"hostname": host, "myipv4": str(V4), "myipv6": "preserve"}
    assert seen.basic == (host, token)
    assert seen.headers["user-agent"].startswith("homeport")
    assert_secret_free(result_texts(results), [TOKEN, token])


def test_one_family_preserves_the_other() -> None:
    fake = DesecFake(TOKEN, {HOST})
    fake.records[HOST] = {"A": "192.0.2.1", "AAAA": "2001:db8::1"}
    results = drive(make(), fake, [HostUpdate(HOST, ipv6=V6)])
    assert (results[0].status, results[0].ipv6, results[0].ipv4) == (Status.GOOD, V6, None)
    assert fake.records[HOST] == {"A": "192.0.2.1", "AAAA": str(V6)}


def test_dry_run() -> None:
    [text] = dry_run(make()("https://update.dedyn.io"), [HostUpdate(HOST, V4, V6)])
    first = text.splitlines()[0]
    assert first == f"GET https://update.dedyn.io/?hostname={HOST}&myipv4={V4}&myipv6={V6}"
    assert "Authorization: [redacted]" in text
    assert_secret_free([text], [TOKEN])
