"""The tunnel client: keep a host's tunnels open at a homeport relay (issue #13).

One :class:`TunnelClient` per (relay, host): the relay keeps one session per host and a
new hello replaces the old one, so every tunnel of a host goes in the same hello. The
wire format is :mod:`homeport.proto.relay`; the decisions (backoff, dead path) are
:mod:`homeport.core.tunnel`'s; this module only moves bytes:

- a **control** connection (TLS 1.3): hello -> welcome, a ping every ``heartbeat``
  seconds, the relay's ``want`` asking for more spares; silence for 4/3 of a heartbeat
  means the path is dead and a new session is opened;
- **spare** data connections, :data:`SPARES` kept idle; on ``open`` a spare connects to
  the tunnel's local service and is spliced to it (:class:`homeport.io.splice.Pipe`),
  and a replacement spare is opened. One connection per visitor: no multiplexing, so no
  head-of-line blocking between visitors.

Reconnects never stop on a transient failure; a fatal refusal (bad secret, a forbidden
claim, a certificate that is not the pinned one) raises :class:`RelayRefused` out of
:meth:`TunnelClient.run`, after one log line. :meth:`TunnelClient.nudge` (an address or
route change, the router's WAN address moved) reconnects at once if the session does
not answer a ping within :data:`NUDGE_PROBE`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Final, Literal, cast

from homeport.core import tunnel as policy
from homeport.errors import (
    HomeportError,
    RelayRefused,
    RemoteProtocolError,
    TransportError,
)
from homeport.io.splice import Pipe, pair, wait_closed
from homeport.proto import relay
from homeport.proto.relay import Granted

log = logging.getLogger("homeport.tunnel")

# Idle data connections kept ready, so a visitor is served without a round trip to ask
# for one (the relay's default `spares`; it sends `want` when it needs more).
SPARES: Final = 4
# A relay asking for more than this at once is misbehaving; each spare is a TLS session.
MAX_SPARES: Final = 64
# TCP + TLS 1.3 handshake to the relay: one or two round trips; far longer is a dead path.
CONNECT_TIMEOUT: Final = 10.0
# The relay answers a hello after one secret check (an argon2 verify, ~0.4 s).
HELLO_TIMEOUT: Final = 15.0
# The home service is on the LAN or this host: it answers a connect in milliseconds.
LOCAL_CONNECT_TIMEOUT: Final = 5.0
# After a nudge, a live session answers a ping within a round trip; silence this long
# means the path died with the address change (a PPPoE redial): reconnect at once.
NUDGE_PROBE: Final = 3.0
# The control connection's kernel keepalive. Behind CGNAT a redial moves the home's public
# address and the carrier forgets every NAT mapping: the path is dead without a word to
# the home. The first probe after KEEPALIVE_IDLE s of quiet then goes out with the new
# address and the relay's kernel answers it with a RST, so the tunnel reconnects within
# seconds, not at the next heartbeat (30 s). Kernels answer probes (no Python woken at the
# relay). A merely silent path is left to the heartbeat rule: probes every
# KEEPALIVE_INTERVAL s, KEEPALIVE_COUNT unanswered = 42 s, past its 40 s.
KEEPALIVE_IDLE: Final = 2
KEEPALIVE_INTERVAL: Final = 5
KEEPALIVE_COUNT: Final = 8
# "connection refused" from the home service is logged at most this often per tunnel.
REFUSED_LOG_EVERY: Final = 60.0

State = Literal["connecting", "up", "down", "stopped"]


@dataclass(frozen=True)
class LocalRoute:
    """Where visitors of one public entry point go: the service at home."""

    kind: relay.Kind
    port: int  # as in the hello: the relay's listener port (http/tls) or the wanted tcp port
    local: tuple[str, int]
    proxy: bool = False

    @property
    def spec(self) -> relay.TunnelSpec:
        return relay.TunnelSpec(self.kind, self.port, self.proxy)


@dataclass(frozen=True)
class Target:
    relay: tuple[str, int]
    host: str
    secret: str = field(repr=False)
    routes: tuple[LocalRoute, ...]
    fingerprint: str | None = None  # "sha256:<hex>" of the relay certificate's DER
    ca: str | None = None  # CA file; neither: the system's CAs

    @property
    def relay_text(self) -> str:
        host, port = self.relay
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Status:
    """What :meth:`TunnelClient.run` reports on each change (status file, ready line)."""

    state: State
    relay: str
    host: str
    since: float  # wall clock
    granted: tuple[Granted, ...] = ()
    error: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "relay": self.relay,
            "host": self.host,
            "since": self.since,
            "granted": [
                {"kind": g.kind, "port": g.port, "public_port": g.public_port} for g in self.granted
            ],
            "error": self.error,
        }


def fingerprint_hex(text: str) -> str:
    """The 64 hex digits of a ``sha256:...`` pin, lower-case, colons dropped."""
    return text.split(":", 1)[1].replace(":", "").lower()


def ssl_context(target: Target) -> ssl.SSLContext:
    """TLS 1.3 only. A pinned fingerprint replaces CA checks (a relay's self-signed
    certificate); it is checked after the handshake, before the secret is sent."""
    if target.fingerprint:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=target.ca or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate not trusted ({exc.verify_message})"
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


class TunnelClient:
    def __init__(
        self,
        target: Target,
        *,
        on_status: Callable[[Status], None] | None = None,
        spares: int = SPARES,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.target = target
        self.on_status = on_status
        self.spares = spares
        self.clock = clock
        self.monotonic = monotonic
        self.rand = rand
        self._ssl = ssl_context(target)
        self._routes = {(r.kind, r.port): r for r in target.routes}
        self.status = Status("connecting", target.relay_text, target.host, clock())
        self._reconnect = policy.Reconnect()
        self._nudged = asyncio.Event()
        self._session_id: str | None = None
        self._idle: set[asyncio.Task[None]] = set()  # this session's waiting spares
        self._active: set[asyncio.Task[None]] = set()  # visitors being served
        self._last_error = ""
        self._refused_logged = -REFUSED_LOG_EVERY
        self.hellos = 0  # control connections that sent a hello (tests, metrics)

    # --- the outer loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Keep the session up until cancelled; RelayRefused when refused for good."""
        try:
            while True:
                self._nudged.clear()
                try:
                    await self._session()
                    reason = "session ended"
                except RelayRefused as exc:  # the caller says it, once
                    self._set("stopped", error=str(exc))
                    raise
                except HomeportError as exc:
                    reason = str(exc)
                except (OSError, ssl.SSLError, TimeoutError) as exc:
                    reason = _reason(exc)
                except Exception:  # a bug in one session must not end the tunnel
                    log.exception("tunnel %s: session failed", self.target.host)
                    reason = "internal error (see the log)"
                self._end_session()
                self._reconnect, delay = policy.attempt_failed(
                    self._reconnect, self.monotonic(), self.rand()
                )
                immediate = self._nudged.is_set()
                if immediate:
                    delay = 0.0
                self._report_down(reason, delay)
                if delay > 0:
                    self._nudged.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._nudged.wait(), delay)
        finally:
            tasks = [*self._idle, *self._active]
            self._end_session()
            for task in tasks:
                task.cancel()
            # Every connection closed before the loop goes: none left half-open.
            await asyncio.gather(*tasks, return_exceptions=True)

    def nudge(self) -> None:
        """A route or address changed: reconnect now if waiting, probe if up."""
        self._nudged.set()

    def _set(
        self, state: State, *, granted: tuple[relay.Granted, ...] = (), error: str = ""
    ) -> None:
        if state == self.status.state and granted == self.status.granted:
            self.status = replace(self.status, error=error)
        else:
            self.status = Status(
                state, self.status.relay, self.status.host, self.clock(), granted, error
            )
        if self.on_status is not None:
            self.on_status(self.status)

    def _report_down(self, reason: str, delay: float) -> None:
        was_up = self.status.state == "up"
        # The same failure again and again (a relay down for an hour) is one warning, then
        # debug lines: the log must not grow by a line a minute.
        level = logging.WARNING if was_up or reason != self._last_error else logging.DEBUG
        self._last_error = reason
        log.log(
            level,
            "tunnel %s at %s %s: %s; retrying in %.1f s",
            self.target.host,
            self.status.relay,
            "down" if was_up else "not up",
            reason,
            delay,
        )
        self._set("down", error=reason)

    # --- one session ------------------------------------------------------------------

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The control connection (streams: a few short lines)."""
        host, port = self.target.relay
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=self._ssl, limit=relay.MAX_LINE * 2),
                CONNECT_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise TransportError(f"cannot reach the relay: {_reason(exc)}") from exc
        self._check_pin(writer.transport)
        return reader, writer

    def _check_pin(self, transport: asyncio.BaseTransport) -> None:
        """The relay's certificate is the pinned one, before anything is sent on it."""
        if not self.target.fingerprint:
            return
        sslobj = transport.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
        if der is None or hashlib.sha256(der).hexdigest() != fingerprint_hex(
            self.target.fingerprint
        ):
            transport.close()
            raise RelayRefused(
                "the relay's certificate does not match the pinned fingerprint "
                "(check `homeport server relay fingerprint` on the relay)",
                "certificate",
            )

    async def _connect_data(self) -> _Waiting:
        """A data connection to the relay, its protocol waiting for the relay's open line."""
        host, port = self.target.relay
        loop = asyncio.get_running_loop()
        try:
            transport, waiting = await asyncio.wait_for(
                loop.create_connection(_Waiting, host, port, ssl=self._ssl), CONNECT_TIMEOUT
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise TransportError(f"cannot reach the relay: {_reason(exc)}") from exc
        self._check_pin(transport)
        return waiting

    async def _session(self) -> None:
        self._set("connecting", error=self.status.error)
        reader, writer = await self._connect()
        _keepalive(writer)
        try:
            hello = relay.Hello(
                self.target.host, self.target.secret, tuple(r.spec for r in self.target.routes)
            )
            writer.write(relay.encode(hello))
            self.hellos += 1
            try:
                line = await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT)
            except (OSError, ssl.SSLError, TimeoutError, ValueError) as exc:
                raise TransportError(f"no answer to hello: {_reason(exc)}") from exc
            if not line:
                raise TransportError("the relay closed the connection after hello")
            answer = relay.decode(line)
            if isinstance(answer, relay.Error):
                raise _refusal(answer)
            if not isinstance(answer, relay.Welcome):
                raise RemoteProtocolError(f"expected welcome, got {type(answer).__name__}")
            await self._serve(answer, reader, writer)
        finally:
            writer.transport.abort()  # the session is over: nothing buffered matters

    async def _serve(
        self, welcome: relay.Welcome, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._session_id = welcome.session
        self._reconnect = policy.session_up(self._reconnect, self.monotonic())
        self._last_error = ""
        log.info(
            "tunnel %s at %s up: %s",
            self.target.host,
            self.status.relay,
            ", ".join(f"{g.kind} {g.port} -> public port {g.public_port}" for g in welcome.tunnels),
        )
        self._set("up", granted=welcome.tunnels)
        self._open_spares(self.spares)
        heard = [self.monotonic()]
        reading = asyncio.create_task(self._read_control(reader, writer, heard))
        beating = asyncio.create_task(self._heartbeat(writer, welcome.heartbeat, heard))
        try:
            done, _ = await asyncio.wait((reading, beating), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises why the session ended
        finally:
            for task in (reading, beating):
                task.cancel()
            for task in (reading, beating):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _read_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, heard: list[float]
    ) -> None:
        while True:
            try:
                line = await reader.readline()
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise TransportError(f"control connection: {_reason(exc)}") from exc
            if not line:
                raise TransportError("the relay closed the control connection")
            heard[0] = self.monotonic()
            message = relay.decode(line)
            if isinstance(message, relay.Want):
                self._open_spares(min(message.count, MAX_SPARES - len(self._idle)))
            elif isinstance(message, relay.Ping):
                writer.write(relay.encode(relay.Pong()))
            elif isinstance(message, relay.Error):
                raise _refusal(message)
            elif not isinstance(message, relay.Pong):
                raise RemoteProtocolError(f"unexpected {type(message).__name__} on control")

    async def _heartbeat(
        self, writer: asyncio.StreamWriter, heartbeat: float, heard: list[float]
    ) -> None:
        next_ping = self.monotonic() + heartbeat
        probe_sent: float | None = None  # a nudge's ping, waiting for any word back
        while True:
            now = self.monotonic()
            if policy.dead(heard[0], now, heartbeat):
                raise TransportError(f"no word from the relay for {now - heard[0]:.0f} s")
            if probe_sent is not None:
                if heard[0] >= probe_sent:
                    probe_sent = None  # it answered: the path survived the change
                elif now >= probe_sent + NUDGE_PROBE:
                    self._nudged.set()  # reconnect at once, no backoff
                    raise TransportError("no answer after an address change")
            if now >= next_ping:
                writer.write(relay.encode(relay.Ping()))
                next_ping = now + heartbeat
            wake = min(next_ping, heard[0] + heartbeat * policy.DEAD_AFTER_HEARTBEATS)
            if probe_sent is not None:
                wake = min(wake, probe_sent + NUDGE_PROBE)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), max(0.05, wake - now))
            if self._nudged.is_set():
                # Each change probes afresh: only an answer to this ping clears it.
                self._nudged.clear()
                log.info("tunnel %s: address change; checking the session", self.target.host)
                probe_sent = self.monotonic()
                writer.write(relay.encode(relay.Ping()))

    def _end_session(self) -> None:
        self._session_id = None
        for task in list(self._idle):
            task.cancel()
        self._idle.clear()

    # --- data connections -------------------------------------------------------------

    def _open_spares(self, count: int) -> None:
        session = self._session_id
        if session is None:
            return
        for _ in range(max(0, count)):
            task = asyncio.create_task(self._spare(session))
            self._idle.add(task)
            task.add_done_callback(self._idle.discard)

    async def _spare(self, session: str) -> None:
        try:
            waiting = await self._connect_data()
        except HomeportError as exc:
            log.debug("tunnel %s: spare: %s", self.target.host, exc)
            return
        except Exception:  # a bug in one spare must not reach the tunnel
            log.exception("tunnel %s: spare failed", self.target.host)
            return
        transport = waiting.transport
        assert transport is not None
        try:
            transport.write(relay.encode(relay.Spare(session)))
            line = await waiting.line
            if not line:
                transport.close()
                return  # the relay let it go (session replaced, relay stopping)
            message = relay.decode(line)
        except HomeportError as exc:
            transport.abort()
            log.debug("tunnel %s: spare: %s", self.target.host, exc)
            return
        except asyncio.CancelledError:
            transport.abort()
            raise
        # From here this connection serves a visitor: it outlives the session.
        task = asyncio.current_task()
        assert task is not None
        self._idle.discard(task)
        self._active.add(task)
        try:
            if not isinstance(message, relay.Open):
                # Not replaced: a relay that turns a spare away (it has enough parked) would
                # otherwise get a new one at once, and refuse that too, for ever.
                log.warning("tunnel %s: expected open, got %r", self.target.host, message)
                transport.close()
                return
            if session == self._session_id:
                self._open_spares(1)
            await self._visitor(message, waiting, transport)
        except asyncio.CancelledError:
            transport.abort()
            raise
        except Exception:  # one visitor's trouble must not reach the tunnel
            log.exception("tunnel %s: visitor connection failed", self.target.host)
            transport.abort()
        finally:
            self._active.discard(task)

    async def _visitor(
        self, opened: relay.Open, waiting: _Waiting, transport: asyncio.Transport
    ) -> None:
        route = self._routes.get((opened.kind, opened.port))
        if route is None:
            log.warning(
                "tunnel %s: the relay opened %s %d, which was not asked for",
                self.target.host,
                opened.kind,
                opened.port,
            )
            transport.close()
            return
        if waiting.lost:  # the relay gave up on the visitor meanwhile
            return
        loop = asyncio.get_running_loop()
        outer, inner = Pipe(loop.create_future()), Pipe(loop.create_future())
        pair(outer, inner)
        # The relay's side first (its reading stays paused), so that a service which speaks
        # as soon as it is connected is heard.
        transport.set_protocol(outer)
        outer.connection_made(transport)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: inner, *route.local), LOCAL_CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            now = self.monotonic()
            if now - self._refused_logged >= REFUSED_LOG_EVERY:
                self._refused_logged = now
                log.warning(
                    "tunnel %s: the local service %s:%d: %s (visitors get a closed connection)",
                    self.target.host,
                    *route.local,
                    _reason(exc),
                )
            transport.close()
            return
        assert inner.transport is not None
        log.debug(
            "tunnel %s: visitor %s on %s %d", self.target.host, opened.peer, route.kind, route.port
        )
        if outer.closed.done():  # the relay gave up on the visitor meanwhile
            inner.transport.close()
        # What came with the open line, then the rest as it comes.
        if waiting.buffer:
            inner.transport.write(bytes(waiting.buffer))
        transport.resume_reading()
        await wait_closed(outer, inner)


class _Waiting(asyncio.Protocol):
    """A spare data connection until the relay's ``open`` line; reading pauses there, and
    what came after the line waits in ``buffer`` for the home service."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.line: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.line.done():
            return
        end = self.buffer.find(b"\n")
        if end >= 0:
            line = bytes(self.buffer[: end + 1])
            del self.buffer[: end + 1]
            assert self.transport is not None
            self.transport.pause_reading()
            self.line.set_result(line)
        elif len(self.buffer) > relay.MAX_LINE:
            self.line.set_result(bytes(self.buffer))  # decode says it is too long

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.line.done():
            self.line.set_result(b"")


def _keepalive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux; elsewhere the system's defaults
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, KEEPALIVE_IDLE)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, KEEPALIVE_INTERVAL)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, KEEPALIVE_COUNT)


def _refusal(error: relay.Error) -> HomeportError:
    text = f"relay refused: {error.code}" + (f": {error.message}" if error.message else "")
    if error.fatal:
        return RelayRefused(text, error.code)
    return TransportError(text)
