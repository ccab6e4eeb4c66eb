"""Namecheap Dynamic DNS: XML answers, IPv4 only, every documented error."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.namecheap import NamecheapFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

PASSWORD = "0123456789abcdef0123456789abcdef"
V4, V6 = IPv4Address("203.0.113.60"), IPv6Address("2001:db8:60::1")


def make(password: str = PASSWORD) -> MakeProvider:
    cls = providers.get("namecheap")
    return lambda url: cls(cls.Settings(server=url, password=password))


CODES = [
    ("good", Status.GOOD, PASSWORD, "www.example.com", []),
    ("good", Status.GOOD, PASSWORD, "example.com", []),
    ("badauth", Status.FATAL, "wrong-ddns-password", "www.example.com", []),
    ("nohost", Status.FATAL, PASSWORD, "nope.example.com", []),
    ("nohost", Status.FATAL, PASSWORD, "www.example.org", []),
    ("error", Status.FATAL, PASSWORD, "www.example.com", ["badip"]),
    ("HTTP 502", Status.RETRY, PASSWORD, "www.example.com", ["http502"]),
]


@pytest.mark.parametrize(
    ("code", "status", "password", "host", "forced"),
    CODES,
    ids=["good", "good-apex", "passwords-do-not-match", "record-not-found", "domain-not-found",
         "invalid-ip", "http502"],
)  # fmt: skip
def test_every_documented_code(
    code: str, status: Status, password: str, host: str, forced: list[str]
) -> None:
    server = NamecheapFake("example.com", PASSWORD, {"www", "@"})
    results = drive(make(password), server, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = server.requests
    zone = host.split(".", 1)[1] if host.count(".") > 1 else host
    sub = host.split(".")[0] if host.count(".") > 1 else "@"
    assert seen.path == "/update"
    assert seen.params == {"host": sub, "domain": zone, "password": password, "ip": str(V4)}
    assert_secret_free(result_texts(results), [PASSWORD, password])


def test_ipv6_is_refused_and_never_sent() -> None:
    server = NamecheapFake("example.com", PASSWORD, {"www"})
    hosts = [HostUpdate("www.example.com", V4, V6), HostUpdate("v6.example.com", ipv6=V6)]
    results = drive(make(), server, hosts)
    assert (results[0].status, results[0].ipv4, results[0].ipv6) == (Status.GOOD, V4, None)
    assert (results[1].status, results[1].code) == (Status.FATAL, "!ipv6")
    assert [s.params["ip"] for s in server.requests] == [str(V4)]


def test_dry_run_redacts_the_password_in_the_url() -> None:
    [text] = dry_run(make()("https://dynamicdns.park-your-domain.com"),
                     [HostUpdate("www.example.com", V4)])  # fmt: skip
    assert text.splitlines()[0] == (
        "GET https://dynamicdns.park-your-domain.com/update"
        f"?host=www&domain=example.com&password=[redacted]&ip={V4}"
    )
    assert_secret_free([text], [PASSWORD])
