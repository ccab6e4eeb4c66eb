"""Slow and greedy HTTP clients: a request deadline and a per-source connection cap.

A connection that never finishes its request head costs a file descriptor for as
long as the server lets it: with aiohttp's default (an hour between requests, and
no limit on how slowly a head may arrive on older releases) about a thousand of
them from one machine exhaust the process's descriptors and the API stops
answering. Two rules, enforced in front of aiohttp's own protocol:

* **Request deadline.** From the moment a connection is accepted, and again after
  each response, the client has ``request_timeout`` seconds until aiohttp starts
  handling its next request; bytes trickling in do not extend it (slowloris). A
  connection whose request is being handled is never cut.
* **Per-source cap.** At most ``per_source`` connections at once from one IPv4
  address or one IPv6 /64 (one subscriber's LAN, RFC 6177); the next is closed at
  once. Trusted proxies are exempt: every client behind them shares their address.

:class:`HttpGuard` is the protocol factory given to ``loop.create_server`` (it
wraps aiohttp's ``web.Server``) and :meth:`HttpGuard.middleware` tells it when a
request is being handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address
from typing import Any, cast

from aiohttp import web

from homeport.server.clientaddr import Network

log = logging.getLogger(__name__)

# An IPv6 subscriber gets a /64 at least (RFC 6177 §3; RFC 7934 for hosts): counting
# single addresses would let one home open 2**64 "sources".
IPV6_SOURCE_PREFIX = 64

Source = IPv4Address | IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Marks the connection busy while a request is handled (no deadline then)."""
        transport = request.transport
        protocol = transport.get_protocol() if transport is not None else None
        if not isinstance(protocol, GuardedProtocol):
            return await handler(request)
        protocol.busy += 1
        try:
            return await handler(request)
        finally:
            protocol.busy -= 1
            protocol.rearm()


class GuardedProtocol(asyncio.Protocol):
    """aiohttp's protocol behind a gate (the cap) and a timer (the deadline)."""

    def __init__(self, guard: HttpGuard) -> None:
        self._guard = guard
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.BaseTransport | None = None
        self._source: Source | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self.busy = 0

    # -- the gate and the timer -------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        admitted, self._source = self._guard._admit(transport.get_extra_info("peername"))
        if not admitted:
            self._guard._on_close("per_source")
            # A reset, not a FIN: nothing was said, and no TIME_WAIT is left on our side.
            cast(asyncio.Transport, transport).abort()
            return
        self._transport = transport
        self.rearm()
        self._inner = self._guard._inner()
        self._inner.connection_made(transport)

    def rearm(self) -> None:
        """The next request must be under way within the deadline from now."""
        if self._transport is None:
            return
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self._guard.request_timeout
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        # One timer per connection, moved lazily: rearm() only pushes the deadline on.
        self._timer = None
        if self._transport is None or self.busy:
            return  # closed meanwhile; or busy: rearm() after the response starts anew
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        self._guard._on_close("request_timeout")
        self._transport.close()

    # -- everything else goes to aiohttp ----------------------------------------------

    def data_received(self, data: bytes) -> None:
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
