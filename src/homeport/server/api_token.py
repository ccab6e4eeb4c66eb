"""The DuckDNS-style token API: ``GET /update?domains=…&token=…`` answering ``OK``/``KO``.

Decisions are :mod:`homeport.core.update_plan`'s; this module authenticates the
token, stores the plan's intents and writes the answer.
"""

from __future__ import annotations

from aiohttp import web

from homeport.core.limits import Rate, Throttle
from homeport.core.update_plan import Reply, TokenQuery, finish_token, plan_token
from homeport.server.context import ApiContext

API = "token"


class TokenApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        limits = ctx.config.limits
        self.token_throttle = Throttle(Rate(limits.token_requests_per_minute, limits.token_burst))

    async def update(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        now = ctx.clock()
        source = ctx.source(request)
        query = TokenQuery.from_params(request.query)
        auth = await ctx.login.token(query.token, source, API)
        planned = plan_token(
            query,
            source,
            auth,
            ctx.service.hosts.values(),
            ctx.admit(self.token_throttle, now),
            user_agent=request.headers.get("User-Agent"),
        )
        if isinstance(planned, Reply):
            return ctx.respond(API, planned)
        stored = await ctx.store(planned.intents)
        return ctx.respond(API, finish_token(planned, stored))


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    return [web.get("/update", TokenApi(ctx).update)]
