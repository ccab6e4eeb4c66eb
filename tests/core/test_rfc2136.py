"""RFC 2136 decisions: zone section, prescan, permission (our policy), prerequisites."""

from __future__ import annotations

import dns.rcode
import dns.update

from homeport.core.rfc2136 import Op, decide, prerequisites_rcode

ZONES = ["dyn.example.net."]
HOSTS = ["home.dyn.example.net.", "other.dyn.example.net."]
HOST = "home.dyn.example.net."
NAME = "_acme-challenge.home.dyn.example.net."
V = "a" * 43


def _msg(zone: str = "dyn.example.net.") -> dns.update.UpdateMessage:
    return dns.update.UpdateMessage(zone)


def test_add_and_delete_ops() -> None:
    msg = _msg()
    msg.add(NAME, 60, "TXT", V)
    msg.delete(NAME, "TXT", V)
    msg.delete(NAME, "TXT")
    msg.delete(NAME)
    decision = decide(msg, ZONES, HOST, HOSTS)
    assert decision.rcode == 0
    assert decision.ops == (
        Op(NAME, V, add=True),
        Op(NAME, V, add=False),
        Op(NAME, None, add=False),
        Op(NAME, None, add=False),
    )


def test_refusals() -> None:
    cases = [
        ("_acme-challenge.other.dyn.example.net.", "TXT", V, dns.rcode.REFUSED),
        (HOST, "TXT", V, dns.rcode.REFUSED),
        (HOST, "A", "192.0.2.1", dns.rcode.REFUSED),
        (NAME, "A", "192.0.2.1", dns.rcode.REFUSED),
        (NAME, "TXT", "not an acme value", dns.rcode.REFUSED),
        ("elsewhere.example.org.", "TXT", V, dns.rcode.NOTZONE),
    ]
    for name, rdtype, value, rcode in cases:
        msg = _msg()
        msg.add(name, 60, rdtype, value)
        assert decide(msg, ZONES, HOST, HOSTS).rcode == rcode, (name, rdtype)
    msg = _msg("example.org.")
    msg.add(NAME, 60, "TXT", V)
    assert decide(msg, ZONES, HOST, HOSTS).rcode == dns.rcode.NOTAUTH


def test_prerequisites() -> None:
    data = {
        NAME: {16: frozenset({b"\x2b" + V.encode()})},
        HOST: {1: frozenset({b"\xc0\x00\x02\x01"})},
    }

    def lookup(name: object) -> dict[int, frozenset[bytes]]:
        return data.get(str(name), {})

    def rcode(build: object) -> int:
        msg = _msg()
        build(msg)  # type: ignore[operator]
        return prerequisites_rcode(msg.prerequisite, lookup)

    assert rcode(lambda m: m.present(NAME, "TXT")) == 0
    assert rcode(lambda m: m.present("nothing.dyn.example.net.", "TXT")) == dns.rcode.NXRRSET
    assert rcode(lambda m: m.present("nothing.dyn.example.net.")) == dns.rcode.NXDOMAIN
    assert rcode(lambda m: m.present(HOST)) == 0
    assert rcode(lambda m: m.absent(NAME, "TXT")) == dns.rcode.YXRRSET
    assert rcode(lambda m: m.absent(HOST)) == dns.rcode.YXDOMAIN
    assert rcode(lambda m: m.present(NAME, "TXT", V)) == 0
    assert rcode(lambda m: m.present(NAME, "TXT", "b" * 43)) == dns.rcode.NXRRSET
