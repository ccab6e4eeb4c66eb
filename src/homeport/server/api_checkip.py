"""checkip: the caller's address as dyndns's HTML page, plain text or JSON (see :mod:`.checkip`)."""

from __future__ import annotations

from aiohttp import web

from homeport.server import checkip
from homeport.server.context import ApiContext


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    async def show(request: web.Request) -> web.Response:
        source = ctx.source(request)
        fmt = checkip.choose_format(request.query.get("format"), request.headers.get("Accept", ""))
        body, content_type = checkip.render(str(source), fmt)
        return web.Response(
            text=body, content_type=content_type, headers={"Cache-Control": "no-store"}
        )

    # `/` as well: clients configured with a bare checkip host name ask for it.
    return [web.get("/checkip", show), web.get("/", show)]
