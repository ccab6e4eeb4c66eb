"""Stock ``ssh -R`` into the relay (``[relay] ssh_listen``): a machine with only OpenSSH
keeps a tunnel, no homeport at home.

``ssh -N -R 888:127.0.0.1:8080 NAME@relay -p 2222``: the user name is the host name;
the password is the host's secret, checked exactly as the dyndns2 API and the native
transport check it (:meth:`Relay.authenticate`: same verify, same shared failure
budgets), or the client holds a key registered with ``homeport server host ssh-key add``.
Each remote forward is a tunnel claimed in the route table like a native one: a port
in ``http_ports`` is routed by Host, in ``tls_ports`` by SNI, any other is raw TCP on
the host's stored public port (``-R 0:...`` asks for "any" and OpenSSH prints the port
it got). A visitor becomes one ``forwarded-tcpip`` channel on the ssh connection.

Nothing else is offered: no shell, command or subsystem (a session is answered with a
one-line hint and exit status 1), no ``-L``/``-D``/``-W`` (refused with a message).
asyncssh's keepalives notice a dead client (silent for 4/3 x ``[relay] heartbeat``);
the session's routes go with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

import asyncssh

from homeport.core.hostport import parse_hostport
from homeport.errors import ConfigError, TransportError
from homeport.proto import relay as wire
from homeport.proto.relay import Kind, TunnelSpec
from homeport.server.relay.routes import normal_host
from homeport.server.relay.splice import STREAM_LIMIT
from homeport.server.relay.ssh_keys import fingerprint_of, host_key

if TYPE_CHECKING:
    from homeport.server.relay.hub import Relay

log = logging.getLogger(__name__)

# A keepalive every heartbeat/3 while the client is silent; asyncssh ends the session at
# the tick after KEEPALIVE_COUNT_MAX unanswered ones: silence for 4/3 x heartbeat (40 s
# by default), the native transport's rule for a dead peer.
KEEPALIVES_PER_HEARTBEAT: Final = 3
KEEPALIVE_COUNT_MAX: Final = 3
# From connecting to authenticated. OpenSSH's sshd allows 120 s (LoginGraceTime) for a
# human typing; a tunnel client answers at once, and a slow one holds a socket.
LOGIN_TIMEOUT: Final = 30.0
# Where a refused shell, command or forward points the user.
HINT: Final = (
    "homeport relay: tunnels only (no shell, commands or -L);"
    " use: ssh -N -R PORT:LOCALHOST:LOCALPORT NAME@relay"
)
TRANSPORT: Final = "ssh"


class SshListener:
    """The ``ssh_listen`` server; one :class:`SshSession` per client connection."""

    def __init__(self, relay: Relay, listen: str) -> None:
        self.relay = relay
        self.host, self.port = parse_hostport(listen)
        self.sessions: set[SshSession] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None

    async def start(self) -> list[str]:
        """Listen; the bound addresses ("host:port")."""
        # asyncssh logs every connection, channel and visitor address at INFO; our own
        # lines (login, forwards) say what an operator needs.
        logging.getLogger("asyncssh").setLevel(logging.WARNING)
        key = await asyncio.to_thread(host_key, self.relay.data_dir)
        try:
            self._acceptor = await asyncssh.create_server(
                lambda: SshSession(self),
                self.host,
                self.port,
                server_host_keys=[key],
                keepalive_interval=self.relay.config.heartbeat / KEEPALIVES_PER_HEARTBEAT,
                keepalive_count_max=KEEPALIVE_COUNT_MAX,
                login_timeout=LOGIN_TIMEOUT,
                # Only what ssh -R needs: no agent, X11 or terminal forwarding.
                agent_forwarding=False,
                x11_forwarding=False,
                allow_pty=False,
                kbdint_auth=False,
                reuse_address=True,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on ssh_listen {self.host}:{self.port}: {exc}"
            ) from exc
        return [wire.format_peer(str(a[0]), int(a[1])) for a in self._acceptor.get_addresses()]

    async def close(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for session in list(self.sessions):
            session.close()
        if self._acceptor is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._acceptor.wait_closed(), 1)
            self._acceptor = None


class SshSession(asyncssh.SSHServer):
    """One client connection: its authentication, its forwards, and the Backend it is."""

    def __init__(self, listener: SshListener) -> None:
        self.listener = listener
        self.relay = listener.relay
        self.host = ""  # the host name it logs in as (normalized); Backend.host
        self.transport = TRANSPORT
        self.peer = "-"
        self._source: str | None = None
        self._via = ""  # how it authenticated, for the log line
        self._conn: asyncssh.SSHServerConnection | None = None
        self._closed = False
        # Forwards by what the client asked (listen host, port) -> the tunnel they claim,
        # and per tunnel where OpenSSH expects its channels (listen host, port it knows).
        self._forwards: dict[tuple[str, int], TunnelSpec] = {}
        self._targets: dict[tuple[Kind, int], tuple[str, int]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- connection ---------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conn = conn
        self.listener.sessions.add(self)
        peer = conn.get_extra_info("peername")
        if peer:
            self._source = str(peer[0])
            self.peer = wire.format_peer(str(peer[0]), int(peer[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self.listener.sessions.discard(self)
        if self._via:
            # asyncssh's reason ("Client not responding to keepalive", "Connection lost").
            log.info("relay ssh: %s session ended: %s", self.host, exc or "closed")
        if self._forwards:
            self._forwards.clear()
            self._spawn(self._release())

    def close(self) -> None:
        """Backend.close: replaced by a newer session of the host, or the relay stops."""
        if self._conn is not None and not self._closed:
            self._conn.disconnect(asyncssh.DISC_BY_APPLICATION, "homeport relay: session ended")

    async def _release(self) -> None:
        await self.relay.release(self)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- authentication -------------------------------------------------------------

    def begin_auth(self, username: str) -> bool:
        self.host = normal_host(username)
        return True  # always: there is no anonymous tunnel

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        refused = await self.relay.authenticate(username, password, self._source)
        if refused is None:
            self._via = "password"
            return True
        code, message = refused
        if code != "badauth" and self._conn is not None:
            # Throttled (or busy): no more guesses on this connection, and say why.
            self._conn.disconnect(
                asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, f"homeport relay: {message}"
            )
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Read at each login, not cached: a key removed by `host ssh-key rm` stops at once.
        # A key that is not registered is no guess at a secret: it is not charged to the
        # failure budgets (OpenSSH offers every key it has, one after another).
        fingerprint = fingerprint_of(key)
        rows = await self.relay.store.ssh_keys(normal_host(username))
        if any(row.fingerprint == fingerprint for row in rows):
            self._via = f"key {fingerprint}"
            return True
        return False

    def auth_completed(self) -> None:
        log.info("relay ssh: %s logged in from %s (%s)", self.host, self.peer, self._via)

    def kbdint_auth_supported(self) -> bool:
        return False

    # -- what is refused ------------------------------------------------------------

    def session_requested(self) -> asyncssh.SSHServerSession[str]:
        return _Refusal()

    def connection_requested(
        self, dest_host: str, dest_port: int, orig_host: str, orig_port: int
    ) -> bool:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, HINT)

    def unix_connection_requested(self, dest_path: str) -> bool:
        raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, HINT)

    def unix_server_requested(self, listen_path: str) -> bool:
        return False

    # -- remote forwards: the tunnels -------------------------------------------------

    async def server_requested(
        self, listen_host: str, listen_port: int
    ) -> asyncssh.SSHListener | bool:
        """``-R [listen_host:]listen_port:...``: claim the tunnel it names."""
        async with self._lock:
            if self._closed:
                return False
            spec = TunnelSpec(self._kind(listen_port), listen_port)
            wanted = {**self._forwards, (listen_host, listen_port): spec}
            granted = await self.relay.claim(self, tuple(wanted.values()), self._source)
            if isinstance(granted, wire.Error):
                log.info(
                    "relay ssh: %s forward of port %d refused: %s",
                    self.host,
                    listen_port,
                    granted.message,
                )
                return False
            self._forwards = wanted
            public = _public_port(granted, spec)
            # OpenSSH matches a forwarded channel to its -R by the port it knows: the one
            # it asked for, or for 0 the one the reply told it.
            self._targets[(spec.kind, spec.port)] = (listen_host, listen_port or public)
            log.info(
                "relay ssh: %s %s %d -> public port %d", self.host, spec.kind, listen_port, public
            )
            return _Forward(self, (listen_host, listen_port), public)

    def _kind(self, port: int) -> Kind:
        if port in self.relay.routes.http_ports:
            return "http"
        if port in self.relay.routes.tls_ports:
            return "tls"
        return "tcp"

    def _cancel(self, forward: tuple[str, int]) -> None:
        """A forward's listener closed (``cancel-tcpip-forward``, or the connection ended)."""
        if not self._closed:
            self._spawn(self._unforward(forward))

    async def _unforward(self, forward: tuple[str, int]) -> None:
        async with self._lock:
            spec = self._forwards.pop(forward, None)
            if self._closed or spec is None:
                return
            if spec not in self._forwards.values():
                self._targets.pop((spec.kind, spec.port), None)
            if not self._forwards:
                await self.relay.release(self)
                return
            granted = await self.relay.claim(self, tuple(self._forwards.values()), self._source)
            if isinstance(granted, wire.Error):  # cannot happen for a subset; be safe
                await self.relay.release(self)

    async def open(
        self, kind: Kind, port: int, peer: tuple[str, int]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Backend.open: a ``forwarded-tcpip`` channel to the client for one visitor."""
        target = self._targets.get((kind, port))
        if self._conn is None or self._closed or target is None:
            raise TransportError(f"no ssh forward for {kind} port {port}")
        reader = asyncio.StreamReader(limit=STREAM_LIMIT)
        protocol = asyncio.StreamReaderProtocol(reader)
        session = _ChannelSession(protocol)
        try:
            await self._conn.create_connection(
                lambda: session, target[0], target[1], peer[0], peer[1]
            )
        except (asyncssh.Error, OSError) as exc:
            raise TransportError(f"ssh forward for {kind} port {port} refused: {exc}") from exc
        assert session.transport is not None  # set when the channel opened
        loop = asyncio.get_running_loop()
        return reader, asyncio.StreamWriter(session.transport, protocol, reader, loop)


def _public_port(granted: Iterable[wire.Granted], spec: TunnelSpec) -> int:
    for g in granted:
        if (g.kind, g.port) == (spec.kind, spec.port):
            return g.public_port
    return spec.port


class _Forward(asyncssh.SSHListener):
    """What asyncssh keeps for one remote forward: closing it gives the tunnel up."""

    def __init__(self, session: SshSession, forward: tuple[str, int], public_port: int) -> None:
        super().__init__()
        self._session = session
        self._forward = forward
        self._public_port = public_port

    def get_port(self) -> int:
        return self._public_port

    def close(self) -> None:
        self._session._cancel(self._forward)

    async def wait_closed(self) -> None:
        return None


class _Refusal(asyncssh.SSHServerSession[str]):
    """A session channel (a shell, a command): one line of hint on stderr, exit status 1."""

    def __init__(self) -> None:
        self._channel: asyncssh.SSHServerChannel[str] | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[str]) -> None:
        self._channel = chan

    def pty_requested(self, term_type: str, term_size: Any, term_modes: Any) -> bool:
        return False

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        return False

    def session_started(self) -> None:
        if self._channel is not None:
            self._channel.write_stderr(HINT + "\r\n")
            self._channel.exit(1)


class _ChannelSession(asyncssh.SSHTCPSession[bytes]):
    """A forwarded channel's events, handed to an asyncio stream protocol."""

    def __init__(self, protocol: asyncio.StreamReaderProtocol) -> None:
        self._protocol = protocol
        self.transport: _ChannelTransport | None = None

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self.transport = _ChannelTransport(chan)
        self._protocol.connection_made(self.transport)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._protocol.data_received(data)

    def eof_received(self) -> bool:
        return bool(self._protocol.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()


class _ChannelTransport(asyncio.Transport):
    """An ssh channel as an asyncio transport, so the splice sees ordinary streams
    (flow control included: the channel's window pauses and resumes the writer)."""

    def __init__(self, channel: asyncssh.SSHTCPChannel[bytes]) -> None:
        super().__init__()
        self._channel = channel
        self._reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._channel.write(bytes(data))

    def write_eof(self) -> None:
        self._channel.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._channel.close()

    def abort(self) -> None:
        self._channel.abort()

    def is_closing(self) -> bool:
        return self._channel.is_closing()

    def pause_reading(self) -> None:
        self._reading = False
        self._channel.pause_reading()

    def resume_reading(self) -> None:
        self._reading = True
        self._channel.resume_reading()

    def is_reading(self) -> bool:
        return self._reading

    def get_write_buffer_size(self) -> int:
        return self._channel.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._channel.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._channel.get_extra_info(name, default)
