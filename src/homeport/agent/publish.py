"""Run a provider's update flow: HTTP through our small client, DNS through provider_client.

Why not ``provider_client.run_flow`` for HTTP: it needs an aiohttp session, and
aiohttp alone costs ~20 MB of resident memory, which would put the idle agent
over its budget (<= 2x ddclient's RSS, issue 3). The flow protocol is the same
(yield an exchange, receive a reply); only the HTTP transport differs, and
dry-run rendering is provider_client's own. DNS exchanges (RFC 2136) go
through ``provider_client.send_dns``, imported only when a flow yields one.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

from homeport.errors import LocalError, RemoteError, TransportError
from homeport.providers.base import (
    Flow,
    HostUpdate,
    HttpExchange,
    HttpReply,
    Provider,
    Status,
    UpdateResult,
)


def _provider_client() -> Any:
    # Imported by name: it lands from the providers branch and pulls dnspython when used.
    return importlib.import_module("homeport.io.provider_client")


async def _send_http(exchange: HttpExchange, time_limit: float) -> HttpReply:
    from homeport.io import http

    try:
        response = await http.request(
            exchange.method,
            exchange.url,
            headers=exchange.headers,
            body=exchange.body,
            time_limit=time_limit,
        )
    except TransportError as exc:
        message = exc.message
        for secret in exchange.secrets:
            if secret:
                message = message.replace(secret, "[redacted]")
        raise TransportError(message) from exc
    reply = HttpReply(response.status, response.body, response.headers)
    # A provider that echoes our request in an error must not put a secret into a result.
    redacted: HttpReply = _provider_client().redact_reply(reply, exchange.secrets)
    return redacted


async def update(
    provider: Provider, hosts: Sequence[HostUpdate], *, time_limit: float
) -> list[UpdateResult]:
    """One result per host; network trouble is RETRY, a flow's own LocalError is FATAL."""
    try:
        return await drive(provider.update(hosts), time_limit=time_limit)
    except RemoteError as exc:
        code = "transport" if isinstance(exc, TransportError) else "badresponse"
        return [UpdateResult(h.hostname, Status.RETRY, code, exc.message) for h in hosts]
    except LocalError as exc:
        # The provider refused our own request (bad setting): retrying cannot help.
        return [UpdateResult(h.hostname, Status.FATAL, "config", exc.message) for h in hosts]


async def drive(flow: Flow, *, time_limit: float) -> list[UpdateResult]:
    """Run ``flow`` to its end (an update, a TXT change); RemoteError when the wire failed."""
    try:
        exchange = next(flow)
        while True:
            reply: Any
            if isinstance(exchange, HttpExchange):
                reply = await _send_http(exchange, time_limit)
            else:
                reply = await _provider_client().send_dns(exchange, time_limit)
            exchange = flow.send(reply)
    except StopIteration as done:
        results: list[UpdateResult] = done.value
        return results
    finally:
        flow.close()


def render(provider: Provider, hosts: Sequence[HostUpdate]) -> list[str]:
    """The exact requests ``hosts`` would cause, secrets redacted (for --dry-run)."""
    rendered: list[str] = _provider_client().render_flow_dry_run(provider.update(hosts))
    return rendered
