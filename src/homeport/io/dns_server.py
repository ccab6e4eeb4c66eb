"""The DNS listener: UDP and TCP shells around :meth:`Catalog.respond`.

UDP runs in a dedicated thread with batched recvmmsg/sendmmsg
(:mod:`homeport.io.udp_batch`). Measured with dnsperf against NSD on the same
(shared, noisy) 2-core machine: an asyncio datagram endpoint on uvloop gave
0.4-0.7x NSD, a thread with one recvfrom/sendto per query ~0.55x, the batched
thread 0.6-0.95x, and with the packet cache 0.9-1.0x. The packet cache maps
a query's bytes after the ID to the response's bytes after the ID, the way
PowerDNS's packet cache does: a repeated question
costs one dict lookup. The catalog owns it and replaces it after every change,
so it never serves data older than the last acknowledged update. The catalog
is changed from the event-loop thread; its changes are single dict or
attribute swaps, atomic under the GIL (see :mod:`homeport.core.zone`).

TCP (RFC 7766) runs on the event loop: 2-byte length framing, several queries
per connection (pipelined), an idle timeout and a connection cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import cast

import dns.rcode

from homeport.core.rrl import ResponseRateLimiter, Verdict, network_of_sockaddr
from homeport.core.zone import Catalog
from homeport.errors import ConfigError
from homeport.io.udp_batch import MAX_CACHED, open_batch
from homeport.proto.dns_answer import slip_reply

log = logging.getLogger(__name__)

# RFC 7766 §6.2.3 leaves the idle timeout to the server; NSD and BIND use tens of
# seconds for busy servers; 10 s frees sockets quickly on a small one.
TCP_IDLE_TIMEOUT = 10.0
# NSD's default tcp-count: concurrent TCP connections served.
MAX_TCP_CONNECTIONS = 100
# Socket buffers sized for bursts (NSD's so-rcvbuf/so-sndbuf advice is ~1 MB and up).
SOCKET_BUFFER = 4 * 1024 * 1024
# Largest UDP query we read; bigger datagrams are no DNS query anyone sends.
MAX_UDP_QUERY = 4096
_BIND_ATTEMPTS = 20


class DnsStats:
    """Counters of responses by RCODE; plain ints, one list per thread (no locks)."""

    def __init__(self) -> None:
        # index = RCODE (low 4 bits) of what was sent; index 16 = queries not answered
        # (no header, a response, rate-limited, a bug: logged).
        self.udp = [0] * 17
        self.tcp = [0] * 17
        self.rate_limited = 0  # UDP answers RRL dropped or replaced by TC=1

    @property
    def dropped(self) -> int:
        return self.udp[16] + self.tcp[16]

    def by_rcode(self) -> dict[str, int]:
        """Answers sent per RCODE name ("NOERROR", "NXDOMAIN", ...)."""
        out = {}
        for code in range(16):
            total = self.udp[code] + self.tcp[code]
            if total:
                out[dns.rcode.to_text(dns.rcode.Rcode(code))] = total
        return out


@dataclass
class DnsServer:
    """A running listener (see :func:`start_dns`)."""

    udp_address: tuple[str, int]
    tcp_address: tuple[str, int]
    stats: DnsStats
    _udp: socket.socket
    _thread: threading.Thread
    _stop: threading.Event
    _tcp: asyncio.AbstractServer
    _tcp_conns: set[asyncio.Transport]

    async def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            # Wake the blocking recvfrom with one datagram to ourselves.
            host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.udp_address[0])
            waker = socket.socket(self._udp.family, socket.SOCK_DGRAM)
            with waker:
                waker.sendto(b"", (host or self.udp_address[0], self.udp_address[1]))
        await asyncio.to_thread(self._thread.join, 5.0)
        self._udp.close()
        self._tcp.close()
        for transport in list(self._tcp_conns):
            transport.abort()
        await self._tcp.wait_closed()


def _udp_loop(
    sock: socket.socket,
    catalog: Catalog,
    stats: DnsStats,
    limiter: ResponseRateLimiter | None,
    stop: threading.Event,
    batch: bool,
    cache: bool,
) -> None:
    respond = catalog.udp_responder()
    counts = stats.udp
    clock = time.monotonic
    admit = None
    if limiter is not None:
        check = limiter.check

        def admit(resp: bytes, sockaddr: bytes) -> bytes | None:
            verdict = check(network_of_sockaddr(sockaddr), clock())
            if not verdict:
                return resp
            stats.rate_limited += 1
            return slip_reply(resp) if verdict == Verdict.SLIP else None

    batcher = open_batch(sock) if batch else None
    if batcher is not None:
        try:
            batcher.serve(
                respond,
                admit,
                counts,
                stop.is_set,
                catalog.packet_cache,
                MAX_CACHED if cache else 0,
            )
        except OSError:
            if not stop.is_set():
                log.exception("DNS UDP listener failed")
        return
    # Portable loop: one recvfrom and one sendto per query.
    recvfrom, sendto = sock.recvfrom, sock.sendto
    while not stop.is_set():
        try:
            data, addr = recvfrom(MAX_UDP_QUERY)
            resp = respond(data)
            if resp is not None and admit is not None:
                resp = admit(resp, _sockaddr(sock.family, addr))
            if resp is None:
                counts[16] += 1
                continue
            counts[resp[3] & 15] += 1
            sendto(resp, addr)
        except OSError:
            if stop.is_set():
                return
        except Exception:
            log.exception("DNS query failed")


def _sockaddr(family: int, addr: tuple[str, int] | tuple[str, int, int, int]) -> bytes:
    """The raw sockaddr bytes the batch path passes, for the RRL key."""
    packed = socket.inet_pton(family, addr[0].partition("%")[0])
    if family == socket.AF_INET6:
        return b"\x0a\x00" + bytes(6) + packed
    return b"\x02\x00" + bytes(2) + packed


class _TcpConnection(asyncio.Protocol):
    def __init__(self, catalog: Catalog, stats: DnsStats, conns: set[asyncio.Transport]) -> None:
        self._catalog = catalog
        self._stats = stats
        self._conns = conns
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport by contract, but not necessarily an asyncio.Transport
        # subclass: uvloop's TCPTransport is not one. Never check the concrete type.
        transport = cast(asyncio.Transport, transport)
        if len(self._conns) >= MAX_TCP_CONNECTIONS:
            transport.abort()
            return
        self._transport = transport
        self._conns.add(transport)
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        transport = self._transport
        if transport is not None:
            loop = asyncio.get_running_loop()
            self._idle = loop.call_later(TCP_IDLE_TIMEOUT, transport.close)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buf = self._buf
        buf += data
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < size + 2:
                break
            query = bytes(buf[2 : size + 2])
            del buf[: size + 2]
            try:
                resp = self._catalog.respond(query, tcp=True)
            except Exception:
                log.exception("DNS query failed")
                resp = None
            if resp is None:
                # Nothing sensible to answer; close rather than guess (RFC 7766 §8).
                self._stats.tcp[16] += 1
                transport.close()
                return
            self._stats.tcp[resp[3] & 15] += 1
            transport.write(struct.pack(">H", len(resp)) + resp)
        self._touch()

    def pause_writing(self) -> None:
        # A client that does not read its answers stops getting its queries read.
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
        if self._transport is not None:
            self._conns.discard(self._transport)
            self._transport = None


def _bind_pair(host: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port (an ephemeral one when ``port`` is 0)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise ConfigError(f"cannot listen for DNS on {host}:{port}: {exc}") from exc
    family, _, _, _, sockaddr = infos[0]
    for _ in range(_BIND_ATTEMPTS):
        udp = socket.socket(family, socket.SOCK_DGRAM)
        tcp = socket.socket(family, socket.SOCK_STREAM)
        try:
            if family == socket.AF_INET6:
                # IPv6-only, as asyncio's servers are: "[::]:53" then sits beside "0.0.0.0:53".
                for sock in (udp, tcp):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            for sock, opt in ((udp, socket.SO_RCVBUF), (udp, socket.SO_SNDBUF)):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
            udp.bind(sockaddr)
            bound = udp.getsockname()
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((bound[0], bound[1], *sockaddr[2:]))
            tcp.listen(socket.SOMAXCONN)
        except OSError as exc:
            udp.close()
            tcp.close()
            if port == 0 and exc.errno == errno.EADDRINUSE:
                continue  # the UDP port we got is taken for TCP: try another
            raise ConfigError(f"cannot listen for DNS on {host}:{port}: {exc}") from exc
        tcp.setblocking(False)
        return udp, tcp
    raise ConfigError(f"cannot find a free port for DNS on {host}")


async def start_dns(
    catalog: Catalog,
    host: str,
    port: int,
    *,
    rrl: bool = True,
    batch: bool = True,
    cache: bool = True,
) -> DnsServer:
    """Serve ``catalog`` on UDP and TCP at host:port (port 0 = one ephemeral port for both).

    ``rrl=False`` turns response-rate limiting off (benchmarks, tests);
    ``batch=False`` uses one recvfrom/sendto per query instead of recvmmsg/sendmmsg;
    ``cache=False`` turns the UDP packet cache off (benchmarks).
    """
    udp, tcp = _bind_pair(host, port)
    stats = DnsStats()
    conns: set[asyncio.Transport] = set()
    loop = asyncio.get_running_loop()
    try:
        tcp_server = await loop.create_server(
            lambda: _TcpConnection(catalog, stats, conns), sock=tcp
        )
    except OSError as exc:
        udp.close()
        tcp.close()
        raise ConfigError(f"cannot listen for DNS on {host}:{port}: {exc}") from exc
    stop = threading.Event()
    limiter = ResponseRateLimiter() if rrl else None
    thread = threading.Thread(
        target=_udp_loop,
        args=(udp, catalog, stats, limiter, stop, batch, cache),
        name="dns-udp",
        daemon=True,
    )
    thread.start()
    udp_addr = udp.getsockname()[:2]
    return DnsServer(
        udp_address=(udp_addr[0], udp_addr[1]),
        tcp_address=(udp_addr[0], udp_addr[1]),
        stats=stats,
        _udp=udp,
        _thread=thread,
        _stop=stop,
        _tcp=tcp_server,
        _tcp_conns=conns,
    )
