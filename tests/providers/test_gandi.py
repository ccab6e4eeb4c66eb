"""Gandi LiveDNS: one PUT per rrset, every documented status."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.gandi import GandiFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

TOKEN = "gandi-pat-0123456789abcdefghij"
V4, V6 = IPv4Address("192.0.2.44"), IPv6Address("2001:db8:44::1")
HOST = "home.example.fr"


def make(token: str = TOKEN, scheme: str = "Bearer") -> MakeProvider:
    cls = providers.get("gandi")
    return lambda url: cls(cls.Settings(base_url=url, token=token, auth_scheme=scheme))


CODES = [
    ("good", Status.GOOD, TOKEN, HOST, []),
    ("badauth", Status.FATAL, "wrong-pat-xyz-0000", HOST, []),
    ("badauth", Status.FATAL, TOKEN, HOST, ["forbidden"]),
    ("nohost", Status.FATAL, TOKEN, "home.example.be", []),
    ("HTTP 400", Status.FATAL, TOKEN, HOST, ["invalid"]),
    ("HTTP 409", Status.FATAL, TOKEN, HOST, ["conflict"]),
    ("HTTP 429", Status.RETRY, TOKEN, HOST, ["ratelimit"]),
    ("HTTP 500", Status.RETRY, TOKEN, HOST, ["http500"]),
]


@pytest.mark.parametrize(
    ("code", "status", "token", "host", "forced"),
    CODES,
    ids=["201", "401", "403", "404", "400", "409", "429", "500"],
)
def test_every_documented_code(
    code: str, status: Status, token: str, host: str, forced: list[str]
) -> None:
    server = GandiFake(TOKEN, {"example.fr"})
    results = drive(make(token), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = server.requests
    zone = host.split(".", 1)[1]
    assert (seen.method, seen.path) == ("PUT", f"/v5/livedns/domains/{zone}/records/home/A")
    assert seen.json == {"rrset_values": [str(V4)], "rrset_ttl": 300}
    assert seen.headers["authorization"] == f"Bearer {token}"
    assert_secret_free(result_texts(results), [TOKEN, token])


def test_both_families_and_legacy_apikey_scheme() -> None:
    server = GandiFake(TOKEN, {"example.fr"}, scheme="Apikey")
    results = drive(make(scheme="Apikey"), server, [HostUpdate("example.fr", V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    assert set(server.rrsets) == {("example.fr", "@", "A"), ("example.fr", "@", "AAAA")}


def test_dry_run() -> None:
    [text] = dry_run(make()("https://api.gandi.net"), [HostUpdate(HOST, V4)])
    lines = text.splitlines()
    assert lines[0] == "PUT https://api.gandi.net/v5/livedns/domains/example.fr/records/home/A"
    assert "Authorization: Bearer [redacted]" in lines
    assert lines[-1] == f'{{"rrset_values":["{V4}"],"rrset_ttl":300}}'
    assert_secret_free([text], [TOKEN])
