"""The relay inside ``homeport server``: its listeners, sessions, DNS switching and metrics.

Agents authenticate with their host secret through the same :class:`Login` as the
dyndns2 API (same verify, same failure budgets: a wrong secret is refused and counts
toward throttling). While a host has a live session, DNS answers the relay's public
address for it (stored, with a serial bump, so secondaries follow); when the session
ends its own addresses come back. Raw TCP ports are stored per host and tunnel port,
so a tunnel keeps its public port across reconnects and restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Final

import prometheus_client

from homeport.core.hostport import parse_hostport
from homeport.core.update_plan import AuthOutcome
from homeport.errors import ConflictError, StoreError
from homeport.proto import relay as wire
from homeport.server.auth import BasicCredentials
from homeport.server.login import Login
from homeport.server.relay.cert import ensure_cert, server_context
from homeport.server.relay.config import RelayConfig
from homeport.server.relay.native import AgentServer
from homeport.server.relay.routes import Backend, ClaimRefused, Route, RouteTable, normal_host
from homeport.server.relay.splice import STREAM_LIMIT
from homeport.server.relay.ssh import SshListener
from homeport.server.relay.visitors import Visitors, is_ipv4
from homeport.server.service import DdnsService, RelaySwitch
from homeport.server.store import AuditEntry, RelaySessionRow

log = logging.getLogger(__name__)

# The API name in failed-login lines and the auth-failure metric.
API: Final = "relay"
# A TLS handshake that never completes must not hold an agent socket (the HTTP API's
# request deadline, limits.http_request_timeout, is the same idea).
HANDSHAKE_TIMEOUT: Final = 10.0
# Login outcomes as the relay's error codes (proto/relay.py): throttled is retried later.
REFUSALS: Final = {
    AuthOutcome.BADAUTH: ("badauth", "bad host name or secret"),
    AuthOutcome.ABUSE: ("throttled", "too many failed logins: try again later"),
    AuthOutcome.THROTTLED: ("throttled", "too many failed logins: try again later"),
    AuthOutcome.BUSY: ("unavailable", "busy: try again later"),
}


class RelayMetrics:
    def __init__(self, registry: prometheus_client.CollectorRegistry, routes: RouteTable) -> None:
        prometheus_client.Gauge(
            "homeport_relay_sessions", "Hosts with a live relay session", registry=registry
        ).set_function(lambda: len(routes.hosts()))
        self.connections = prometheus_client.Counter(
            "homeport_relay_connections",
            "Visitor connections spliced to a tunnel, by host and kind",
            ["host", "kind"],
            registry=registry,
        )
        self.bytes = prometheus_client.Counter(
            "homeport_relay_bytes",
            "Bytes relayed by host and direction (in: visitor to home, out: home to visitor)",
            ["host", "direction"],
            registry=registry,
        )
        self._refused = prometheus_client.Counter(
            "homeport_relay_refused",
            "Relay connections and claims refused, by reason",
            ["reason"],
            registry=registry,
        )

    def refused(self, reason: str) -> None:
        self._refused.labels(reason).inc()


class Relay:
    """Everything the relay runs; :meth:`start` binds its listeners, :meth:`close` ends it."""

    def __init__(
        self,
        config: RelayConfig,
        data_dir: Path,
        service: DdnsService,
        login: Login,
        registry: prometheus_client.CollectorRegistry,
    ) -> None:
        self.config = config
        self.data_dir = data_dir
        self.service = service
        self.store = service.store
        self.login = login
        self.routes = RouteTable(
            config.http_ports, config.tls_ports, self._allocate, config.max_tunnels_per_host
        )
        self.routes.listeners.append(self._routes_changed)
        self.metrics = RelayMetrics(registry, self.routes)
        self.agents = AgentServer(self)
        self.visitors = Visitors(self)
        self.ssh = SshListener(self, config.ssh_listen) if config.ssh_listen else None
        self._servers: list[asyncio.Server] = []
        self._tcp: dict[int, asyncio.Server] = {}
        self._switch_lock = asyncio.Lock()
        self._since: dict[str, tuple[Backend, float]] = {}  # host -> its session, since
        self.addresses: dict[str, list[str]] = {}

    async def start(self) -> None:
        cert, key = await asyncio.to_thread(ensure_cert, self.config, self.data_dir)
        context = server_context(cert, key)
        host, port = parse_hostport(self.config.listen)
        try:
            agents = await asyncio.start_server(
                self.agents.handle,
                host,
                port,
                ssl=context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
                limit=STREAM_LIMIT,
                reuse_address=True,
            )
            self._servers.append(agents)
            self.addresses["listen"] = _bound(agents)
            if self.ssh is not None:
                self.addresses["ssh"] = await self.ssh.start()
            for kind, ports in (("http", self.config.http_ports), ("tls", self.config.tls_ports)):
                for public in ports:
                    handler = (
                        self.visitors.http(public) if kind == "http" else self.visitors.tls(public)
                    )
                    server = await asyncio.start_server(
                        handler, self.config.bind, public, limit=STREAM_LIMIT, reuse_address=True
                    )
                    self._servers.append(server)
                    self.addresses.setdefault(kind, []).extend(_bound(server))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self.ssh is not None:
            await self.ssh.close()
        for server in self._servers + list(self._tcp.values()):
            server.close()
        for backend in self.routes.backends():
            backend.close()
            # Now, while the store task still runs: DNS serves the host's own addresses
            # again (a secondary or another instance must not keep sending visitors here).
            await self.routes.release(backend)
        for server in self._servers + list(self._tcp.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 1)
        self._servers.clear()
        self._tcp.clear()

    def describe(self) -> dict[str, object]:
        return {**self.addresses, "tcp_ports": self.config.tcp_ports}

    def public_address(self, visitor: str) -> str:
        """The relay's public address in the visitor's family (for the PROXY header)."""
        if is_ipv4(visitor) or not self.config.public_ipv6:
            return self.config.public_ipv4
        return self.config.public_ipv6

    # -- sessions -------------------------------------------------------------------

    async def authenticate(
        self, host: str, secret: str, source: str | None
    ) -> tuple[str, str] | None:
        """None if ``secret`` is ``host``'s; else the error to answer (code, message).

        Exactly the dyndns2 API's check (:meth:`Login.basic`): same verify, same
        failure budgets, the same one log line per failure, never the secret.
        """
        address = None
        if source is not None:
            with contextlib.suppress(ValueError):
                address = ip_address(source)
        result = await self.login.basic(BasicCredentials(host, secret), address, API)
        principal = result.principal
        if (
            principal is not None
            and principal.kind == "host"
            and principal.name == normal_host(host)
        ):
            return None
        code, message = REFUSALS.get(result.outcome, REFUSALS[AuthOutcome.BADAUTH])
        if code == "badauth":
            await self._audit(host, "relay-refused", "badauth", source)
        return code, message

    async def claim(
        self, backend: Backend, specs: Sequence[wire.TunnelSpec], source: str | None
    ) -> tuple[wire.Granted, ...] | wire.Error:
        """Grant ``specs`` to an authenticated session, or the Error to answer."""
        try:
            return await self.routes.claim(backend.host, specs, backend)
        except ClaimRefused as exc:
            await self._audit(backend.host, "relay-refused", f"{exc.code}: {exc}", source)
            return wire.Error(exc.code, str(exc))
        except StoreError as exc:
            log.error("relay: cannot store %s's tcp ports: %s", backend.host, exc)
            return wire.Error("unavailable", "the relay cannot store its ports: try again later")

    async def release(self, backend: Backend) -> None:
        await self.routes.release(backend)

    async def _allocate(self, host: str, port: int) -> int:
        low, high = self.config.tcp_range
        try:
            public = await self.store.relay_port(host, port, low, high)
        except ConflictError:
            raise ClaimRefused("forbidden", f"tcp port {port} belongs to another host") from None
        if public is None:
            raise ClaimRefused("limit", "no free tcp port left on the relay")
        # Bound before it is granted: a port something else holds is refused, not
        # promised to the client and then silently never served.
        try:
            await self._listen_tcp(public)
        except OSError as exc:
            log.error("relay: cannot listen on tcp port %d: %s", public, exc.strerror or exc)
            raise ClaimRefused("unavailable", f"tcp port {public} is busy on the relay") from None
        return public

    async def _listen_tcp(self, port: int) -> None:
        if port not in self._tcp:
            self._tcp[port] = await asyncio.start_server(
                self.visitors.tcp(port),
                self.config.bind,
                port,
                limit=STREAM_LIMIT,
                reuse_address=True,
            )

    async def _audit(self, host: str, action: str, detail: str, source: str | None) -> None:
        entry = AuditEntry(host, action, normal_host(host), detail, source or "-", time.time())
        try:
            await self.store.append_audit([entry])
        except StoreError as exc:
            log.warning("relay: audit entry not stored: %s", exc)

    async def _routes_changed(self, host: str, routes: tuple[Route, ...]) -> None:
        """Bring tcp listeners and DNS in line with the table (serialized: last state wins)."""
        async with self._switch_lock:
            await self._reconcile_tcp()
            backend = self.routes.backend_for(host)
            current = self.routes.routes_of(host)
            if backend is not None:
                held = self._since.get(host)
                since = held[1] if held is not None and held[0] is backend else time.time()
                self._since[host] = (backend, since)
                detail = " ".join(_describe(r) for r in current)
                peer = str(getattr(backend, "peer", "-"))
                session = RelaySessionRow(
                    host, since, str(getattr(backend, "transport", "ssh")), peer, detail
                )
                switch = RelaySwitch(
                    host,
                    self.config.public_ipv4 or None,
                    self.config.public_ipv6 or None,
                    session,
                    AuditEntry(host, "relay-up", host, detail, peer, time.time()),
                )
            else:
                self._since.pop(host, None)
                switch = RelaySwitch(
                    host,
                    None,
                    None,
                    None,
                    AuditEntry(host, "relay-down", host, "", "-", time.time()),
                )
            try:
                await self.service.switch_relay(switch)
            except StoreError as exc:
                log.error("relay: DNS for %s not switched: %s", host, exc)

    async def _reconcile_tcp(self) -> None:
        wanted = {
            route.public_port
            for host in self.routes.hosts()
            for route in self.routes.routes_of(host)
            if route.kind == "tcp"
        }
        for port in sorted(set(self._tcp) - wanted):
            self._tcp.pop(port).close()
        for port in sorted(wanted - set(self._tcp)):
            try:
                await self._listen_tcp(port)
            except OSError as exc:
                log.error("relay: cannot listen on tcp port %d: %s", port, exc.strerror or exc)


def _describe(route: Route) -> str:
    if route.kind == "tcp":
        return f"tcp:{route.port}->{route.public_port}"
    return f"{route.kind}:{route.port}"


def _bound(server: asyncio.Server) -> list[str]:
    return [wire.format_peer(*s.getsockname()[:2]) for s in server.sockets]
