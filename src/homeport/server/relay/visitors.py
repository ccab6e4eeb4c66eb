"""The relay's public side: visitors on the http, tls and tcp listeners.

http: the request head is read (at most :data:`~homeport.proto.relay.MAX_PEEK`, within
:data:`PEEK_TIMEOUT`) and routed by Host; tls: the ClientHello is read and routed by
SNI, never terminated; tcp: the listening port names the route. The bytes read to
route are sent on first (after a PROXY v2 header if the tunnel asked for one), then
the connection is spliced to the host's tunnel.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, ip_address
from typing import TYPE_CHECKING, Final

from homeport.errors import RemoteProtocolError, TransportError
from homeport.proto import relay as wire
from homeport.server.relay.routes import Route
from homeport.server.relay.splice import Bucket, close_quietly, splice

if TYPE_CHECKING:
    from homeport.server.relay.hub import Relay

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

# A visitor has this long to send what routes it (request head, ClientHello): browsers
# send both at once; a slowloris holding the relay's sockets does not.
PEEK_TIMEOUT: Final = 5.0
# The answer to a Host no live tunnel serves: no internals named (which hosts exist,
# whether a tunnel was up); `Connection: close` because the relay does not read on.
BAD_GATEWAY: Final = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 30\r\n"
    b"Connection: close\r\n\r\nno tunnel is serving this name\n"
)
BUSY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 22\r\n"
    b"Connection: close\r\n\r\ntoo many connections.\n"
)
BAD_REQUEST: Final = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
    b"Connection: close\r\n\r\nbad request\n"
)


class Visitors:
    """Per-host connection counts and byte buckets, and the three listeners' handlers."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.active: collections.Counter[str] = collections.Counter()
        self.buckets: dict[str, Bucket] = {}

    def http(self, port: int) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head, name = await self._peek(reader, writer, wire.http_host, BAD_REQUEST)
            if head is None:
                return
            route = self.relay.routes.lookup("http", port, name) if name else None
            if route is None:
                self.relay.metrics.refused("unknown")
                await _answer(writer, BAD_GATEWAY)
                return
            await self._serve(route, reader, writer, head, port, BUSY, BAD_GATEWAY)

        return handle

    def tls(self, port: int) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head, name = await self._peek(reader, writer, wire.tls_server_name, b"")
            if head is None:
                return
            route = self.relay.routes.lookup("tls", port, name) if name else None
            if route is None:
                self.relay.metrics.refused("unknown")
                await close_quietly(writer)
                return
            await self._serve(route, reader, writer, head, port, b"", b"")

        return handle

    def tcp(self, port: int) -> Handler:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            route = self.relay.routes.lookup_tcp(port)
            if route is None:
                self.relay.metrics.refused("unknown")
                await close_quietly(writer)
                return
            await self._serve(route, reader, writer, b"", port, b"", b"")

        return handle

    async def _peek(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decide: Callable[[bytes], str | wire.NeedMore | None],
        refusal: bytes,
    ) -> tuple[bytes | None, str | None]:
        """The bytes read until ``decide`` could route, and its answer; (None, None): gave up."""
        data = b""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PEEK_TIMEOUT
        try:
            while True:
                decided = decide(data)
                if not isinstance(decided, wire.NeedMore):
                    return data, decided
                chunk = await asyncio.wait_for(
                    reader.read(wire.MAX_PEEK), max(0.0, deadline - loop.time())
                )
                if not chunk:
                    break
                data += chunk
        except RemoteProtocolError:
            self.relay.metrics.refused("badrequest")
            await _answer(writer, refusal)
            return None, None
        except (TimeoutError, OSError, ConnectionError):
            pass
        self.relay.metrics.refused("timeout")
        await close_quietly(writer)
        return None, None

    async def _serve(
        self,
        route: Route,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        head: bytes,
        port: int,
        busy: bytes,
        unavailable: bytes,
    ) -> None:
        relay = self.relay
        host = route.host
        if self.active[host] >= relay.config.max_connections_per_host:
            relay.metrics.refused("connections")
            await _answer(writer, busy)
            return
        self.active[host] += 1
        try:
            peer_name = writer.get_extra_info("peername")
            peer = (str(peer_name[0]), int(peer_name[1]))
            try:
                pipe = await route.backend.open(route.kind, route.port, peer)
            except (TransportError, OSError, ConnectionError) as exc:
                log.info("relay: %s %s %d: %s", host, route.kind, route.port, exc)
                relay.metrics.refused("unavailable")
                await _answer(writer, unavailable)
                return
            relay.metrics.connections.labels(host, route.kind).inc()
            inbound = relay.metrics.bytes.labels(host, "in")
            outbound = relay.metrics.bytes.labels(host, "out")
            prefix = b""
            if route.proxy:
                prefix = wire.proxy_v2_header(peer, (relay.public_address(peer[0]), port))
            if prefix or head:
                pipe[1].write(prefix + head)
                inbound.inc(len(head))
            await splice(
                (reader, writer),
                pipe,
                a_to_b=inbound.inc,
                b_to_a=outbound.inc,
                bucket=self._bucket(host),
            )
        finally:
            self.active[host] -= 1
            if self.active[host] <= 0:
                del self.active[host]

    def _bucket(self, host: str) -> Bucket | None:
        rate = self.relay.config.max_bytes_per_second_per_host
        if not rate:
            return None
        bucket = self.buckets.get(host)
        if bucket is None:
            bucket = self.buckets[host] = Bucket(rate)
        return bucket


def is_ipv4(address: str) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return isinstance(parsed, IPv4Address) or parsed.ipv4_mapped is not None


async def _answer(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        if data:
            writer.write(data)
    except (OSError, ConnectionError):
        pass
    await close_quietly(writer)
