"""UPnP IGD shell: fetch the description, call SOAP actions (aiohttp client)."""

from __future__ import annotations

import aiohttp

from homeport.errors import RemoteProtocolError, RouterError, TransportError
from homeport.proto import soap, upnp

# Routers answer SOAP in milliseconds; a slow one still gets several seconds.
HTTP_TIMEOUT = 8.0


def new_session(timeout: float = HTTP_TIMEOUT) -> aiohttp.ClientSession:
    # trust_env stays False: a router on the LAN is never reached through an HTTP proxy.
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))


async def fetch_description(session: aiohttp.ClientSession, location: str) -> upnp.Description:
    try:
        async with session.get(location) as response:
            body = await response.read()
            if response.status != 200:
                raise RouterError(f"{location}: HTTP {response.status}", code=response.status)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransportError(f"cannot fetch the UPnP description {location}: {exc!r}") from exc
    return upnp.parse_description(body, location)


async def call(
    session: aiohttp.ClientSession, service: upnp.Service, request: soap.Request
) -> dict[str, str]:
    """Run one action; a SOAP fault raises RouterError with the UPnP error code."""
    try:
        async with session.post(
            service.control_url, data=request.body, headers=request.headers
        ) as response:
            body = await response.read()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TransportError(f"UPnP {request.action}: {exc!r}") from exc
    try:
        return soap.parse_response(request.action, body)
    except RemoteProtocolError:
        if status != 200:
            raise RouterError(f"UPnP {request.action}: HTTP {status}", code=status) from None
        raise
