"""Slow and greedy HTTP clients: a first-request deadline and a per-source connection cap.

A connection that never finishes its request head costs a file descriptor for as
long as the server lets it: with aiohttp's defaults (an hour between requests;
before its 3.14.5-era releases, no limit at all before the first request) about a
thousand of them from one machine exhaust the process's descriptors and the API
stops answering. Two rules, enforced in front of aiohttp's own protocol:

* **Request deadline.** From the moment a connection is accepted, the client has
  ``request_timeout`` seconds to complete its first request head; bytes trickling
  in do not extend it (slowloris). Between requests aiohttp's own
  ``keepalive_timeout``, set to the same value, does the same: it closes a
  connection still waiting for a complete head, and data does not reset it.
* **Per-source cap.** At most ``per_source`` connections at once from one IPv4
  address or one IPv6 /64 (one subscriber's LAN, RFC 6177); the next is reset at
  once. Trusted proxies are exempt: every client behind them shares their address.

:class:`HttpGuard` is the protocol factory given to ``loop.create_server``; it
wraps aiohttp's ``web.Server``. Once the first head is in, the guard only passes
bytes on: no per-request cost.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any, cast

from homeport.server.clientaddr import Network

log = logging.getLogger(__name__)

# An IPv6 subscriber gets a /64 at least (RFC 6177 §3; RFC 7934 for hosts): counting
# single addresses would let one home open 2**64 "sources".
IPV6_SOURCE_PREFIX = 64

Source = IPv4Address | IPv6Network


def source_of(peer: Any) -> Source | None:
    """The counting key for a peername: an IPv4 address, or an IPv6 /64."""
    if not isinstance(peer, tuple) or not peer:
        return None
    try:
        address = ip_address(str(peer[0]).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:  # a dual-stack listener's IPv4 client
            return address.ipv4_mapped
        return IPv6Network((address, IPV6_SOURCE_PREFIX), strict=False)
    return address


class HttpGuard:
    """Counts connections per source and keeps the request deadline of each."""

    def __init__(
        self,
        inner: Callable[[], asyncio.Protocol],
        *,
        request_timeout: float,
        per_source: int | None,
        exempt: Sequence[Network] = (),
        on_close: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._inner = inner
        self.request_timeout = request_timeout
        self._per_source = per_source
        self._exempt = tuple(exempt)
        self._on_close = on_close
        self._open: dict[Source, int] = {}

    def __call__(self) -> asyncio.Protocol:
        return GuardedProtocol(self)

    def _admit(self, peer: Any) -> tuple[bool, Source | None]:
        """(admitted, the source it was counted under)."""
        source = source_of(peer)
        if self._per_source is None or source is None:
            return True, None
        if isinstance(source, IPv4Address) and any(source in net for net in self._exempt):
            return True, None
        if isinstance(source, IPv6Network) and any(
            source.network_address in net for net in self._exempt
        ):
            return True, None
        count = self._open.get(source, 0)
        if count >= self._per_source:
            return False, None
        self._open[source] = count + 1
        return True, source

    def _release(self, source: Source) -> None:
        count = self._open.get(source, 0) - 1
        if count > 0:
            self._open[source] = count
        else:
            self._open.pop(source, None)


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol behind a gate (the cap) and a timer (the first-head deadline)."""

    def __init__(self, guard: HttpGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._source: Source | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, for an end of head split across reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        admitted, self._source = self._guard._admit(transport.get_extra_info("peername"))
        if not admitted:
            self._guard._on_close("per_source")
            # A reset, not a FIN: nothing was said, and no TIME_WAIT is left on our side.
            cast(asyncio.Transport, transport).abort()
            return
        self._transport = transport
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.request_timeout, self._expire)
        self._inner = self._guard._inner()
        self._inner.connection_made(transport)

    def _expire(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._guard._on_close("request_timeout")
            self._transport.close()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            # The first head ends at an empty line (RFC 9112 §2.1; a bare LF is
            # tolerated, §2.2). Before the first head there is no body to confuse it.
            seen = self._tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport = None
        if self._source is not None:
            self._guard._release(self._source)
            self._source = None
        if self._inner is not None:
            inner, self._inner = self._inner, None
            inner.connection_lost(exc)
