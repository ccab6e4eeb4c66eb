"""lego's ``httpreq`` DNS provider, served: ``POST /present`` and ``POST /cleanup``.

lego (``HTTPREQ_ENDPOINT``, ``HTTPREQ_USERNAME``/``HTTPREQ_PASSWORD``) posts JSON
``{"fqdn": "_acme-challenge.NAME.", "value": "..."}``, or in its RAW mode
``{"domain": "NAME", "token": "...", "keyAuth": "..."}`` (the server computes the
value), with HTTP Basic auth; any 2xx is success. Here the Basic auth is a host's
name and secret (or an account's name and password, for its hosts), and
``homeport cert`` speaks the same shape. The answer comes once DNS serves the value.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from aiohttp import web

from homeport.core import challenge
from homeport.core.update_plan import AuthOutcome
from homeport.server.api_challenge import set_challenge
from homeport.server.auth import parse_basic
from homeport.server.context import ApiContext

API = "httpreq"


def _target(body: Any) -> tuple[str, str] | None:
    """(challenge name, value) from either body shape; None if it is neither."""
    if not isinstance(body, dict):
        return None
    fqdn, value = body.get("fqdn"), body.get("value")
    if isinstance(fqdn, str) and isinstance(value, str):
        return fqdn, value
    domain, key_auth = body.get("domain"), body.get("keyAuth")
    if isinstance(domain, str) and isinstance(key_auth, str):
        # RFC 8555 §8.4: base64url(SHA-256(key authorization)), unpadded.
        digest = hashlib.sha256(key_auth.encode()).digest()
        value = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        return challenge.challenge_name(domain.removeprefix("*.")), value
    return None


def routes(api: ApiContext) -> list[web.RouteDef]:
    """Add ``/present`` and ``/cleanup`` to ``app``."""

    async def handle(request: web.Request, *, add: bool) -> web.Response:
        source = api.source(request)
        creds = parse_basic(request.headers.get("Authorization"))
        if creds is None:
            return web.json_response(
                {"error": "badauth"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="homeport"'},
            )
        auth = await api.login.basic(creds, source, API)
        if auth.principal is None:
            if auth.outcome is AuthOutcome.BADAUTH:
                return web.json_response(
                    {"error": "badauth"},
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="homeport"'},
                )
            status = 503 if auth.outcome is AuthOutcome.BUSY else 429
            return web.json_response(
                {"error": auth.outcome.value},
                status=status,
                headers={"Retry-After": str(api.login.retry_after)},
            )
        try:
            target = _target(await request.json())
        except ValueError:
            target = None
        if target is None:
            return web.json_response(
                {"error": 'the body must be JSON {"fqdn", "value"} or {"domain", "keyAuth"}'},
                status=400,
            )
        result = await set_challenge(
            api, auth.principal, target[0], target[1], add=add, source=source, api_name=API
        )
        api.updates.labels(API, str(result.status)).inc()
        if result.status != 200:
            return web.json_response({"error": result.error}, status=result.status)
        return web.json_response({"fqdn": challenge_fqdn(target[0]), "changed": result.changed})

    async def present(request: web.Request) -> web.Response:
        return await handle(request, add=True)

    async def cleanup(request: web.Request) -> web.Response:
        return await handle(request, add=False)

    return [web.post("/present", present), web.post("/cleanup", cleanup)]


def challenge_fqdn(name: str) -> str:
    name = name.strip().lower()
    return name if name.endswith(".") else name + "."
