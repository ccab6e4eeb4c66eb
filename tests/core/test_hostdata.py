"""What an update may publish: every accepted value renders, and reads back identically."""

from __future__ import annotations

from ipaddress import ip_address

import dns.rdata
import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeport.core.hostdata import address_problem, name_problem, txt_problem, txt_rdata
from homeport.core.zone import Record, record_problem

NEVER = ["0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255", "240.0.0.1", "::", "ff02::1"]
NEVER += ["::ffff:192.0.2.1", "fe80::1%eth0", "64:ff9b::1"]
LAN_ONLY = ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254"]
LAN_ONLY += ["100.64.0.1", "::1", "fe80::1", "fc00::1", "fd12::1"]
PUBLIC = ["192.0.2.1", "198.51.100.1", "203.0.113.1", "2001:db8::1", "8.8.8.8", "2a00::1"]


@pytest.mark.parametrize("text", NEVER + LAN_ONLY + PUBLIC)
def test_address_rules(text: str) -> None:
    address = ip_address(text)
    public = address_problem(address, allow_private=False) is None
    lan = address_problem(address, allow_private=True) is None
    assert (public, lan) == (text in PUBLIC, text not in NEVER)


@given(st.text(max_size=1100))
def test_accepted_txt_renders_and_reads_back(text: str) -> None:
    if txt_problem(text) is not None:
        return
    rdata = txt_rdata(text)
    parsed = dns.rdata.from_text("IN", "TXT", rdata)
    assert b"".join(parsed.strings) == text.encode()  # type: ignore[attr-defined]
    assert all(len(s) <= 255 for s in parsed.strings)  # type: ignore[attr-defined]
    assert record_problem("z.example.", Record("h.z.example.", "TXT", 60, rdata)) is None


@given(st.from_regex(r"[a-z0-9_.-]{1,300}", fullmatch=True))
def test_accepted_names_render(name: str) -> None:
    if name_problem(name) is not None:
        return
    assert record_problem(f"{name}.", Record(f"{name}.", "A", 60, "192.0.2.1")) is None


@pytest.mark.parametrize(
    "name", ["bad zone", "x" * 64 + ".example", ".".join(["y" * 63] * 4) + ".example", "a..b"]
)
def test_bad_names(name: str) -> None:
    assert name_problem(name) is not None
