"""Web checkip: GET a URL, skip past a pattern, take the first address (ddclient's use=web)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

import pydantic

from homeport.agent.sources import Address, Family, SourceSettings
from homeport.errors import RemoteProtocolError


class Settings(SourceSettings):
    type: Literal["web"] = "web"
    url: str = pydantic.Field(pattern=r"^https?://")
    skip: str = ""  # ddclient's web-skip: the address is the first one after this text
    format: Literal["auto", "plain", "html", "json"] = "auto"
    json_key: str = ""

    def describe(self) -> str:
        return self.label or f"web:{urlsplit(self.url).netloc}"


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    from homeport.io import http
    from homeport.proto import checkip

    response = await http.request("GET", settings.url, time_limit=time_limit, family=family)
    if response.status != 200:
        raise RemoteProtocolError(f"HTTP {response.status}")
    return checkip.parse(
        response.text,
        family,
        skip=settings.skip,
        fmt=settings.format,
        json_key=settings.json_key,
        content_type=response.header("content-type"),
    )
