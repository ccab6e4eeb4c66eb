"""The relay's route table: which live session serves which public entry point.

Both transports (the native TLS one, ``ssh -R``) plug in the same way: a session that
authenticated as a host calls :meth:`RouteTable.claim` with the tunnels it wants and a
:class:`Backend` that opens a byte pipe to the home service for one visitor; the
public listeners call :meth:`RouteTable.lookup` (http by Host, tls by SNI) or
:meth:`RouteTable.lookup_tcp` (raw TCP by public port) and then ``backend.open(...)``.

A host has at most one session: a new claim for a host replaces the old one (its
backend is closed). That is how a reconnect after a router redial wins over a
half-dead old control connection the relay has not yet noticed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Final, Protocol

from homeport.errors import HomeportError
from homeport.proto.relay import Granted, Kind, TunnelSpec

log = logging.getLogger(__name__)

# A hello asking for more than this is not a tunnel client, whatever the host's limit.
MAX_TUNNELS_PER_CLAIM: Final = 64


class Backend(Protocol):
    """One live session of a host (a native control connection or an ssh connection)."""

    host: str  # the fully qualified host name, lower-case, with its trailing dot

    async def open(
        self, kind: Kind, port: int, peer: tuple[str, int]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A byte pipe to the home service for one visitor; raises TransportError."""
        ...

    def close(self) -> None:
        """End the session (replaced by a newer one, or the relay stops); returns at once."""
        ...


class ClaimRefused(HomeportError):
    """A claim the relay will not grant; ``code`` is one of proto.relay.ERROR_CODES."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Route:
    """One granted public entry point and the session serving it."""

    host: str
    kind: Kind
    port: int  # the tunnel's port as granted (TunnelSpec.port; 0 for tcp means "any")
    public_port: int  # where visitors connect at the relay
    proxy: bool  # a PROXY v2 header goes before the visitor's bytes
    backend: Backend


# (host, tcp tunnel port) -> the host's stored public port for it. A port inside the relay's
# tcp range is the public port wanted (refused if another host holds it); any other port
# (0, or ssh -R's 888) names the tunnel, which gets a port of its own from the range, kept
# across reconnects. Raises ClaimRefused (another host's port, range used up).
Allocator = Callable[[str, int], Awaitable[int]]
# Told of every change: (host, routes now served for it; empty when the host went away).
Listener = Callable[[str, tuple[Route, ...]], Awaitable[None]]


class RouteTable:
    """Live routes by (kind, listener port, host name) and by public tcp port."""

    def __init__(
        self,
        http_ports: Iterable[int],
        tls_ports: Iterable[int],
        allocate: Allocator,
        max_tunnels_per_host: int = 8,
    ) -> None:
        self.http_ports = frozenset(http_ports)
        self.tls_ports = frozenset(tls_ports)
        self.allocate = allocate
        self.max_tunnels = max_tunnels_per_host
        self._by_host: dict[str, tuple[Route, ...]] = {}
        self._backends: dict[str, Backend] = {}
        self._names: dict[tuple[Kind, int, str], Route] = {}
        self._tcp: dict[int, Route] = {}
        self._lock = asyncio.Lock()
        self.listeners: list[Listener] = []

    async def claim(
        self, host: str, specs: Iterable[TunnelSpec], backend: Backend
    ) -> tuple[Granted, ...]:
        """Grant ``specs`` to ``backend`` (already authenticated as ``host``).

        Replaces the host's previous session, if any (its backend is closed).
        Raises :class:`ClaimRefused` and grants nothing when any spec cannot be granted.
        """
        host = normal_host(host)
        if normal_host(backend.host) != host:
            raise ClaimRefused("forbidden", "a session may only claim its own host name")
        wanted = tuple(dict.fromkeys(specs))  # the same tunnel twice is one tunnel
        if not wanted:
            raise ClaimRefused("badrequest", "no tunnels asked for")
        if len(wanted) > min(self.max_tunnels, MAX_TUNNELS_PER_CLAIM):
            raise ClaimRefused("limit", f"at most {self.max_tunnels} tunnels per host")
        async with self._lock:
            routes: list[Route] = []
            for spec in wanted:
                routes.append(await self._route(host, spec, backend))
            seen: set[tuple[Kind, int]] = set()
            for route in routes:
                key = (route.kind, route.public_port)
                if key in seen:
                    raise ClaimRefused("badrequest", f"{route.kind} {route.port} asked twice")
                seen.add(key)
            old = self._backends.get(host)
            if old is not None and old is not backend:
                self._drop(host)
                old.close()
            self._install(host, tuple(routes), backend)
        await self._tell(host, tuple(routes))
        return tuple(Granted(r.kind, r.port, r.public_port) for r in routes)

    async def _route(self, host: str, spec: TunnelSpec, backend: Backend) -> Route:
        if spec.kind == "http" and spec.port not in self.http_ports:
            raise ClaimRefused("forbidden", f"no http listener on port {spec.port}")
        if spec.kind == "tls" and spec.port not in self.tls_ports:
            raise ClaimRefused("forbidden", f"no tls listener on port {spec.port}")
        if spec.kind in ("http", "tls"):
            return Route(host, spec.kind, spec.port, spec.port, spec.proxy, backend)
        public = await self.allocate(host, spec.port)
        holder = self._tcp.get(public)
        if holder is not None and holder.host != host:
            raise ClaimRefused("forbidden", f"tcp port {public} belongs to another host")
        return Route(host, "tcp", spec.port, public, spec.proxy, backend)

    def _install(self, host: str, routes: tuple[Route, ...], backend: Backend) -> None:
        self._backends[host] = backend
        self._by_host[host] = routes
        for route in routes:
            if route.kind == "tcp":
                self._tcp[route.public_port] = route
            else:
                self._names[(route.kind, route.public_port, host)] = route

    def _drop(self, host: str) -> tuple[Route, ...]:
        self._backends.pop(host, None)
        routes = self._by_host.pop(host, ())
        for route in routes:
            if route.kind == "tcp":
                if self._tcp.get(route.public_port) is route:
                    del self._tcp[route.public_port]
            else:
                self._names.pop((route.kind, route.public_port, host), None)
        return routes

    async def release(self, backend: Backend) -> bool:
        """Remove ``backend``'s routes if it still holds them (not already replaced)."""
        host = normal_host(backend.host)
        async with self._lock:
            if self._backends.get(host) is not backend:
                return False
            self._drop(host)
        await self._tell(host, ())
        return True

    def lookup(self, kind: Kind, listener_port: int, name: str) -> Route | None:
        """The route for a visitor at ``listener_port`` who named ``name`` (Host or SNI)."""
        return self._names.get((kind, listener_port, normal_host(name)))

    def lookup_tcp(self, public_port: int) -> Route | None:
        return self._tcp.get(public_port)

    def backend_for(self, host: str) -> Backend | None:
        return self._backends.get(normal_host(host))

    def routes_of(self, host: str) -> tuple[Route, ...]:
        return self._by_host.get(normal_host(host), ())

    def hosts(self) -> list[str]:
        return sorted(self._backends)

    def backends(self) -> list[Backend]:
        return list(self._backends.values())

    async def _tell(self, host: str, routes: tuple[Route, ...]) -> None:
        for listener in list(self.listeners):
            try:
                await listener(host, routes)
            except Exception:  # one listener's failure must not stop the others
                log.exception("relay route listener failed for %s", host)


def normal_host(name: str) -> str:
    """A host name as the store keeps it: lower-case, with one trailing dot."""
    return name.strip().lower().rstrip(".") + "."
