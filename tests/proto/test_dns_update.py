"""The UPDATE response bytes equal what dnspython's make_response renders."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.update
import pytest

from homeport.proto.dns_update import response


@pytest.mark.parametrize("rcode", [dns.rcode.NOERROR, dns.rcode.REFUSED, dns.rcode.NOTZONE])
def test_same_as_dnspython(rcode: dns.rcode.Rcode) -> None:
    msg = dns.update.UpdateMessage("Dyn.Example.NET.")
    msg.add("_acme-challenge.home.dyn.example.net.", 60, "TXT", "a" * 43)
    msg.flags |= dns.flags.RD  # copied into the response, as dnspython does
    wire = msg.to_wire()
    expected = dns.message.make_response(dns.message.from_wire(wire))
    expected.set_rcode(rcode)
    assert response(wire, rcode) == expected.to_wire()


def test_odd_zone_sections_fall_back() -> None:
    wire = dns.update.UpdateMessage("dyn.example.net.").to_wire()
    assert response(wire[:11], 0) is None  # no header
    assert response(wire[:4] + b"\x00\x02" + wire[6:], 0) is None  # two zones
    assert response(wire[:12] + b"\xc0\x0c" + wire[-4:], 0) is None  # a pointer
    assert response(wire[:-2], 0) is None  # cut
