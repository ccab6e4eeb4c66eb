"""``POST /probe``: can the outside reach the caller's own address on a port? (see :mod:`.probe`).

Authenticated like an update (Basic or a token), rate-limited per principal and per
source; the target is always the requester's own address, never a value from the request.
"""

from __future__ import annotations

import logging

from aiohttp import web

from homeport.core.limits import Rate, Throttle
from homeport.core.update_plan import BASIC_CHALLENGE, AuthOutcome
from homeport.errors import UsageError
from homeport.server.auth import parse_basic
from homeport.server.context import ApiContext
from homeport.server.probe import ProbeRequest, client_tls_context, run_probe, target_refusal

log = logging.getLogger(__name__)

API = "probe"


class ProbeApi:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        probe = ctx.config.probe
        self.probe_throttle = Throttle(Rate(probe.rate_per_minute, probe.burst))
        self.probe_tls = client_tls_context(probe.extra_ca_file)

    async def probe(self, request: web.Request) -> web.Response:
        ctx = self.ctx
        now = ctx.clock()
        source = ctx.source(request)
        config = ctx.config.probe
        if not config.enabled:
            raise web.HTTPNotFound(text="the probe is disabled on this server\n")
        if source is None:
            raise web.HTTPBadRequest(text="no client address\n")
        creds = parse_basic(request.headers.get("Authorization"))
        if creds is not None:
            auth = await ctx.login.basic(creds, source, API)
        else:
            auth = await ctx.login.token(request.query.get("token", ""), source, API)
        principal = auth.principal
        if auth.outcome is not AuthOutcome.BADAUTH and principal is None:
            status = 503 if auth.outcome is AuthOutcome.BUSY else 429
            return web.json_response({"error": auth.outcome.value}, status=status)
        if principal is None:
            return web.json_response(
                {"error": "badauth"}, status=401, headers={"WWW-Authenticate": BASIC_CHALLENGE}
            )
        try:
            probe_request = ProbeRequest.from_json(await request.json())
        except (ValueError, UsageError) as exc:
            message = str(exc) if isinstance(exc, UsageError) else "the body must be JSON"
            return web.json_response({"error": message}, status=400)
        refusal = target_refusal(source, config.lab_networks)
        if refusal is not None:
            return web.json_response({"error": refusal}, status=403)
        admit = ctx.admit(self.probe_throttle, now)
        if not (admit(("principal", principal)) and admit(("source", source))):
            return web.json_response({"error": "rate limited"}, status=429)
        default_name = principal.name.rstrip(".") if principal.kind == "host" else str(source)
        # The target is the requester's own address: never a value from the request.
        result = await run_probe(
            source, probe_request, default_name, wait=config.timeout, tls_context=self.probe_tls
        )
        log.info(
            "probe by %s of %s port %d (%s): %s",
            principal.actor,
            source,
            probe_request.port,
            probe_request.check,
            result.error or "ok",
        )
        ctx.count(API, ["reachable" if result.reachable else "unreachable"])
        return web.json_response(result.to_json())


def routes(ctx: ApiContext) -> list[web.RouteDef]:
    return [web.post("/probe", ProbeApi(ctx).probe)]
