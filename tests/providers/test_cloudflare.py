"""Cloudflare: zone and record lookup, proxied flag kept, create when missing, every error."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.cloudflare import CloudflareFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

TOKEN = "cf-token-Zq8sVh3kT0yL1m2n3o4p5"
ZONE, ZONE_ID = "example.com", "023e105f4ecef8ad9ca31a8372d0c353"
HOST = "home.example.com"
V4, V6 = IPv4Address("203.0.113.9"), IPv6Address("2001:db8:9::9")


def make(token: str = TOKEN, **extra: object) -> MakeProvider:
    cls = providers.get("cloudflare")
    return lambda url: cls(cls.Settings(base_url=f"{url}/client/v4", token=token, **extra))


def fake(proxied: bool = True, content: str = "192.0.2.1") -> CloudflareFake:
    server = CloudflareFake(TOKEN, {ZONE: ZONE_ID})
    server.add(ZONE_ID, type="A", name=HOST, content=content, proxied=proxied)
    return server


def test_update_keeps_the_proxied_flag() -> None:
    server = fake(proxied=True)
    results = drive(make(), server, [HostUpdate(HOST, V4)])
    assert (results[0].code, results[0].status, results[0].ipv4) == ("good", Status.GOOD, V4)
    zones, lookup, patch = server.requests
    assert (zones.method, zones.path, zones.params) == ("GET", "/client/v4/zones", {"name": ZONE})
    assert lookup.path == f"/client/v4/zones/{ZONE_ID}/dns_records"
    assert lookup.params == {"type": "A", "name": HOST}
    assert (patch.method, patch.path) == ("PATCH", f"/client/v4/zones/{ZONE_ID}/dns_records/rec1")
    assert patch.json == {"content": str(V4), "proxied": True}
    assert all(s.headers["authorization"] == f"Bearer {TOKEN}" for s in server.requests)
    assert all(s.headers["user-agent"].startswith("homeport") for s in server.requests)
    assert server.records["rec1"]["proxied"] is True
    assert server.records["rec1"]["content"] == str(V4)


def test_missing_record_is_created_and_zone_id_looked_up_once() -> None:
    server = fake()
    results = drive(make(), server, [HostUpdate(HOST, V4, V6)])
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, V6)
    methods = [(s.method, s.path.rsplit("/", 1)[-1]) for s in server.requests]
    assert methods == [("GET", "zones"), ("GET", "dns_records"), ("PATCH", "rec1"),
                       ("GET", "dns_records"), ("POST", "dns_records")]  # fmt: skip
    assert server.requests[-1].json == {
        "type": "AAAA", "name": HOST, "content": str(V6), "ttl": 1, "proxied": False,
    }  # fmt: skip


CODES = [
    ("good", Status.GOOD, TOKEN, HOST, [], 3),
    ("nochg", Status.NOCHG, TOKEN, HOST, ["", "", "same"], 2),
    ("badauth", Status.FATAL, "wrong-token-1234567", HOST, [], 1),
    ("nohost", Status.FATAL, TOKEN, "home.example.net", [], 1),
    ("HTTP 429", Status.RETRY, TOKEN, HOST, ["ratelimit"], 1),
    ("HTTP 500", Status.RETRY, TOKEN, HOST, ["", "http500"], 2),
    ("HTTP 400", Status.FATAL, TOKEN, HOST, ["", "", "invalid"], 3),
]


@pytest.mark.parametrize(
    ("code", "status", "token", "host", "forced", "sent"),
    CODES,
    ids=[
        "good",
        "nochg",
        "badauth-9109",
        "nohost-zone",
        "ratelimit-971",
        "http500",
        "invalid-9005",
    ],
)
def test_every_documented_code(
    code: str, status: Status, token: str, host: str, forced: list[str], sent: int
) -> None:
    server = fake(content=str(V4) if "same" in forced else "192.0.2.1")
    forced = [f for f in forced if f != "same"]
    results = drive(make(token), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    assert len(server.requests) == sent
    assert_secret_free(result_texts(results), [TOKEN, token])


def test_badauth_ends_the_flow_for_every_host() -> None:
    server = fake()
    hosts = [HostUpdate(HOST, V4), HostUpdate("b.example.com", V4)]
    results = drive(make("bad-token-0000000"), server, hosts)
    assert [(r.code, r.status) for r in results] == [("badauth", Status.FATAL)] * 2
    assert len(server.requests) == 1


def test_dry_run_renders_all_three_steps() -> None:
    texts = dry_run(make()("https://api.cloudflare.com"), [HostUpdate(HOST, V4)])
    firsts = [t.splitlines()[0] for t in texts]
    assert firsts == [
        f"GET https://api.cloudflare.com/client/v4/zones?name={ZONE}",
        f"GET https://api.cloudflare.com/client/v4/zones/ZONE_ID/dns_records?type=A&name={HOST}",
        "PATCH https://api.cloudflare.com/client/v4/zones/ZONE_ID/dns_records/RECORD_ID",
    ]
    assert all("Authorization: Bearer [redacted]" in t for t in texts)
    assert texts[2].endswith(f'{{"content":"{V4}","proxied":false}}')
    assert_secret_free(texts, [TOKEN])


def test_a_host_outside_the_zone_fails_alone() -> None:
    server = fake()
    hosts = [HostUpdate("home.example.org", V4), HostUpdate(HOST, V4)]
    results = drive(make(zone=ZONE), server, hosts)
    assert [(r.status, r.code) for r in results] == [
        (Status.FATAL, "config"),
        (Status.GOOD, "good"),
    ]
    assert "not inside zone example.com" in results[0].message
