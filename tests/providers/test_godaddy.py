"""GoDaddy: PUT records by type and name, every documented status."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.godaddy import GoDaddyFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

KEY, SECRET = "dKy7Ab3_godaddy_key", "Sx9secret_godaddy"
V4, V6 = IPv4Address("198.51.100.90"), IPv6Address("2001:db8:90::1")
HOST = "cam.example.com"


def make(key: str = KEY) -> MakeProvider:
    cls = providers.get("godaddy")
    return lambda url: cls(cls.Settings(base_url=url, key=key, secret=SECRET))


CODES = [
    ("good", Status.GOOD, KEY, HOST, []),
    ("badauth", Status.FATAL, "wrong_key_000000", HOST, []),
    ("badauth", Status.FATAL, KEY, HOST, ["denied"]),
    ("nohost", Status.FATAL, KEY, "cam.example.net", []),
    ("HTTP 400", Status.FATAL, KEY, HOST, ["invalid"]),
    ("HTTP 422", Status.FATAL, KEY, HOST, ["unprocessable"]),
    ("HTTP 429", Status.RETRY, KEY, HOST, ["ratelimit"]),
    ("HTTP 500", Status.RETRY, KEY, HOST, ["http500"]),
]


@pytest.mark.parametrize(
    ("code", "status", "key", "host", "forced"),
    CODES,
    ids=["200", "401", "403", "404", "400", "422", "429", "500"],
)
def test_every_documented_code(
    code: str, status: Status, key: str, host: str, forced: list[str]
) -> None:
    server = GoDaddyFake(KEY, SECRET, {"example.com"})
    results = drive(make(key), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = server.requests
    zone = host.split(".", 1)[1]
    assert (seen.method, seen.path) == ("PUT", f"/v1/domains/{zone}/records/A/cam")
    assert seen.json == [{"data": str(V4), "ttl": 600}]
    assert seen.headers["authorization"] == f"sso-key {key}:{SECRET}"
    assert_secret_free(result_texts(results), [KEY, SECRET, key])


def test_both_families() -> None:
    server = GoDaddyFake(KEY, SECRET, {"example.com"})
    results = drive(make(), server, [HostUpdate("example.com", V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    assert set(server.records) == {("example.com", "A", "@"), ("example.com", "AAAA", "@")}


def test_dry_run() -> None:
    [text] = dry_run(make()("https://api.godaddy.com"), [HostUpdate(HOST, V4)])
    lines = text.splitlines()
    assert lines[0] == "PUT https://api.godaddy.com/v1/domains/example.com/records/A/cam"
    assert "Authorization: sso-key [redacted]" in lines
    assert_secret_free([text], [KEY, SECRET])
