"""rtnetlink address events: which bursts are final and which may still be settling."""

from __future__ import annotations

import struct

from homeport.proto import ifaddr, rtnetlink
from homeport.proto.rtnetlink import AF_INET, AF_INET6, AddressEvent


def message(msg_type: int, family: int = AF_INET, flags: int = 0, extra: bytes = b"") -> bytes:
    body = rtnetlink.IFADDRMSG.pack(family, 24, flags, 0, 1) + extra
    length = rtnetlink.NLMSG_HEADER.size + len(body)
    padded = body + b"\0" * (-length % 4)
    return rtnetlink.NLMSG_HEADER.pack(length, msg_type, 0, 0, 0) + padded


def test_ipv4_new_and_del_are_final() -> None:
    address = b"\x08\0\x01\0abcd"  # an IFA_ADDRESS attribute after the ifaddrmsg
    data = message(rtnetlink.RTM_DELADDR) + message(rtnetlink.RTM_NEWADDR, extra=address)
    events = rtnetlink.parse(data)
    assert events == [AddressEvent("del", AF_INET), AddressEvent("new", AF_INET)]
    assert rtnetlink.settled(events)


def test_tentative_ipv6_waits_for_dad() -> None:
    tentative = rtnetlink.parse(message(rtnetlink.RTM_NEWADDR, AF_INET6, ifaddr.IFA_F_TENTATIVE))
    assert tentative == [AddressEvent("new", AF_INET6, tentative=True)]
    assert not rtnetlink.settled(tentative)
    done = rtnetlink.parse(message(rtnetlink.RTM_NEWADDR, AF_INET6))
    assert rtnetlink.settled(done)
    # IPv4 has no DAD: the same bit there means nothing to us.
    assert rtnetlink.settled(rtnetlink.parse(message(rtnetlink.RTM_NEWADDR, AF_INET, 0x40)))


def test_prefix_unknown_and_truncated_are_not_final() -> None:
    prefix = struct.pack("=IHHII", 16 + 12, rtnetlink.RTM_NEWPREFIX, 0, 0, 0) + b"\0" * 12
    assert rtnetlink.parse(prefix) == [AddressEvent("prefix", AF_INET6)]
    assert not rtnetlink.settled(rtnetlink.parse(prefix))
    unknown = struct.pack("=IHHII", 16, 3, 0, 0, 0)  # NLMSG_DONE
    assert not rtnetlink.settled(rtnetlink.parse(unknown))
    whole = message(rtnetlink.RTM_NEWADDR)
    assert rtnetlink.parse(whole[:-4]) == [AddressEvent("other", 0)]
    assert not rtnetlink.settled([])
