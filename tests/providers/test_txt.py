"""The TXT capability ACME DNS-01 needs: add beside, delete exactly one, refuse clearly.

``homeport``: lego's httpreq shape against a fake that follows the contract the server
side implements (tests/fakes/httpreq.py). ``rfc2136``: the UPDATE messages themselves
(RFC 2136 §2.5.1 add, §2.5.4 delete one RR); the BIND end-to-end run is
tests/cert/test_issue_pebble.py. Every other provider says it cannot, before any order.
"""

from __future__ import annotations

import asyncio

import dns.rdataclass
import dns.rdatatype
import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import Status, UpdateResult
from homeport.errors import ConfigError
from homeport.providers.base import TXT_PROVIDERS, Provider, TxtChange
from tests.fakes.httpreq import HttpreqFake
from tests.providers.support import assert_secret_free, result_texts

HOST = "home.dyn.example.net"
SECRET = "s3cret-host-key-0123456789abcdef"
FQDN = f"_acme-challenge.{HOST}"


def homeport(url: str, password: str = SECRET) -> Provider:
    cls = providers.get("homeport")
    return cls(cls.Settings(server=url, login=HOST, password=password))


def run(fake: HttpreqFake, steps: list[tuple[str, TxtChange]]) -> list[UpdateResult]:
    """Each step: (the host secret to use, the change)."""

    async def main() -> list[UpdateResult]:
        results = []
        async with fake:
            for password, change in steps:
                provider = homeport(fake.url, password)
                results += await publish.run(provider.txt(change), time_limit=10)
        return results

    return asyncio.run(main())


def test_homeport_adds_two_values_and_deletes_exactly_one() -> None:
    fake = HttpreqFake(HOST, SECRET)
    results = run(
        fake,
        [
            (SECRET, TxtChange(FQDN, "value-for-base", present=True)),
            (SECRET, TxtChange(FQDN, "value-for-wildcard", present=True)),
            (SECRET, TxtChange(FQDN, "value-for-base", present=False)),
        ],
    )
    assert [r.status for r in results] == [Status.GOOD] * 3
    assert fake.txt == {FQDN: {"value-for-wildcard"}}
    first = fake.requests[0]
    assert (first.method, first.path) == ("POST", "/present")
    assert first.json == {"fqdn": f"{FQDN}.", "value": "value-for-base"}
    assert first.basic == (HOST, SECRET)
    assert fake.requests[2].path == "/cleanup"


def test_homeport_refusals_are_fatal_and_secret_free() -> None:
    fake = HttpreqFake(HOST, SECRET)
    other = "_acme-challenge.someone-else.dyn.example.net"
    results = run(
        fake,
        [
            (SECRET, TxtChange(other, "v", present=True)),
            ("wrong-" + SECRET, TxtChange(FQDN, "v", present=True)),
        ],
    )
    # 403 (not this key's name) and 401 (wrong secret) both mean "this key may not".
    assert [(r.status, r.code, r.message.split(":")[0]) for r in results] == [
        (Status.FATAL, "badauth", "HTTP 403"),
        (Status.FATAL, "badauth", "HTTP 401"),
    ]
    assert fake.txt == {}
    assert_secret_free(result_texts(results), [SECRET])


def test_homeport_server_trouble_is_retried() -> None:
    fake = HttpreqFake(HOST, SECRET)
    fake.respond("http503")
    [result] = run(fake, [(SECRET, TxtChange(FQDN, "v", present=True))])
    assert result.status is Status.RETRY


def test_homeport_txt_server_defaults_to_the_url_host() -> None:
    cls = providers.get("homeport")
    plain = cls(cls.Settings(server="https://ddns.example.net", login=HOST, password=SECRET))
    assert plain.txt_server() == ("ddns.example.net", 53)
    given = cls(
        cls.Settings(
            server="https://ddns.example.net", login=HOST, password=SECRET, dns="[::1]:5353"
        )
    )
    assert given.txt_server() == ("::1", 5353)


def rfc2136() -> Provider:
    cls = providers.get("rfc2136")
    return cls(
        cls.Settings(
            server="127.0.0.1",
            zone="dyn.example.net",
            key_name="k",
            key_secret="c2VjcmV0LWtleS0wMTIzNDU2Nzg5",
        )
    )


def test_rfc2136_adds_beside_and_deletes_one_value() -> None:
    provider = rfc2136()
    add = provider.txt_message(TxtChange(FQDN, "abc", present=True))  # type: ignore[attr-defined]
    [rrset] = add.update
    assert (rrset.rdclass, rrset.rdtype, rrset.ttl) == (dns.rdataclass.IN, dns.rdatatype.TXT, 60)
    assert rrset.deleting is None  # an add (§2.5.1), never a replace
    assert [b"".join(r.strings) for r in rrset] == [b"abc"]
    delete = provider.txt_message(TxtChange(FQDN, "abc", present=False))  # type: ignore[attr-defined]
    [rrset] = delete.update
    # RFC 2136 §2.5.4: class NONE, TTL 0 deletes exactly this RR, not the whole RRset.
    assert (rrset.deleting, rrset.rdtype, rrset.ttl) == (dns.rdataclass.NONE, dns.rdatatype.TXT, 0)
    assert [b"".join(r.strings) for r in rrset] == [b"abc"]
    assert provider.txt_server() == ("127.0.0.1", 53)
    outside = TxtChange("_acme-challenge.example.org", "abc", present=True)
    with pytest.raises(ConfigError, match="not inside zone"):
        provider.txt_message(outside)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ["duckdns", "cloudflare", "dyndns2", "desec"])
def test_providers_without_txt_say_so_and_name_those_that_can(name: str) -> None:
    cls = providers.get(name)
    provider = cls.__new__(cls)  # settings do not matter: the refusal comes first
    provider.settings = None  # type: ignore[assignment]
    with pytest.raises(ConfigError, match="cannot set TXT records") as caught:
        next(provider.txt(TxtChange(FQDN, "v", present=True)))
    for able in TXT_PROVIDERS:
        assert able in str(caught.value)
