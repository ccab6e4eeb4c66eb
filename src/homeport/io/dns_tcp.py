"""DNS over TCP (RFC 7766): the per-connection protocol and the table of connections.

Slow clients must not hold the server's TCP slots (the slowloris attack: one
byte every few seconds, each of which used to reset the idle timer). So:

- a message must arrive whole within :data:`TCP_MESSAGE_DEADLINE` of its first
  byte; more bytes of the same message do not extend it;
- between messages (and before the first) a connection may stay idle for
  :data:`TCP_IDLE_TIMEOUT` (RFC 7766 §6.2.3);
- a client that does not read its answers gets the same deadline to drain them;
- one source (an IPv4 address, an IPv6 /64) holds at most
  :data:`MAX_TCP_PER_SOURCE` connections;
- when the table is full a new connection takes the slot of the longest-idle
  connection (RFC 7766 §6.2.3: servers under load may close idle connections),
  or, if none is idle, of the one that has been stuck longest in its message.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time
from collections.abc import Callable
from typing import cast

log = logging.getLogger(__name__)

# RFC 7766 §6.2.3 leaves the idle timeout to the server; NSD and BIND use tens of
# seconds for busy servers; 10 s frees sockets quickly on a small one.
TCP_IDLE_TIMEOUT = 10.0
# A query is one small segment; Knot's tcp-io-timeout gives a whole message
# 500 ms. 3 s leaves room for a retransmission or two on a lossy path (RFC 6298:
# initial RTO 1 s) and still cuts a one-byte-every-few-seconds trickle early.
TCP_MESSAGE_DEADLINE = 3.0
# NSD's default tcp-count: concurrent TCP connections served.
MAX_TCP_CONNECTIONS = 100
# RFC 7766 §6.2.2: a client SHOULD use one connection to a server. Ten allows a
# NAT or a resolver farm behind one address, and filling the table takes ten sources.
MAX_TCP_PER_SOURCE = 10

# respond(query, client's packed address) -> the response (several messages for a
# zone transfer, RFC 5936 §2.2), or None to close, or a future of a response or None
# (an UPDATE waits for the store: its answer may overtake none or come after later
# ones, which RFC 7766 §7 allows).
TcpResponder = Callable[[bytes, bytes], "bytes | list[bytes] | asyncio.Future[bytes | None] | None"]

# Connection states, for eviction: idle connections go first.
_IDLE, _READING, _WRITING = 0, 1, 2


def packed_address(peer: object) -> bytes:
    """A peer's address (``get_extra_info("peername")``) packed: 4 or 16 bytes, or b""."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return b""  # unix sockets and the like
    host = peer[0].partition("%")[0]
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.inet_pton(family, host)
    except OSError:
        return b""


def source_key(peer: object) -> bytes:
    """The per-source key of a peer address: the IPv4 address, or the IPv6 /64.

    An IPv6 site gets a /64 (or more) for its hosts, so counting addresses would
    let one home take the whole table; IPv4-mapped IPv6 counts as its IPv4 address.
    """
    packed = packed_address(peer)
    if len(packed) != 16:
        return packed
    if packed[:12] == b"\x00" * 10 + b"\xff\xff":
        return packed[12:]
    return packed[:8]


class TcpTable:
    """The open connections, counted per source; decides who gets a slot."""

    def __init__(self) -> None:
        self.conns: set[TcpConnection] = set()
        self._per_source: dict[bytes, int] = {}

    def admit(self, conn: TcpConnection) -> bool:
        """Take a slot for ``conn`` (closing another if the table is full), or refuse it."""
        if self._per_source.get(conn.source, 0) >= MAX_TCP_PER_SOURCE:
            return False
        if len(self.conns) >= MAX_TCP_CONNECTIONS:
            # Idle first, then the one longest in its state (a stalled message is
            # nearest its deadline anyway); the victim's slot is freed right here.
            victim = min(self.conns, key=lambda c: (c.state != _IDLE, c.since))
            victim.evict(abort=victim.state != _IDLE)
        self.conns.add(conn)
        self._per_source[conn.source] = self._per_source.get(conn.source, 0) + 1
        return True

    def release(self, conn: TcpConnection) -> None:
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        left = self._per_source[conn.source] - 1
        if left:
            self._per_source[conn.source] = left
        else:
            del self._per_source[conn.source]

    def abort_all(self) -> None:
        for conn in list(self.conns):
            conn.evict(abort=True)


class TcpConnection(asyncio.Protocol):
    """One DNS-over-TCP connection: 2-byte length framing, pipelined queries."""

    def __init__(
        self,
        respond: TcpResponder,
        counts: list[int],
        table: TcpTable,
    ) -> None:
        self._respond = respond
        self._counts = counts  # DnsStats.tcp: index = RCODE sent, 16 = not answered
        self._table = table
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.source = self._address = b""
        self.state = _IDLE
        self.since = 0.0  # when the current state began (time.monotonic)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport by contract, but not necessarily an asyncio.Transport
        # subclass: uvloop's TCPTransport is not one. Never check the concrete type.
        transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._address = packed_address(peer)
        self.source = source_key(peer)
        if not self._table.admit(self):
            transport.abort()
            return
        self._transport = transport
        self._enter(_IDLE)

    def _enter(self, state: int) -> None:
        """Switch state and arm its timer (idle timeout, or the message deadline)."""
        self.state = state
        # Not loop.time(): uvloop's has millisecond steps, and eviction needs an order.
        self.since = time.monotonic()
        if self._timer is not None:
            self._timer.cancel()
        timeout = TCP_IDLE_TIMEOUT if state == _IDLE else TCP_MESSAGE_DEADLINE
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expired)

    def _expired(self) -> None:
        # Idle: a graceful close (RFC 7766 §6.2.3). A message past its deadline, or
        # answers the client does not read: abort, nothing more is worth sending.
        self.evict(abort=self.state != _IDLE)

    def evict(self, *, abort: bool = False) -> None:
        transport = self._transport
        if transport is None:
            return
        self._table.release(self)  # the slot is free now, not when the loop gets to it
        # close() would wait for unsent answers a client may never read: abort then.
        if abort or transport.get_write_buffer_size():
            transport.abort()
        else:
            transport.close()

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        buf = self._buf
        buf += data
        done = False
        while len(buf) >= 2:
            size = (buf[0] << 8) | buf[1]
            if len(buf) < size + 2:
                break
            query = bytes(buf[2 : size + 2])
            del buf[: size + 2]
            done = True
            try:
                resp = self._respond(query, self._address)
            except Exception:
                log.exception("DNS query failed")
                resp = None
            if isinstance(resp, asyncio.Future):
                resp.add_done_callback(self._late)
                continue
            if resp is None:
                # Nothing sensible to answer; close rather than guess (RFC 7766 §8).
                self._counts[16] += 1
                self.evict()
                return
            if isinstance(resp, list):
                self._counts[resp[0][3] & 15 if resp else 16] += 1
                transport.writelines([struct.pack(">H", len(m)) + m for m in resp])
                continue
            self._counts[resp[3] & 15] += 1
            transport.write(struct.pack(">H", len(resp)) + resp)
        if self.state == _WRITING:
            return  # reading is paused; the drain deadline stands
        if buf:
            if done or self.state == _IDLE:
                self._enter(_READING)  # a new message began: its deadline starts now
        elif done or self.state != _IDLE:
            self._enter(_IDLE)

    def _late(self, future: asyncio.Future[bytes | None]) -> None:
        """Send an answer that was computed later (or close, as for None above)."""
        resp = None if future.cancelled() or future.exception() else future.result()
        if future.done() and not future.cancelled() and future.exception() is not None:
            log.error("DNS query failed", exc_info=future.exception())
        if self._transport is None:
            return
        if resp is None:
            self._counts[16] += 1
            self.evict()
            return
        self._counts[resp[3] & 15] += 1
        self._transport.write(struct.pack(">H", len(resp)) + resp)

    def pause_writing(self) -> None:
        # A client that does not read its answers stops getting its queries read,
        # and must drain them within the message deadline.
        if self._transport is not None:
            self._transport.pause_reading()
            self._enter(_WRITING)

    def resume_writing(self) -> None:
        if self._transport is not None:
            self._transport.resume_reading()
            self._enter(_READING if self._buf else _IDLE)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._table.release(self)
        self._transport = None
