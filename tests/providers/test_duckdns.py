"""DuckDNS through its documented answers (OK/KO, verbose UPDATED/NOCHANGE)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport import providers
from homeport.core.update import HostUpdate, Status
from tests.fakes.duckdns import DuckDNSFake
from tests.providers.support import MakeProvider, assert_secret_free, drive, dry_run, result_texts

TOKEN = "a7c4d0ad-114e-40ef-ba1d-d217904a50f2"
V4, V6 = IPv4Address("198.51.100.20"), IPv6Address("2001:db8:20::1")


def make(token: str = TOKEN) -> MakeProvider:
    cls = providers.get("duckdns")
    return lambda url: cls(cls.Settings(server=url, token=token))


CODES = [
    ("good", Status.GOOD, TOKEN, "myhome.duckdns.org", []),
    ("nochg", Status.NOCHG, TOKEN, "same.duckdns.org", []),
    ("KO", Status.FATAL, "0000-wrong-token", "myhome.duckdns.org", []),
    ("KO", Status.FATAL, TOKEN, "notmine.duckdns.org", []),
    ("HTTP 502", Status.RETRY, TOKEN, "myhome.duckdns.org", ["http502"]),
]


@pytest.mark.parametrize(
    ("code", "status", "token", "host", "forced"),
    CODES,
    ids=["good", "nochg", "KO-token", "KO-domain", "http502"],
)
def test_every_documented_code(
    code: str, status: Status, token: str, host: str, forced: list[str]
) -> None:
    fake = DuckDNSFake(TOKEN, {"myhome", "same"})
    fake.records["same"] = {"A": str(V4)}
    results = drive(make(token), fake, [HostUpdate(host, V4)], *forced)
    assert (results[0].code, results[0].status) == (code, status)
    [seen] = fake.requests
    assert seen.path == "/update"
    assert seen.params == {
        "domains": host.removesuffix(".duckdns.org"),
        "token": token,
        "ip": str(V4),
        "verbose": "true",
    }
    assert seen.headers["user-agent"].startswith("homeport")
    assert_secret_free(result_texts(results), [TOKEN, token])


def test_hosts_sharing_addresses_share_a_request() -> None:
    fake = DuckDNSFake(TOKEN, {"a", "b"})
    hosts = [HostUpdate("a.duckdns.org", V4, V6), HostUpdate("b.duckdns.org", V4, V6)]
    results = drive(make(), fake, hosts)
    assert [(r.status, r.ipv4, r.ipv6) for r in results] == [(Status.GOOD, V4, V6)] * 2
    [seen] = fake.requests
    assert (seen.params["domains"], seen.params["ipv6"]) == ("a,b", str(V6))
    assert fake.records["b"] == {"A": str(V4), "AAAA": str(V6)}


def test_dry_run_redacts_the_token_in_the_url() -> None:
    [text] = dry_run(make()("https://www.duckdns.org"), [HostUpdate("myhome.duckdns.org", V4)])
    assert text.splitlines()[0] == (
        f"GET https://www.duckdns.org/update?domains=myhome&token=[redacted]&ip={V4}&verbose=true"
    )
    assert_secret_free([text], [TOKEN])
