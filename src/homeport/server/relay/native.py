"""The native transport: agents' TLS 1.3 control and data connections (proto/relay.py).

A control connection says ``hello`` and, once authenticated and granted, stays open
for heartbeats and the relay's ``want``. Data connections say ``spare`` with the
session id and wait idle; a visitor takes one (``open``), and from then on it is a
byte pipe. One connection per visitor: no multiplexing, no head-of-line blocking.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
from typing import TYPE_CHECKING, Final

from homeport.errors import RemoteProtocolError, TransportError
from homeport.proto import relay as wire
from homeport.server.relay.routes import normal_host
from homeport.server.relay.splice import close_quietly

if TYPE_CHECKING:
    from homeport.server.relay.hub import Relay

log = logging.getLogger(__name__)

# A client has this long to say hello or spare after its TLS handshake.
FIRST_LINE_TIMEOUT: Final = 10.0
# A visitor waits this long for a spare after a ``want`` (the spec's 5 s).
SPARE_WAIT: Final = 5.0
# Idle spares a session may park beyond the number asked for: a client opening more
# is misbehaving; the surplus is closed rather than held.
SPARE_SLACK: Final = 16
# Session ids: unguessable, so a data connection cannot join another host's session.
SESSION_ID_BYTES: Final = 18

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class NativeSession:
    """One host's control connection and its idle spares: a route Backend."""

    transport = "native"

    def __init__(self, relay: Relay, host: str, writer: asyncio.StreamWriter, peer: str) -> None:
        self.relay = relay
        self.host = normal_host(host)
        self.id = secrets.token_urlsafe(SESSION_ID_BYTES)
        self.peer = peer
        self.control = writer
        self.spares: collections.deque[Streams] = collections.deque()
        self.waiters: collections.deque[asyncio.Future[Streams]] = collections.deque()
        self.closed = asyncio.Event()
        self.max_spares = relay.config.spares + SPARE_SLACK
        # Spares the client is opening now: one per ``want`` sent and one per ``open`` (it
        # replaces each spare that gets one). A waiting visitor asks for another only when
        # more visitors wait than are coming; asking for one per visitor doubled the TLS
        # handshakes of a burst, the surplus turned away after (bench/relay.py).
        self.coming = 0

    async def open(self, kind: wire.Kind, port: int, peer: tuple[str, int]) -> Streams:
        """An idle spare, told to ``open``; a ``want`` and a short wait if none is idle."""
        spare = self._take()
        if spare is None:
            if self.closed.is_set():
                raise TransportError("the tunnel session ended")
            waiter: asyncio.Future[Streams] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            if len(self.waiters) > self.coming:
                self._send(wire.Want(1))
                self.coming += 1
            try:
                spare = await asyncio.wait_for(waiter, SPARE_WAIT)
            except TimeoutError:
                # What was counted on did not come: do not count on it for the next one.
                self.coming = max(0, self.coming - 1)
                raise TransportError("no data connection from the tunnel client") from None
            finally:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
        spare[1].write(wire.encode(wire.Open(kind, port, wire.format_peer(*peer))))
        self.coming += 1
        return spare

    def _take(self) -> Streams | None:
        while self.spares:
            reader, writer = self.spares.popleft()
            # A spare the client closed while idle: its EOF is already in (no read needed).
            if not reader.at_eof() and not writer.transport.is_closing():
                return reader, writer
            writer.transport.abort()
        return None

    def add_spare(self, spare: Streams) -> bool:
        self.coming = max(0, self.coming - 1)
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(spare)
                return True
        if self.closed.is_set() or len(self.spares) >= self.max_spares:
            return False
        self.spares.append(spare)
        return True

    def _send(self, message: wire.Message) -> None:
        if not self.control.transport.is_closing():
            self.control.write(wire.encode(message))

    def close(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        self.control.close()
        while self.spares:
            self.spares.popleft()[1].close()
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_exception(TransportError("the tunnel session ended"))


class AgentServer:
    """Accepts agents' TLS connections and tells control from data connections."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.sessions: dict[str, NativeSession] = {}  # by session id

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        keep = False
        try:
            line = await asyncio.wait_for(reader.readline(), FIRST_LINE_TIMEOUT)
            if not line.endswith(b"\n"):
                return
            message = wire.decode(line)
            if isinstance(message, wire.Hello):
                await self._control(message, reader, writer)
            elif isinstance(message, wire.Spare):
                session = self.sessions.get(message.session)
                if session is not None and session.add_spare((reader, writer)):
                    keep = True  # handed over: the visitor's splice closes it
                else:
                    await self._refuse(writer, "unavailable", "no such session, or spares enough")
            else:
                await self._refuse(writer, "badrequest", "expected hello or spare")
        except RemoteProtocolError as exc:
            await self._refuse(writer, "badrequest", str(exc)[:200])
        except (TimeoutError, OSError, ConnectionError, ValueError):
            pass  # silent, reset, or a line past the stream limit: nothing to answer
        finally:
            if not keep:
                await close_quietly(writer)

    async def _refuse(self, writer: asyncio.StreamWriter, code: str, message: str) -> None:
        self.relay.metrics.refused(code)
        with contextlib.suppress(OSError, ConnectionError):
            writer.write(wire.encode(wire.Error(code, message)))
            await writer.drain()

    async def _control(
        self, hello: wire.Hello, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        source = peer[0] if peer else None
        peer_text = wire.format_peer(peer[0], peer[1]) if peer else "-"
        if hello.version != wire.VERSION:
            await self._refuse(writer, "version", f"relay speaks version {wire.VERSION}")
            return
        refusal = await self.relay.authenticate(hello.host, hello.secret, source)
        if refusal is not None:
            await self._refuse(writer, *refusal)
            return
        session = NativeSession(self.relay, hello.host, writer, peer_text)
        try:
            granted = await self.relay.claim(session, hello.tunnels, source)
        except Exception:
            session.close()
            raise
        if isinstance(granted, wire.Error):
            await self._refuse(writer, granted.code, granted.message)
            session.close()
            return
        self.sessions[session.id] = session
        try:
            heartbeat = self.relay.config.heartbeat
            writer.write(wire.encode(wire.Welcome(session.id, granted, heartbeat)))
            if self.relay.config.spares:
                writer.write(wire.encode(wire.Want(self.relay.config.spares)))
            await writer.drain()
            log.info("relay: %s up from %s (%d tunnels)", session.host, peer_text, len(granted))
            await self._heartbeats(session, reader, writer, heartbeat * 4 / 3)
        finally:
            self.sessions.pop(session.id, None)
            session.close()
            await self.relay.release(session)

    async def _heartbeats(
        self,
        session: NativeSession,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        dead_after: float,
    ) -> None:
        """Answer pings until the client goes quiet for ``dead_after`` s, leaves, or is replaced."""
        while not session.closed.is_set():
            try:
                line = await asyncio.wait_for(reader.readline(), dead_after)
            except TimeoutError:
                log.info("relay: %s silent for %.0f s: session closed", session.host, dead_after)
                return
            if not line.endswith(b"\n"):
                return  # closed (or replaced: close() ended the connection)
            message = wire.decode(line)
            if isinstance(message, wire.Ping):
                writer.write(wire.encode(wire.Pong()))
                await writer.drain()
            elif not isinstance(message, wire.Pong):
                raise RemoteProtocolError("only ping and pong after welcome")
