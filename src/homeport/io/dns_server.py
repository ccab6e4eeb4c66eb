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

TCP (RFC 7766) runs on the event loop (:mod:`homeport.io.dns_tcp`): 2-byte
length framing, several queries per connection (pipelined), a deadline per
message, an idle timeout, and caps per source and in all.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import dns.rcode

from homeport.core.rrl import (
    ResponseRateLimiter,
    RrlConfig,
    Verdict,
    network_of_sockaddr,
    response_key,
)
from homeport.core.zone import Catalog
from homeport.errors import ConfigError
from homeport.io.dns_tcp import TcpConnection, TcpResponder, TcpTable
from homeport.io.udp_batch import MAX_CACHED, open_batch
from homeport.proto import dns_cookie
from homeport.proto.dns_answer import slip_reply
from homeport.proto.dns_cookie import CookieJar, Status

log = logging.getLogger(__name__)

# Socket buffers sized for bursts (NSD's so-rcvbuf/so-sndbuf advice is ~1 MB and up).
SOCKET_BUFFER = 4 * 1024 * 1024
# Largest UDP query we read; bigger datagrams are no DNS query anyone sends.
MAX_UDP_QUERY = 4096
_BIND_ATTEMPTS = 20
# transfer(query, client's packed address) -> the messages of an AXFR/IXFR answer,
# or None when the query is no zone transfer.
Transfer = Callable[[bytes, bytes], "list[bytes] | None"]


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


class SlowPath(Protocol):
    """Answers what the catalog refuses as NOTIMP or NOTAUTH (UPDATE, TSIG-signed messages)."""

    def wants(self, resp: bytes | None) -> bool: ...

    def udp(self, query: bytes) -> bytes | None: ...

    def tcp(self, query: bytes, address: bytes) -> asyncio.Future[bytes | None]: ...


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
    _tcp_conns: TcpTable

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
        self._tcp_conns.abort_all()
        await self._tcp.wait_closed()


def _udp_loop(
    sock: socket.socket,
    catalog: Catalog,
    stats: DnsStats,
    limiter: ResponseRateLimiter | None,
    jar: CookieJar | None,
    stop: threading.Event,
    batch: bool,
    cache: bool,
    slow: SlowPath | None = None,
) -> None:
    respond = catalog.udp_responder()
    if slow is not None:
        respond = _with_slow_path(respond, slow)
    counts = stats.udp
    admit = None
    if limiter is not None or jar is not None:
        admit = _admitter(limiter, jar, stats)

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
                resp = admit(data[2:], resp, _sockaddr(sock.family, addr))
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


def _with_slow_path(
    respond: Callable[[bytes], bytes | None], slow: SlowPath
) -> Callable[[bytes], bytes | None]:
    """``respond``, with what it refuses as NOTIMP/NOTAUTH handed to ``slow`` (one byte test)."""

    def respond_all(query: bytes) -> bytes | None:
        resp = respond(query)
        if resp is not None and resp[3] & 15 in (4, 9) and slow.wants(resp):
            return slow.udp(query)
        return resp

    return respond_all


def _admitter(
    limiter: ResponseRateLimiter | None, jar: CookieJar | None, stats: DnsStats
) -> Callable[[bytes, bytes, bytes], bytes | None]:
    """Cookies and rate limiting for UDP answers, as ``admit(key, resp, sockaddr)``.

    ``key`` is the query after its ID (the packet cache's key), ``sockaddr`` the
    sender's raw ``struct sockaddr``; it gives what to send (None = nothing).
    Names bound once: this runs for every answer.
    """
    check = limiter.check if limiter is not None else None
    cookie_check = jar.check if jar is not None else None
    find, monotonic, wallclock = dns_cookie.find, time.monotonic, time.time
    valid, malformed, drop = Status.VALID, Status.MALFORMED, Verdict.DROP

    def admit(key: bytes, resp: bytes, sockaddr: bytes) -> bytes | None:
        status = reply = query = None
        if cookie_check is not None and key[9]:  # ARCOUNT's low byte: an OPT, maybe a COOKIE
            query = resp[:2] + key
            data = find(query)
            if data is not None:
                status, reply = cookie_check(data, _address(sockaddr), int(wallclock()))
                if status is malformed:
                    return dns_cookie.formerr(query)
        if check is not None and status is not valid:
            # A valid server cookie proves the source address (RFC 7873 §5.2.5): no limit.
            # AF_INET (the common case, inline): the /24.
            net = sockaddr[4:7] if sockaddr[0] == 2 else network_of_sockaddr(sockaddr)
            verdict = check(response_key(net, resp), monotonic())
            if verdict:
                stats.rate_limited += 1
                if verdict == drop:
                    return None
                if reply is not None:  # a cookie client: BADCOOKIE teaches it a server cookie
                    return dns_cookie.badcookie(resp, reply)
                return slip_reply(resp)
        if reply is not None and query is not None:
            return dns_cookie.with_cookie(resp, reply, dns_cookie.udp_limit(query))
        return resp

    return admit


def _address(sockaddr: bytes) -> bytes:
    """The packed address in a raw Linux ``struct sockaddr_in``/``sockaddr_in6``."""
    return sockaddr[8:24] if sockaddr[:2] == b"\x0a\x00" else sockaddr[4:8]


def _tcp_responder(
    catalog: Catalog,
    jar: CookieJar | None,
    transfer: Transfer | None = None,
    slow: SlowPath | None = None,
) -> TcpResponder:
    """Answers over TCP: never rate-limited; cookies answered (RFC 7873 §5.2.3).

    ``transfer`` answers zone transfers (several messages), None for other queries;
    ``slow`` what the catalog refuses as NOTIMP/NOTAUTH (UPDATE, other signed messages).
    """

    def respond(
        query: bytes, address: bytes
    ) -> bytes | list[bytes] | asyncio.Future[bytes | None] | None:
        if transfer is not None:
            messages = transfer(query, address)
            if messages is not None:
                return messages
        resp = catalog.respond(query, tcp=True)
        if slow is not None and slow.wants(resp):
            return slow.tcp(query, address)
        if resp is None or jar is None or len(query) < 12 or not query[11]:
            return resp
        data = dns_cookie.find(query)
        if data is None:
            return resp
        status, reply = jar.check(data, address, int(time.time()))
        if status is Status.MALFORMED:
            return dns_cookie.formerr(query)
        return dns_cookie.with_cookie(resp, reply, dns_cookie.TCP_LIMIT)

    return respond


def _sockaddr(family: int, addr: tuple[str, int] | tuple[str, int, int, int]) -> bytes:
    """The raw sockaddr bytes the batch path passes, for the RRL key."""
    packed = socket.inet_pton(family, addr[0].partition("%")[0])
    if family == socket.AF_INET6:
        return b"\x0a\x00" + bytes(6) + packed
    return b"\x02\x00" + bytes(2) + packed


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
    rrl_config: RrlConfig | None = None,
    cookies: bool = True,
    batch: bool = True,
    cache: bool = True,
    transfer: Transfer | None = None,
    slow: SlowPath | None = None,
) -> DnsServer:
    """Serve ``catalog`` on UDP and TCP at host:port (port 0 = one ephemeral port for both).

    ``rrl=False`` turns response-rate limiting off (benchmarks, tests), ``rrl_config``
    sets its rates; ``cookies=False`` ignores DNS cookies (RFC 7873);
    ``batch=False`` uses one recvfrom/sendto per query instead of recvmmsg/sendmmsg;
    ``cache=False`` turns the UDP packet cache off (benchmarks); ``transfer``
    answers AXFR/IXFR over TCP (:class:`homeport.server.xfr.Transfers`); ``slow``
    answers UPDATE and signed messages that are not the secondaries' (see
    :mod:`homeport.server.dns_update`).
    """
    udp, tcp = _bind_pair(host, port)
    stats = DnsStats()
    conns = TcpTable()
    loop = asyncio.get_running_loop()
    # The server secret lives as long as the process (RFC 7873 §7.1 asks for a
    # change at least every 36 days; a restart is one, and clients relearn).
    jar = CookieJar(secrets.token_bytes(dns_cookie.SECRET_LEN)) if cookies else None
    respond_tcp = _tcp_responder(catalog, jar, transfer, slow)
    try:
        tcp_server = await loop.create_server(
            lambda: TcpConnection(respond_tcp, stats.tcp, conns), sock=tcp
        )
    except OSError as exc:
        udp.close()
        tcp.close()
        raise ConfigError(f"cannot listen for DNS on {host}:{port}: {exc}") from exc
    stop = threading.Event()
    limiter = ResponseRateLimiter(rrl_config) if rrl else None
    thread = threading.Thread(
        target=_udp_loop,
        args=(udp, catalog, stats, limiter, jar, stop, batch, cache, slow),
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
