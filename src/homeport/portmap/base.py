"""The values and the one interface behind every port-mapping method (UPnP, NAT-PMP, PCP)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import ClassVar

# The order `--method auto` tries them in: PCP and NAT-PMP are one UDP exchange with the
# gateway; UPnP needs SSDP discovery and an HTTP description fetch first.
METHODS = ("pcp", "natpmp", "upnp")
PROTOCOLS = ("tcp", "udp")
# RFC 6886 §3.3 recommends 7200 s; the keeper renews at half of whatever is granted.
DEFAULT_LEASE = 7200
DEFAULT_DESCRIPTION = "homeport"


@dataclass(frozen=True)
class Mapping:
    """A port mapping as the router granted it (the external port may differ from the ask)."""

    protocol: str
    external_port: int
    internal_host: str
    internal_port: int
    lease: int
    method: str
    description: str = ""


@dataclass(frozen=True)
class Pinhole:
    """An IPv6 firewall pinhole (UPnP WANIPv6FirewallControl)."""

    unique_id: int
    internal_host: str
    internal_port: int
    protocol: str
    lease: int


@dataclass(frozen=True)
class MethodStatus:
    method: str
    answered: bool
    external_ip: IPv4Address | None = None
    connection_status: str = ""
    epoch: int | None = None
    detail: str = ""


class Mapper(ABC):
    """One method's client, bound to a gateway and our LAN address.

    Failures raise :class:`~homeport.errors.RouterError` (the router said no; ``code`` as sent)
    or :class:`~homeport.errors.TransportError` (no answer). ``reboot_detected`` turns true
    when an answer's epoch shows the router lost its state (NAT-PMP/PCP); the keeper clears it.
    """

    method: ClassVar[str]
    can_list: ClassVar[bool] = False
    reboot_detected: bool = False

    def __init__(self, gateway: str, internal_host: str) -> None:
        self.gateway = gateway
        self.internal_host = internal_host

    @abstractmethod
    async def add(
        self,
        *,
        protocol: str,
        external_port: int,
        internal_port: int,
        lease: int,
        description: str = DEFAULT_DESCRIPTION,
    ) -> Mapping: ...

    @abstractmethod
    async def remove(self, *, protocol: str, external_port: int, internal_port: int) -> None: ...

    async def list(self) -> list[Mapping]:
        raise NotImplementedError(f"{self.method} cannot list mappings")

    async def exists(self, mapping: Mapping) -> bool | None:
        """Whether the router still has ``mapping``; None when this method cannot tell."""
        return None

    @abstractmethod
    async def external_ip(self) -> IPv4Address | None: ...

    @abstractmethod
    async def status(self) -> MethodStatus: ...

    async def close(self) -> None:
        return None
