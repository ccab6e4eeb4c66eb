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


# Echo services move (http -> https, new host); a short chain is normal, a long one is a loop.
MAX_REDIRECTS = 3


async def detect(settings: Settings, family: Family, time_limit: float) -> Address:
    from urllib.parse import urljoin

    from homeport.io import http
    from homeport.proto import checkip

    url = settings.url
    for _ in range(MAX_REDIRECTS + 1):
        response = await http.request("GET", url, time_limit=time_limit, family=family)
        location = response.header("location")
        if response.status not in (301, 302, 303, 307, 308) or not location:
            break
        url = urljoin(url, location)
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
