"""``GET /healthz``: ok while the store task runs (a load balancer's check)."""

from __future__ import annotations

from aiohttp import web

from homeport.server.context import TEXT, ApiContext


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    async def healthz(request: web.Request) -> web.Response:
        if not ctx.service.running:
            return web.Response(text="store task stopped\n", status=503, content_type=TEXT)
        return web.Response(text="ok\n", content_type=TEXT)

    return [web.get("/healthz", healthz)]
