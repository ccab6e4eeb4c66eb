"""The router's own idea of its WAN address (UPnP GetExternalIPAddress, NAT-PMP, PCP).

Placeholder: registered so configs naming it validate; it answers once
``homeport.portmap`` (issue "Router port mapping") lands. Until then it fails
honestly, and consensus reports it as a failed source rather than guessing.
Note DESIGN §6: behind CGNAT the router reports the carrier's address, which
consensus rejects (100.64.0.0/10, RFC 1918) unless allow_private.
"""

from __future__ import annotations

from typing import Literal

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import TransportError


class Settings(SourceSettings):
    type: Literal["router"] = "router"
    gateway: str | None = None  # default: the default route's gateway

    def describe(self) -> str:
        return self.label or "router"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    raise TransportError("the router source needs homeport.portmap, which is not wired yet")
