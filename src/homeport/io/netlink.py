"""Wake the agent when a local address changes (rtnetlink address events), debounced.

A plain NETLINK_ROUTE socket subscribed to the IPv4/IPv6 address groups is
all we need: any RTM_NEWADDR/RTM_DELADDR means "look again". We do not decode
the messages (the sources read addresses themselves), so no pyroute2 — which
would cost ~20 MB of the agent's idle memory budget. Where netlink is not
available (not Linux, restricted sandbox) :func:`watch` returns None and the
agent simply polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

log = logging.getLogger("homeport.agent")

# linux/rtnetlink.h multicast groups (legacy bitmask form accepted by bind()).
RTMGRP_IPV4_IFADDR = 0x10
RTMGRP_IPV6_IFADDR = 0x100
RTMGRP_IPV6_PREFIX = 0x20000  # router advertisements changing the on-link prefix


class Watcher:
    """Calls ``on_change`` once, ``debounce`` seconds after the last of a burst of events."""

    def __init__(self, sock: socket.socket, on_change: Callable[[], None], debounce: float) -> None:
        self._sock = sock
        self._on_change = on_change
        self._debounce = debounce
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self.events = 0
        self._loop.add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        try:
            while True:
                self._sock.recv(65536)
                self.events += 1
        except BlockingIOError:
            pass
        except OSError as exc:  # ENOBUFS: we missed events; a look is still the right reaction
            log.debug("netlink: %s", exc)
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(self._debounce, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._on_change()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        with contextlib.suppress(ValueError, OSError):
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()


def watch(on_change: Callable[[], None], debounce: float) -> Watcher | None:
    """Start watching address changes; None where rtnetlink cannot be used."""
    netlink = getattr(socket, "AF_NETLINK", None)
    if netlink is None:
        return None
    try:
        sock = socket.socket(netlink, socket.SOCK_RAW | socket.SOCK_NONBLOCK, 0)  # NETLINK_ROUTE
        sock.bind((0, RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR | RTMGRP_IPV6_PREFIX))
    except OSError as exc:
        log.info("netlink unavailable (%s); relying on polling", exc.strerror or exc)
        return None
    return Watcher(sock, on_change, debounce)
