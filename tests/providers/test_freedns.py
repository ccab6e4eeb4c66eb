"""FreeDNS (afraid.org) through its documented answers, the ddclient way."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.freedns import FreeDNSFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

LOGIN, PASSWORD = "alice", "afraid-pass-123"
HOST = "home.mooo.com"
V4, V6 = IPv4Address("203.0.113.40"), IPv6Address("2001:db8:40::1")


def make(password: str = PASSWORD) -> MakeProvider:
    cls = providers.get("freedns")
    return lambda url: cls(cls.Settings(server=url, login=LOGIN, password=password))


def fake() -> FreeDNSFake:
    return FreeDNSFake(LOGIN, PASSWORD, {(HOST, "A"): "192.0.2.1", (HOST, "AAAA"): "2001:db8::1"})


CODES = [
    ("good", Status.GOOD, HOST, PASSWORD, V4, [], 2),
    ("nochg", Status.NOCHG, HOST, PASSWORD, IPv4Address("192.0.2.1"), [], 1),
    ("nochg", Status.NOCHG, HOST, PASSWORD, V4, ["", "unchanged"], 2),
    ("badauth", Status.FATAL, HOST, "wrong-pass-1", V4, [], 1),
    ("nohost", Status.FATAL, "other.mooo.com", PASSWORD, V4, [], 1),
    ("nohost", Status.FATAL, HOST, PASSWORD, V4, ["", "unknown-token"], 2),
    ("HTTP 503", Status.RETRY, HOST, PASSWORD, V4, ["http503"], 1),
]


@pytest.mark.parametrize(
    ("code", "status", "host", "password", "address", "forced", "sent"),
    CODES,
    ids=["good", "nochg-listed", "nochg-answer", "badauth", "nohost-listing", "nohost-token",
         "http503"],
)  # fmt: skip
def test_every_documented_code(
    code: str,
    status: Status,
    host: str,
    password: str,
    address: IPv4Address,
    forced: list[str],
    sent: int,
) -> None:
    server = fake()  # forced answers: the listing's first ("" = natural), then the update's
    results = drive(make(password), server, [HostUpdate(host, address)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    assert len(server.requests) == sent
    listing = server.requests[0]
    assert listing.path == "/api/"
    assert listing.params["action"] == "getdyndns"
    if sent == 2:
        update = server.requests[1]
        assert update.path == "/dynamic/update.php"
        assert update.params["address"] == str(address)
    assert_secret_free(result_texts(results), [PASSWORD, password])


def test_both_families() -> None:
    server = fake()
    results = drive(make(), server, [HostUpdate(HOST, V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    assert server.records == {(HOST, "A"): str(V4), (HOST, "AAAA"): str(V6)}


def test_dry_run_renders_listing_and_update_with_secrets_redacted() -> None:
    texts = dry_run(make()("https://freedns.afraid.org"), [HostUpdate(HOST, V4)])
    assert len(texts) == 2
    assert texts[0].startswith("GET https://freedns.afraid.org/api/?action=getdyndns&v=2&sha=")
    assert "[redacted]" in texts[0]
    assert texts[1].startswith("GET https://freedns.afraid.org/dynamic/update.php?")
    assert texts[1].splitlines()[0].endswith(f"&address={V4}")
    assert_secret_free(texts, [PASSWORD, fake().sha])
