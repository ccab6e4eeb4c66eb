"""The home router as homeport sees it: gateway discovery, the three methods, the verdict.

``Router`` finds the gateway and our LAN address from the routing table (or takes ``gateway``),
opens each method's :class:`Mapper` on demand (UPnP needs SSDP discovery and the description),
adds mappings with ``auto`` trying PCP, NAT-PMP, then UPnP, and judges CGNAT/double NAT from
the evidence (core/mapping.py).
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from ipaddress import IPv4Address, ip_address
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from homeport.core.mapping import NatEvidence, NatVerdict, Refusal, nat_verdict
from homeport.errors import (
    HomeportError,
    NoMappingPossible,
    RemoteProtocolError,
    RouterError,
    TransportError,
    UsageError,
)
from homeport.io import routes, ssdp
from homeport.portmap.base import METHODS, Mapper, Mapping, MethodStatus
from homeport.portmap.natpmp import NatPmpMapper
from homeport.portmap.pcp import NonceStore, PcpMapper

if TYPE_CHECKING:
    import aiohttp

    from homeport.portmap.upnp import UpnpMapper

# The status probe maps a UDP port for this long and deletes it at once; short so that a probe
# left behind (the process killed in between) does not linger.
PROBE_LEASE = 60
PROBE_PORT_RANGE = (49152, 65535)  # IANA dynamic ports: not a service anyone exposes


@dataclass(frozen=True)
class RouterStatus:
    gateway: str
    internal_host: str
    methods: tuple[MethodStatus, ...]
    external_ip: IPv4Address | None
    connection_status: str
    verdict: NatVerdict


class Router:
    def __init__(
        self,
        gateway: str | None = None,
        *,
        nonces: NonceStore | None = None,
        upnp_location: str | None = None,
        keeper: bool = False,
    ) -> None:
        if gateway is not None:
            try:
                ip_address(gateway)  # never a name: resolving it would send DNS queries
            except ValueError as exc:
                raise UsageError(f"--gateway must be an IP address, not {gateway!r}") from exc
        found = gateway or routes.default_gateway_v4()
        if found is None:
            raise UsageError("no IPv4 default gateway in the routing table; pass --gateway IP")
        self.gateway = str(found)
        self.internal_host = routes.source_address(self.gateway)
        self.nonces = nonces
        self.upnp_location = upnp_location
        self.keeper = keeper  # long-running: the RFCs' full retransmission schedules
        self._session: aiohttp.ClientSession | None = None
        self._mappers: dict[str, Mapper] = {}

    async def mapper(self, method: str) -> Mapper:
        if method not in METHODS:
            raise UsageError(f"unknown method {method!r} (choose from {', '.join(METHODS)})")
        if method in self._mappers:
            return self._mappers[method]
        made: Mapper
        if method == "pcp":
            made = PcpMapper(
                self.gateway,
                self.internal_host,
                nonces=self.nonces,
                **({"max_duration": 60.0} if self.keeper else {}),
            )
        elif method == "natpmp":
            made = NatPmpMapper(
                self.gateway, self.internal_host, **({"tries": 9} if self.keeper else {})
            )
        else:
            made = await self._open_upnp()
        self._mappers[method] = made
        return made

    async def _open_upnp(self) -> UpnpMapper:
        # aiohttp is imported only when UPnP is used: it is half of a NAT-PMP/PCP command's
        # start-up time (bench/map_latency.py).
        from homeport.io import upnp as io_upnp
        from homeport.portmap.upnp import UpnpMapper

        location = self.upnp_location
        if location is None:
            found = await ssdp.discover(local_ip=self.internal_host, gateway=self.gateway)
            location = found.location
        if self._session is None:
            self._session = io_upnp.new_session()
        description = await io_upnp.fetch_description(self._session, location)
        return UpnpMapper(
            self.gateway,
            self.internal_host,
            session=self._session,
            description=description,
            location=location,
        )

    async def upnp(self) -> UpnpMapper:
        from homeport.portmap.upnp import UpnpMapper

        mapper = await self.mapper("upnp")
        assert isinstance(mapper, UpnpMapper)
        return mapper

    async def upnp_v6(self) -> UpnpMapper:
        """The UPnP mapper reached over IPv6: routers authorise a pinhole only for the address
        the request came from (miniupnpd secure_mode -> 606), so the SOAP calls must use IPv6.
        Found by SSDP over IPv6 on the default route's interface (the answer names the
        router's IPv6 URL), else by putting the global IPv6 gateway into the IPv4 URLs."""
        from homeport.io import upnp as io_upnp
        from homeport.portmap.upnp import UpnpMapper

        route = routes.default_route_v6()
        if route is None:
            raise UsageError("this host has no IPv6 default route")
        gateway6, interface = route
        if self._session is None:
            self._session = io_upnp.new_session()
        if self.upnp_location is not None and "[" in self.upnp_location:
            location = self.upnp_location
        else:
            try:
                hop = None if gateway6.is_link_local else str(gateway6)
                location = (await ssdp.discover_v6(interface, gateway=hop)).location
            except TransportError:
                if gateway6.is_link_local:
                    raise UsageError(
                        "no IGD answered over IPv6; pass --upnp-url "
                        "http://[ROUTER-IPV6]:PORT/rootDesc.xml"
                    ) from None
                base = await self.upnp()
                parts = urlsplit(base.location)
                location = parts._replace(netloc=f"[{gateway6}]:{parts.port or 80}").geturl()
        description = await io_upnp.fetch_description(self._session, location)
        return UpnpMapper(
            str(gateway6),
            self.internal_host,
            session=self._session,
            description=description,
            location=location,
        )

    async def add(
        self,
        *,
        method: str,
        protocol: str,
        external_port: int,
        internal_port: int,
        lease: int,
        description: str,
    ) -> Mapping:
        """Add with one method, or with ``auto`` the first that grants. All refusing with
        CGNAT-style codes raises NoMappingPossible with the explanation."""
        order = METHODS if method == "auto" else (method,)
        errors: list[str] = []
        answered: list[str] = []
        refusals: list[Refusal] = []
        for name in order:
            try:
                mapper = await self.mapper(name)
                mapping = await mapper.add(
                    protocol=protocol,
                    external_port=external_port,
                    internal_port=internal_port,
                    lease=lease,
                    description=description,
                )
            except RouterError as exc:
                answered.append(name)
                if isinstance(exc.code, int):
                    refusals.append(Refusal(name, exc.code))
                errors.append(str(exc))
                continue
            except (TransportError, RemoteProtocolError) as exc:
                errors.append(f"{name}: {exc}")
                continue
            return mapping
        verdict = nat_verdict(NatEvidence(answered=tuple(answered), refusals=tuple(refusals)))
        if not verdict.mapping_possible:
            raise NoMappingPossible(verdict.explanation(), code="cgnat")
        if not answered:
            raise TransportError("no port-mapping method answered: " + "; ".join(errors))
        raise RouterError("; ".join(errors), code=refusals[-1].code if refusals else "")

    async def status(self, observed_public_ip: IPv4Address | None = None) -> RouterStatus:
        """Ask every method; probe each that answers with a short UDP mapping (then delete
        it), because a router behind CGNAT looks healthy until it is asked to map."""
        statuses: list[MethodStatus] = []
        answered: list[str] = []
        granted: list[str] = []
        refusals: list[Refusal] = []
        external: IPv4Address | None = None
        connection = ""
        probe_port = PROBE_PORT_RANGE[0] + secrets.randbelow(
            PROBE_PORT_RANGE[1] - PROBE_PORT_RANGE[0]
        )
        for name in METHODS:
            try:
                mapper = await self.mapper(name)
                state = await mapper.status()
            except (TransportError, RemoteProtocolError) as exc:
                statuses.append(MethodStatus(name, answered=False, detail=str(exc)))
                continue
            except RouterError as exc:
                statuses.append(MethodStatus(name, answered=False, detail=str(exc)))
                continue
            answered.append(name)
            try:
                probe = await mapper.add(
                    protocol="udp",
                    external_port=probe_port,
                    internal_port=probe_port,
                    lease=PROBE_LEASE,
                    description="homeport probe",
                )
            except RouterError as exc:
                if isinstance(exc.code, int):
                    refusals.append(Refusal(name, exc.code))
                state = _with_detail(state, f"refused a probe mapping: {exc}")
            except HomeportError as exc:
                state = _with_detail(state, f"probe failed: {exc}")
            else:
                granted.append(name)
                ext_ip = await mapper.external_ip() if name == "pcp" else state.external_ip
                state = MethodStatus(
                    state.method, True, ext_ip, state.connection_status, state.epoch, state.detail
                )
                with contextlib.suppress(HomeportError):  # its short lease ends it anyway
                    await mapper.remove(
                        protocol="udp",
                        external_port=probe.external_port,
                        internal_port=probe.internal_port,
                    )
            statuses.append(state)
            external = external or state.external_ip
            connection = connection or state.connection_status
        verdict = nat_verdict(
            NatEvidence(
                router_external_ip=external,
                observed_public_ip=observed_public_ip,
                answered=tuple(answered),
                granted=tuple(granted),
                refusals=tuple(refusals),
            )
        )
        return RouterStatus(
            gateway=self.gateway,
            internal_host=self.internal_host,
            methods=tuple(statuses),
            external_ip=external,
            connection_status=connection,
            verdict=verdict,
        )

    async def close(self) -> None:
        for mapper in self._mappers.values():
            await mapper.close()
        if self._session is not None:
            await self._session.close()
            self._session = None


def _with_detail(state: MethodStatus, detail: str) -> MethodStatus:
    return MethodStatus(
        state.method,
        state.answered,
        state.external_ip,
        state.connection_status,
        state.epoch,
        detail,
    )
