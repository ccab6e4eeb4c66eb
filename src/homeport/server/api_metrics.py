"""``GET /metrics``: Prometheus text, behind a bearer token when ``metrics_token`` is set."""

from __future__ import annotations

import hmac

import prometheus_client
from aiohttp import web

from homeport.server.context import ApiContext


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    async def metrics(request: web.Request) -> web.Response:
        token = ctx.config.metrics_token
        if token is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, f"Bearer {token}".encode()):
                raise web.HTTPUnauthorized(
                    text="metrics need a bearer token\n", headers={"WWW-Authenticate": "Bearer"}
                )
        body = prometheus_client.generate_latest(ctx.registry)
        return web.Response(
            body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
        )

    return [web.get("/metrics", metrics)]
