"""RFC 2136 + TSIG: the UPDATE's shape and every RCODE, against a TSIG-checking fake.

Real BIND 9 (wrong keys included) is in test_rfc2136_bind.py.
"""

from __future__ import annotations

import asyncio
import base64
from ipaddress import IPv4Address, IPv6Address

import dns.rdataclass
import dns.rdatatype
import dns.tsig
import pydantic
import pytest

from homeport import providers
from homeport.agent import publish
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import ConfigError, TransportError
from homeport.providers.base import Provider
from homeport.providers.rfc2136 import ALGORITHMS, parse_bind_key
from tests.fakes.rfc2136 import RFC2136Fake

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
V4, V6 = IPv4Address("192.0.2.53"), IPv6Address("2001:db8:53::1")
HOST = "home.dyn.example"


def provider(port: int, *, tcp: bool = True, algorithm: str = "hmac-sha256") -> Provider:
    cls = providers.get("nsupdate")
    settings = cls.Settings(
        server="127.0.0.1", port=port, tcp=tcp, zone="dyn.example", key_name="agent-key",
        key_secret=SECRET, key_algorithm=algorithm,
    )  # fmt: skip
    return cls(settings)


def run(
    rcodes: list[str], hosts: list[HostUpdate], *, algorithm: str = "hmac-sha256", tcp: bool = True
) -> tuple[list[UpdateResult], RFC2136Fake]:
    fake = RFC2136Fake(dns.tsig.Key("agent-key", SECRET, ALGORITHMS[algorithm]))
    fake.respond(*rcodes)

    async def main() -> list[UpdateResult]:
        async with fake:
            flow = provider(fake.port, tcp=tcp, algorithm=algorithm).update(hosts)
            return await publish.run(flow, time_limit=5)

    return asyncio.run(main()), fake


CODES = [
    ("NOERROR", "good", Status.GOOD),
    ("NOTAUTH", "NOTAUTH", Status.FATAL),
    ("REFUSED", "REFUSED", Status.FATAL),
    ("NOTZONE", "NOTZONE", Status.FATAL),
    ("SERVFAIL", "SERVFAIL", Status.RETRY),
    ("FORMERR", "FORMERR", Status.FATAL),
    ("YXDOMAIN", "YXDOMAIN", Status.FATAL),
    ("NOTIMP", "NOTIMP", Status.FATAL),
]


@pytest.mark.parametrize(("rcode", "code", "status"), CODES, ids=[c[0] for c in CODES])
def test_every_rcode(rcode: str, code: str, status: Status) -> None:
    [result], _ = run([rcode], [HostUpdate(HOST, V4, V6)])
    assert (result.code, result.status) == (code, status)
    published = status is Status.GOOD
    assert (result.ipv4, result.ipv6) == ((V4, V6) if published else (None, None))
    assert SECRET not in result.message


def test_update_replaces_both_rrsets_in_one_signed_message() -> None:
    _, fake = run([], [HostUpdate(HOST, V4, V6)])
    [update] = fake.updates
    assert update.had_tsig
    assert str(update.keyname) == "agent-key."
    assert [str(rrset.name) for rrset in update.question] == ["dyn.example."]
    # RFC 2136 §2.5.2 "delete an RRset" (class ANY, no rdata), then §2.5.1 "add".
    section = [(str(r.name), r.deleting, r.rdtype, [str(x) for x in r]) for r in update.authority]
    assert section == [
        (f"{HOST}.", dns.rdataclass.ANY, dns.rdatatype.A, []),
        (f"{HOST}.", None, dns.rdatatype.A, [str(V4)]),
        (f"{HOST}.", dns.rdataclass.ANY, dns.rdatatype.AAAA, []),
        (f"{HOST}.", None, dns.rdatatype.AAAA, [str(V6)]),
    ]
    assert update.authority[1].ttl == 60
    assert fake.transports == ["tcp"]


@pytest.mark.parametrize("algorithm", sorted(set(ALGORITHMS) - {"hmac-sha256"}))
def test_every_tsig_algorithm_and_udp(algorithm: str) -> None:
    results, fake = run([], [HostUpdate(HOST, V4)], algorithm=algorithm, tcp=False)
    assert results[0].status is Status.GOOD
    assert fake.transports == ["udp"]
    assert fake.updates[0].keyalgorithm == ALGORITHMS[algorithm]


def test_notauth_stops_the_remaining_hosts() -> None:
    results, fake = run(["NOTAUTH"], [HostUpdate(HOST, V4), HostUpdate(f"b.{HOST}", V4)])
    assert [r.code for r in results] == ["NOTAUTH", "NOTAUTH"]
    assert len(fake.updates) == 1


def test_no_server_is_a_transport_error_and_a_retry() -> None:
    p = provider(1)  # nothing listens on port 1 of loopback
    with pytest.raises(TransportError):
        asyncio.run(publish.run(p.update([HostUpdate(HOST, V4)]), time_limit=2))
    [result] = asyncio.run(publish.update(p, [HostUpdate(HOST, V4)], time_limit=2))
    assert (result.status, result.code) == (Status.RETRY, "transport")


def test_dry_run_shows_the_update_without_the_key() -> None:
    [text] = publish.render(provider(53), [HostUpdate(HOST, V4)])
    assert text.splitlines()[0] == "DNS TCP 127.0.0.1:53"
    assert f"{HOST}. 60 IN A {V4}" in text
    assert SECRET not in text


def test_settings_reject_a_bad_secret_and_names_outside_the_zone() -> None:
    cls = providers.get("rfc2136")
    with pytest.raises(pydantic.ValidationError):
        cls.Settings(server="127.0.0.1", zone="z", key_name="k", key_secret="not base64!")
    with pytest.raises(ConfigError):
        next(provider(53).update([HostUpdate("elsewhere.example", V4)]))
    with pytest.raises(pydantic.ValidationError, match="server must be the primary's IP address"):
        cls.Settings(server="ns1.example", zone="z", key_name="k", key_secret=SECRET)
    assert cls.Settings(server="[::1]", zone="z", key_name="k", key_secret=SECRET).server == "::1"


def test_parse_bind_key_file() -> None:
    text = f'key "agent-key" {{\n\talgorithm hmac-sha512;\n\tsecret "{SECRET}";\n}};\n'
    assert parse_bind_key(text) == ("agent-key", "hmac-sha512", SECRET)
    with pytest.raises(ConfigError):
        parse_bind_key("options { };")
