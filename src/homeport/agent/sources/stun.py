"""STUN (RFC 5389): a Binding request tells us the address our packets come from."""

from __future__ import annotations

from typing import Literal

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings

# Port 3478 is STUN's registered port (RFC 5389 §18.4).
DEFAULT_PORT = 3478


class Settings(SourceSettings):
    type: Literal["stun"] = "stun"
    server: str
    port: int = pydantic.Field(default=DEFAULT_PORT, ge=1, le=65535)

    def describe(self) -> str:
        return self.label or f"stun:{self.server}"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    from homeport.io import stun

    mapped = await stun.binding(
        settings.server, settings.port, family=family, time_limit=time_limit
    )
    return mapped.address
