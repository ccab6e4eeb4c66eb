"""Notice local address changes (rtnetlink address events), decoding only their kind.

A plain NETLINK_ROUTE socket subscribed to the IPv4/IPv6 address groups is all
we need: any RTM_NEWADDR/RTM_DELADDR means "look again" (the sources read the
addresses themselves); :mod:`homeport.proto.rtnetlink` only tells whether the
burst is final (look at once) or may still be settling (debounce). No pyroute2
and no asyncio, since the agent's idle process must stay small (<= 2x
ddclient's RSS, bench/agent_footprint.py); the caller puts the socket in its selector and
debounces. Where netlink is not available (not Linux, a restricted sandbox)
:func:`open_socket` returns None and the agent simply polls.
"""

from __future__ import annotations

import logging
import socket

from homeport.proto import rtnetlink

log = logging.getLogger("homeport.agent")

# linux/rtnetlink.h multicast groups (legacy bitmask form accepted by bind()).
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_PREFIX = 0x20000  # router advertisements changing the on-link prefix


def open_socket() -> socket.socket | None:
    """A non-blocking socket that becomes readable on address changes, or None."""
    netlink = getattr(socket, "AF_NETLINK", None)
    if netlink is None:
        return None
    try:
        sock = socket.socket(netlink, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)  # NETLINK_ROUTE
    except OSError as exc:
        log.info("netlink unavailable (%s); relying on polling", exc.strerror or exc)
        return None
    try:
        sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_PREFIX))
    except OSError as exc:
        sock.close()
        log.info("netlink unavailable (%s); relying on polling", exc.strerror or exc)
        return None
    return sock


def drain(sock: socket.socket) -> list[rtnetlink.AddressEvent]:
    """Read every pending message: the events (empty when there were none)."""
    events: list[rtnetlink.AddressEvent] = []
    try:
        while True:
            events += rtnetlink.parse(sock.recv(65536))
    except BlockingIOError:
        pass
    except OSError as exc:  # ENOBUFS: events were lost; looking again is still right
        log.debug("netlink: %s", exc)
        events.append(rtnetlink.AddressEvent("other", 0))
    return events
