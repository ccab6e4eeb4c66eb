"""A fixed address (ddclient's use=ip, ip=...): for tests and static setups."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Literal

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import RemoteProtocolError


class Settings(SourceSettings):
    type: Literal["static"] = "static"
    address: str

    @pydantic.field_validator("address")
    @classmethod
    def _is_address(cls, value: str) -> str:
        ip_address(value)  # ValueError becomes the user's validation message
        return value

    def describe(self) -> str:
        return self.label or f"ip:{self.address}"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    address = ip_address(settings.address)
    if address.version != family:
        raise RemoteProtocolError(f"{address} is not an IPv{family} address")
    return address
