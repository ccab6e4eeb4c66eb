"""rtnetlink address events (linux/netlink.h, linux/rtnetlink.h, linux/if_addr.h): bytes in,
"how long must the agent let this burst settle?" out. No sockets.

The agent only needs to know whether a burst may still be in flight. An IPv4 address, or an
IPv6 address that has passed duplicate address detection, is final the moment the kernel
announces it: a DHCP client applies its lease in one burst within milliseconds. An IPv6
address still *tentative* (RFC 4862 §5.4: DAD runs for RetransTimer x DupAddrDetectTransmits,
1 s by default) or a new on-link prefix (SLAAC is about to add addresses) is not, and the
sources would skip it; then the agent waits its full debounce.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from homeport.proto.ifaddr import IFA_F_TENTATIVE

NLMSG_HEADER = struct.Struct("=IHHII")  # nlmsghdr: len, type, flags, seq, pid
IFADDRMSG = struct.Struct("=BBBBI")  # ifaddrmsg: family, prefixlen, flags, scope, index
NLMSG_ALIGNTO = 4
RTM_NEWADDR = 20
RTM_DELADDR = 21
RTM_NEWPREFIX = 52
AF_INET = 2
AF_INET6 = 10


@dataclass(frozen=True)
class AddressEvent:
    kind: str  # "new" | "del" | "prefix" | "other"
    family: int
    tentative: bool = False

    @property
    def final(self) -> bool:
        """True when nothing more is expected to follow from this change."""
        if self.kind == "prefix":
            return False
        return not (self.family == AF_INET6 and self.tentative)


def parse(datagram: bytes) -> list[AddressEvent]:
    """Every netlink message in one datagram; a truncated tail reads as one unknown event."""
    events: list[AddressEvent] = []
    offset = 0
    while offset + NLMSG_HEADER.size <= len(datagram):
        length, msg_type, _flags, _seq, _pid = NLMSG_HEADER.unpack_from(datagram, offset)
        if length < NLMSG_HEADER.size or offset + length > len(datagram):
            events.append(AddressEvent("other", 0))
            break
        body = offset + NLMSG_HEADER.size
        if msg_type in (RTM_NEWADDR, RTM_DELADDR) and length >= NLMSG_HEADER.size + IFADDRMSG.size:
            family, _plen, flags, _scope, _index = IFADDRMSG.unpack_from(datagram, body)
            kind = "new" if msg_type == RTM_NEWADDR else "del"
            # ifaddrmsg.ifa_flags holds the low byte of the flags, where TENTATIVE lives.
            events.append(AddressEvent(kind, family, bool(flags & IFA_F_TENTATIVE)))
        elif msg_type == RTM_NEWPREFIX:
            events.append(AddressEvent("prefix", AF_INET6))
        else:
            events.append(AddressEvent("other", 0))
        offset += (length + NLMSG_ALIGNTO - 1) & ~(NLMSG_ALIGNTO - 1)
    return events


def settled(events: Iterable[AddressEvent]) -> bool:
    """True when every event is final, so the agent may look at once (no debounce)."""
    seen = False
    for event in events:
        seen = True
        if event.kind == "other" or not event.final:
            return False
    return seen
