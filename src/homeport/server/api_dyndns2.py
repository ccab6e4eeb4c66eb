"""The dyndns2 API: ``GET /nic/update`` (and ``/v3/update``), HTTP Basic auth.

Decisions are :mod:`homeport.core.update_plan`'s; this module reads the request,
authenticates, looks the named hosts up, stores the plan's intents and writes the answer.
"""

from __future__ import annotations

import logging

from aiohttp import web

from homeport.core.limits import Rate, Throttle
from homeport.core.update_plan import (
    Dyndns2Request,
    Reply,
    Updatable,
    dyndns2_names,
    dyndns2_refusal,
    finish_dyndns2,
    plan_dyndns2,
)
from homeport.proto import dyndns2
from homeport.server.auth import parse_basic
from homeport.server.context import ApiContext

log = logging.getLogger(__name__)

API = "dyndns2"


class Dyndns2Api:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        limits = ctx.config.limits
        self.host_throttle = Throttle(Rate(limits.host_requests_per_minute, limits.host_burst))

    async def update(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        now = ctx.clock()
        source = ctx.source(request)
        creds = parse_basic(request.headers.get("Authorization"))
        try:
            query: dyndns2.UpdateQuery | None = dyndns2.parse_update_query(
                list(request.query.items())
            )
        except dyndns2.BadAddress:
            query = None
        agent = request.headers.get("User-Agent")
        req = Dyndns2Request(query, source, creds is not None, bool(agent), agent)
        refused = dyndns2_refusal(req, ctx.policy)
        if refused is not None:
            return ctx.respond(API, refused)
        assert creds is not None  # dyndns2_refusal answers a request without credentials
        auth = await ctx.login.basic(creds, source, API)
        if auth.principal is not None:
            log.debug("dyndns2 update from %s by %s", source, auth.principal.actor)
        hosts: dict[str, Updatable] = {}
        for fqdn in dyndns2_names(req, auth):
            host = ctx.service.hosts.get(fqdn) or await ctx.service.fresh_host(fqdn)
            if host is not None:
                hosts[fqdn] = host
        planned = plan_dyndns2(req, ctx.policy, auth, hosts, ctx.admit(self.host_throttle, now))
        if isinstance(planned, Reply):
            return ctx.respond(API, planned)
        stored = await ctx.store(planned.intents)
        return ctx.respond(API, finish_dyndns2(planned, stored))


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    api = Dyndns2Api(ctx)
    return [
        web.get("/nic/update", api.update),
        # Some routers and old clients use this path for the same protocol.
        web.get("/v3/update", api.update),
    ]
