"""DNSExit (ddclient's dnsexit2) through every documented code."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.dnsexit2 import DNSExitFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

KEY = "dnsexit-api-key-0123456789"
V4, V6 = IPv4Address("192.0.2.88"), IPv6Address("2001:db8:88::1")
HOST = "www.example.net"


def make(key: str = KEY, zone: str | None = "example.net") -> MakeProvider:
    cls = providers.get("dnsexit2")
    return lambda url: cls(cls.Settings(server=url, apikey=key, zone=zone))


CODES = [
    (0, "good", Status.GOOD, KEY, []),
    (1, "1", Status.RETRY, KEY, ["1"]),
    (2, "badauth", Status.FATAL, "wrong-key-000000", []),
    (3, "3", Status.FATAL, KEY, ["3"]),
    (4, "4", Status.FATAL, KEY, ["4"]),
    (5, "5", Status.FATAL, KEY, ["5"]),
    (6, "6", Status.RETRY, KEY, ["6"]),
    (7, "7", Status.RETRY, KEY, ["7"]),
    (503, "HTTP 503", Status.RETRY, KEY, ["http503"]),
]


@pytest.mark.parametrize(
    ("number", "code", "status", "key", "forced"), CODES, ids=[str(c[0]) for c in CODES]
)
def test_every_documented_code(
    number: int, code: str, status: Status, key: str, forced: list[str]
) -> None:
    server = DNSExitFake(KEY)
    results = drive(make(key), server, [HostUpdate(HOST, V4, V6)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    assert (results[0].ipv4, results[0].ipv6) == ((V4, V6) if number == 0 else (None, None))
    [seen] = server.requests
    assert (seen.method, seen.path) == ("POST", "/dns/")
    assert seen.json == {
        "apikey": key,
        "domain": "example.net",
        "update": [
            {"type": "A", "name": "www", "content": str(V4), "ttl": 5},
            {"type": "AAAA", "name": "www", "content": str(V6), "ttl": 5},
        ],
    }
    assert_secret_free(result_texts(results), [KEY, key])
    if number == 0:
        assert server.records[("example.net", "www", "A")] == str(V4)


def test_zone_defaults_to_the_hostname_like_ddclient() -> None:
    server = DNSExitFake(KEY)
    drive(make(zone=None), server, [HostUpdate(HOST, V4)])
    assert server.requests[0].json["domain"] == HOST
    assert server.requests[0].json["update"][0]["name"] == ""


def test_dry_run() -> None:
    [text] = dry_run(make()("https://api.dnsexit.com"), [HostUpdate(HOST, V4)])
    assert text.splitlines()[0] == "POST https://api.dnsexit.com/dns/"
    assert '"apikey":"[redacted]"' in text
    assert_secret_free([text], [KEY])
