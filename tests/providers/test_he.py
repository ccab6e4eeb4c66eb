"""Hurricane Electric through its documented answers."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from homeport.providers.base import Provider
from tests.fakes.he import HEFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

KEY = "dyn-key-0123456789"
HOST = "home.example.org"
V4, V6 = IPv4Address("198.51.100.7"), IPv6Address("2001:db8:5::7")


def make(key: str = KEY) -> MakeProvider:
    cls = providers.get("he.net")
    return lambda url: cls(cls.Settings(server=url, password=key))


CODES = [
    ("good", Status.GOOD, []),
    ("nochg", Status.NOCHG, ["nochg-first"]),
    ("badauth", Status.FATAL, []),
    ("nohost", Status.FATAL, ["nohost"]),
    ("notfqdn", Status.FATAL, ["notfqdn"]),
    ("abuse", Status.FATAL, ["abuse"]),
    ("911", Status.RETRY_SLOW, ["911"]),
    ("HTTP 500", Status.RETRY, ["http500"]),
]


@pytest.mark.parametrize(("code", "status", "forced"), CODES, ids=[c[0] for c in CODES])
def test_every_documented_code(code: str, status: Status, forced: list[str]) -> None:
    fake = HEFake({HOST: KEY})
    if forced == ["nochg-first"]:
        fake.records[(HOST, "A")] = str(V4)
        forced = []
    key = "wrong-key-987" if code == "badauth" else KEY
    results = drive(make(key), fake, [HostUpdate(HOST, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = fake.requests
    assert (seen.path, seen.params) == ("/nic/update", {"hostname": HOST, "myip": str(V4)})
    assert seen.basic == (HOST, key)
    assert seen.headers["user-agent"].startswith("homeport")
    assert_secret_free(result_texts(results), [KEY, key])


def test_a_and_aaaa_are_two_updates_with_the_same_key() -> None:
    fake = HEFake({HOST: KEY})
    results = drive(make(), fake, [HostUpdate(HOST, V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    assert [s.params["myip"] for s in fake.requests] == [str(V4), str(V6)]


def test_badauth_on_a_stops_before_aaaa() -> None:
    fake = HEFake({HOST: KEY})
    results = drive(make("nope-nope"), fake, [HostUpdate(HOST, V4, V6)])
    assert results[0].status is Status.FATAL
    assert len(fake.requests) == 1


def test_dry_run() -> None:
    provider: Provider = make()("https://dyn.dns.he.net")
    [text] = dry_run(provider, [HostUpdate(HOST, V4)])
    assert text.startswith(f"GET https://dyn.dns.he.net/nic/update?hostname={HOST}&myip={V4}\n")
    assert "Authorization: [redacted]" in text
    assert_secret_free([text], [KEY])
