"""DigitalOcean: look up, patch or create, every documented error."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.digitalocean import DigitalOceanFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

TOKEN = "dop_v1_0123456789abcdef0123456789abcdef"
V4, V6 = IPv4Address("203.0.113.33"), IPv6Address("2001:db8:33::1")
HOST = "nas.example.com"


def make(token: str = TOKEN) -> MakeProvider:
    cls = providers.get("digitalocean")
    return lambda url: cls(cls.Settings(base_url=url, token=token))


def fake(data: str = "192.0.2.1") -> DigitalOceanFake:
    server = DigitalOceanFake(TOKEN, {"example.com"})
    server.add("example.com", type="A", name="nas", data=data)
    return server


def test_patch_existing_and_create_missing() -> None:
    server = fake()
    results = drive(make(), server, [HostUpdate(HOST, V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    shape = [(s.method, s.path) for s in server.requests]
    assert shape == [
        ("GET", "/v2/domains/example.com/records"),
        ("PATCH", "/v2/domains/example.com/records/3352892"),
        ("GET", "/v2/domains/example.com/records"),
        ("POST", "/v2/domains/example.com/records"),
    ]
    assert server.requests[0].params == {"type": "A", "name": HOST}
    assert server.requests[1].json == {"type": "A", "data": str(V4)}
    assert server.requests[3].json == {"type": "AAAA", "name": "nas", "data": str(V6), "ttl": 60}
    assert all(s.headers["authorization"] == f"Bearer {TOKEN}" for s in server.requests)


CODES = [
    ("good", Status.GOOD, TOKEN, HOST, [], 2),
    ("nochg", Status.NOCHG, TOKEN, HOST, ["same"], 1),
    ("badauth", Status.FATAL, "dop_v1_wrong_token_000000", HOST, [], 1),
    ("badauth", Status.FATAL, TOKEN, HOST, ["forbidden"], 1),
    ("nohost", Status.FATAL, TOKEN, "nas.example.net", [], 1),
    ("HTTP 422", Status.FATAL, TOKEN, HOST, ["", "invalid"], 2),
    ("HTTP 429", Status.RETRY, TOKEN, HOST, ["ratelimit"], 1),
    ("HTTP 500", Status.RETRY, TOKEN, HOST, ["", "http500"], 2),
]


@pytest.mark.parametrize(
    ("code", "status", "token", "host", "forced", "sent"),
    CODES,
    ids=["good", "nochg", "401", "403", "404", "422", "429", "500"],
)
def test_every_documented_code(
    code: str, status: Status, token: str, host: str, forced: list[str], sent: int
) -> None:
    server = fake(data=str(V4) if "same" in forced else "192.0.2.1")
    forced = [f for f in forced if f != "same"]
    results = drive(make(token), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    assert len(server.requests) == sent
    assert_secret_free(result_texts(results), [TOKEN, token])


def test_dry_run() -> None:
    texts = dry_run(make()("https://api.digitalocean.com"), [HostUpdate(HOST, V4)])
    assert [t.splitlines()[0] for t in texts] == [
        f"GET https://api.digitalocean.com/v2/domains/example.com/records?type=A&name={HOST}",
        "PATCH https://api.digitalocean.com/v2/domains/example.com/records/1",
    ]
    assert_secret_free(texts, [TOKEN])
