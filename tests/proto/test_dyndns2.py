from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

import pytest

from homeport.errors import RemoteProtocolError
from homeport.proto import dyndns2
from homeport.proto.dyndns2 import Code


def q(query: str) -> dyndns2.UpdateQuery:
    pairs = [tuple(p.split("=", 1)) for p in query.split("&") if p]
    return dyndns2.parse_update_query(pairs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "v4", "v6"),
    [
        ("hostname=a.example&myip=192.0.2.1", "192.0.2.1", None),
        ("hostname=a.example&myip=192.0.2.1,2001:db8::1", "192.0.2.1", "2001:db8::1"),
        ("hostname=a.example&myip=2001:db8::1,192.0.2.1", "192.0.2.1", "2001:db8::1"),  # Speedport
        ("hostname=a.example&myipv6=2001:db8::1", None, "2001:db8::1"),  # inadyn
        ("hostname=a.example&myipv4=192.0.2.1&myipv6=2001:db8::1", "192.0.2.1", "2001:db8::1"),
        ("hostname=a.example&ip=192.0.2.1&ipv6=2001:db8::1", "192.0.2.1", "2001:db8::1"),
        ("hostname=a.example&myip=2001:db8:1::/64", None, None),  # Fritz!Box prefix: skipped
        ("hostname=a.example", None, None),
    ],
)
def test_address_forms(query: str, v4: str | None, v6: str | None) -> None:
    parsed = q(query)
    assert parsed.ipv4 == (IPv4Address(v4) if v4 else None)
    assert parsed.ipv6 == (IPv6Address(v6) if v6 else None)


def test_hostnames_lowercased_split_and_dot_stripped() -> None:
    assert q("hostname=A.Example.,b.example").hostnames == ("a.example", "b.example")


def test_offline_flag() -> None:
    assert q("hostname=a.example&offline=YES").offline
    assert not q("hostname=a.example&offline=NO").offline


@pytest.mark.parametrize("query", ["myip=not-an-ip", "myip=1.2.3.4.5", "myipv6=192.0.2.1"])
def test_bad_addresses_rejected(query: str) -> None:
    with pytest.raises(dyndns2.BadAddress):
        q("hostname=a.example&" + query)


def test_render_lines() -> None:
    assert dyndns2.render_line(Code.GOOD, [IPv4Address("192.0.2.1")]) == "good 192.0.2.1"
    assert (
        dyndns2.render_line(Code.NOCHG, [IPv4Address("192.0.2.1"), IPv6Address("2001:db8::1")])
        == "nochg 192.0.2.1,2001:db8::1"
    )
    assert dyndns2.render_line(Code.BADAUTH, [IPv4Address("192.0.2.1")]) == "badauth"


def test_parse_response_per_host_and_account_level() -> None:
    lines = dyndns2.parse_response("good 192.0.2.1\nnohost\n", ["a", "b"])
    assert [line.code for line in lines] == [Code.GOOD, Code.NOHOST]
    assert lines[0].addresses == (IPv4Address("192.0.2.1"),)
    assert [line.code for line in dyndns2.parse_response("badauth", ["a", "b"])] == [
        Code.BADAUTH,
        Code.BADAUTH,
    ]
    assert dyndns2.parse_response("911", ["a"])[0].code is Code.TROUBLE


def test_every_code_has_a_disposition() -> None:
    assert set(dyndns2.DISPOSITION) == set(Code)
    assert dyndns2.DISPOSITION[Code.TROUBLE] is dyndns2.Disposition.RETRY_SLOW


@pytest.mark.parametrize("text", ["", "hello", "good not-an-ip", "good 1.2.3.4\ngood 1.2.3.4"])
def test_parse_response_rejects_garbage(text: str) -> None:
    with pytest.raises(RemoteProtocolError):
        dyndns2.parse_response(text, ["a"])


def test_badip_is_fatal_and_scoped_addresses_are_not_addresses() -> None:
    line = dyndns2.parse_line("badip")
    assert line.code is dyndns2.Code.BADIP
    assert dyndns2.DISPOSITION[line.code] is dyndns2.Disposition.FATAL
    for text in ("fe80::1%eth0", "[fe80::1%25x]", "fe80::1%"):
        with pytest.raises(dyndns2.BadAddress):
            dyndns2.parse_address(text)
    with pytest.raises(dyndns2.BadAddress):
        dyndns2.parse_update_query([("myipv6", "fe80::1%eth0")])
    assert str(dyndns2.parse_address(" [2001:db8::1] ")) == "2001:db8::1"
