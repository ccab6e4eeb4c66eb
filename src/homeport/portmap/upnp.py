"""UPnP IGD (WANIPConnection / WANPPPConnection, WANIPv6FirewallControl) behind Mapper."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address
from typing import ClassVar

import aiohttp

from homeport.errors import RemoteProtocolError, RouterError
from homeport.io import upnp as io_upnp
from homeport.portmap.base import DEFAULT_DESCRIPTION, Mapper, Mapping, MethodStatus, Pinhole
from homeport.proto import soap, upnp

CONFLICT = 718  # ConflictInMappingEntry: the external port is taken
ONLY_PERMANENT = 725  # OnlyPermanentLeasesSupported (some IGDv1 routers)
MAX_ENTRIES = 1024  # stop listing here even if a router never sends fault 713


def method_of(description: str) -> str:
    """miniupnpd labels NAT-PMP and PCP mappings; everything else came in through UPnP."""
    if description.startswith("NAT-PMP"):
        return "natpmp"
    if description.startswith("PCP"):
        return "pcp"
    return "upnp"


class UpnpMapper(Mapper):
    method: ClassVar[str] = "upnp"
    can_list: ClassVar[bool] = True

    def __init__(
        self,
        gateway: str,
        internal_host: str,
        *,
        session: aiohttp.ClientSession,
        description: upnp.Description,
        location: str,
    ) -> None:
        super().__init__(gateway, internal_host)
        connection = description.connection()
        if connection is None:
            raise RouterError(f"{location} offers no WANIPConnection/WANPPPConnection service")
        self.session = session
        self.location = location
        self.description = description
        self.service = connection

    async def _call(self, request: soap.Request) -> dict[str, str]:
        return await io_upnp.call(self.session, self.service, request)

    async def add(
        self,
        *,
        protocol: str,
        external_port: int,
        internal_port: int,
        lease: int,
        description: str = DEFAULT_DESCRIPTION,
    ) -> Mapping:
        def build(any_port: bool, lease_s: int) -> soap.Request:
            return soap.add_port_mapping(
                self.service.service_type,
                external_port=external_port,
                protocol=protocol,
                internal_port=internal_port,
                internal_client=self.internal_host,
                description=description,
                lease=lease_s,
                any_port=any_port,
            )

        granted = external_port
        try:
            await self._call(build(False, lease))
        except RouterError as exc:
            if exc.code == ONLY_PERMANENT and lease:
                lease = 0
                await self._call(build(False, 0))
            elif exc.code == CONFLICT and self.service.service_type.endswith(":2"):
                # IGDv2: let the router pick a free port, as NAT-PMP/PCP routers do.
                values = await self._call(build(True, lease))
                granted = soap.reserved_port(values, external_port)
            else:
                raise
        if lease == 0:
            # "Permanent" is the router's to define: IGDv2 routers (miniupnpd) store 604800 s.
            entry = await self.entry(protocol, granted)
            lease = entry.lease if entry is not None else 0
        return Mapping(
            protocol=protocol,
            external_port=granted,
            internal_host=self.internal_host,
            internal_port=internal_port,
            lease=lease,
            method=self.method,
            description=description,
        )

    async def remove(self, *, protocol: str, external_port: int, internal_port: int) -> None:
        await self._call(
            soap.delete_port_mapping(
                self.service.service_type, external_port=external_port, protocol=protocol
            )
        )

    async def entry(self, protocol: str, external_port: int) -> soap.PortMappingEntry | None:
        try:
            values = await self._call(
                soap.get_specific_port_mapping(
                    self.service.service_type, external_port=external_port, protocol=protocol
                )
            )
        except RouterError as exc:
            if exc.code == soap.NO_SUCH_ENTRY:
                return None
            raise
        return soap.port_mapping_entry(values, external_port=external_port, protocol=protocol)

    async def exists(self, mapping: Mapping) -> bool | None:
        found = await self.entry(mapping.protocol, mapping.external_port)
        return (
            found is not None
            and found.internal_client == mapping.internal_host
            and found.internal_port == mapping.internal_port
        )

    async def list(self) -> list[Mapping]:
        result = []
        for index in range(MAX_ENTRIES):
            try:
                values = await self._call(
                    soap.get_generic_port_mapping(self.service.service_type, index)
                )
            except RouterError as exc:
                # 713 ends the list; some IGDv1 routers answer 714 or 402 instead.
                if exc.code in (soap.END_OF_LIST, soap.NO_SUCH_ENTRY, 402):
                    break
                raise
            result.append(_as_mapping(soap.port_mapping_entry(values)))
        return result

    async def find(self, protocol: str, external_port: int) -> Mapping | None:
        """The router's mapping of one external port: a single exact question."""
        entry = await self.entry(protocol, external_port)
        return None if entry is None else _as_mapping(entry)

    async def external_ip(self) -> IPv4Address | None:
        values = await self._call(soap.get_external_ip(self.service.service_type))
        text = values.get("NewExternalIPAddress", "")
        if not text:
            return None
        try:
            addr = ip_address(text)
        except ValueError as exc:
            raise RemoteProtocolError(f"GetExternalIPAddress sent {text!r}") from exc
        return addr if isinstance(addr, IPv4Address) else None

    async def status(self) -> MethodStatus:
        values = await self._call(soap.get_status_info(self.service.service_type))
        return MethodStatus(
            method=self.method,
            answered=True,
            external_ip=await self.external_ip(),
            connection_status=values.get("NewConnectionStatus", ""),
            detail=f"{self.service.service_type.split(':')[-2]}:"
            f"{self.service.service_type.split(':')[-1]} at {self.location}",
        )

    # -- IPv6 pinholes ---------------------------------------------------------------------

    def _firewall(self) -> upnp.Service:
        service = self.description.ipv6_firewall()
        if service is None:
            raise RouterError(f"{self.location} offers no WANIPv6FirewallControl service")
        return service

    async def add_pinhole(
        self, *, internal_host: str, internal_port: int, protocol: str, lease: int
    ) -> Pinhole:
        service = self._firewall()
        values = await io_upnp.call(
            self.session,
            service,
            soap.add_pinhole(
                service.service_type,
                internal_client=internal_host,
                internal_port=internal_port,
                protocol=protocol,
                lease=lease,
            ),
        )
        return Pinhole(soap.pinhole_id(values), internal_host, internal_port, protocol, lease)

    async def update_pinhole(self, unique_id: int, lease: int) -> None:
        service = self._firewall()
        await io_upnp.call(
            self.session, service, soap.update_pinhole(service.service_type, unique_id, lease)
        )

    async def delete_pinhole(self, unique_id: int) -> None:
        service = self._firewall()
        await io_upnp.call(
            self.session, service, soap.delete_pinhole(service.service_type, unique_id)
        )


def _as_mapping(entry: soap.PortMappingEntry) -> Mapping:
    return Mapping(
        protocol=entry.protocol,
        external_port=entry.external_port,
        internal_host=entry.internal_client,
        internal_port=entry.internal_port,
        lease=entry.lease,
        method=method_of(entry.description),
        description=entry.description,
    )
