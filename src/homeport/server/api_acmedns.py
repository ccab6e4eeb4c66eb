"""acme-dns's API, served, so the acme-dns providers of lego, acme.sh, Caddy and
cert-manager work unchanged against homeport.

- ``POST /register`` (201: ``username``, ``password``, ``fulldomain``, ``subdomain``,
  ``allowfrom``). Unlike acme-dns, only for an authenticated caller (its open
  registration is its users' top complaint): HTTP Basic auth with a host's name and
  secret, or an account's name and password plus ``{"host": NAME}`` in the body.
  ``fulldomain`` is ``_acme-challenge.<host>`` itself, so no CNAME is needed.
- ``POST /update`` with ``X-Api-User``/``X-Api-Key`` and ``{"subdomain", "txt"}``:
  adds the value (acme-dns keeps the last two; here every value stays until it
  expires, :data:`homeport.core.challenge.LIFETIME`, since acme-dns clients never delete).
- ``DELETE /register`` with ``X-Api-User``/``X-Api-Key``: the registration is removed
  (acme-dns has no way to do that).
- ``GET /health``: 200.

lego's acmedns provider registers on its own the first time (unauthenticated, so
refused here): give it a storage file made from one authenticated registration.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from typing import Any

from aiohttp import web

from homeport.core import challenge
from homeport.core.update_plan import AuthOutcome, Principal
from homeport.server.api_challenge import set_challenge
from homeport.server.auth import parse_basic, sha256_hex
from homeport.server.context import ApiContext
from homeport.server.store import AcmeDnsAccount, AuditEntry

API = "acmedns"
# acme-dns's own passwords are 40 characters of [A-Za-z0-9_-]; ours as long as host secrets.
_PASSWORD_BYTES = 32


def _forbidden() -> web.Response:
    return web.json_response({"error": "forbidden"}, status=401)


def routes(api: ApiContext) -> list[web.RouteDef]:
    """Add ``/register``, ``/update`` and ``/health`` to ``app``."""
    service = api.service

    async def account_of(request: web.Request) -> AcmeDnsAccount | web.Response:
        """The account the X-Api-User/X-Api-Key headers name, or the refusal."""
        source = api.source(request)
        username = request.headers.get("X-Api-User", "")
        key = request.headers.get("X-Api-Key", "")
        account = await service.store.acmedns_account(username) if username else None
        if account is not None and hmac.compare_digest(sha256_hex(key), account.key_sha256):
            return account
        outcome = api.login.failed_key(API, source, username, "bad-key").outcome
        if outcome is AuthOutcome.ABUSE:
            return web.json_response({"error": "abuse"}, status=429)
        return _forbidden()

    async def do_register(request: web.Request) -> web.Response:
        source = api.source(request)
        creds = parse_basic(request.headers.get("Authorization"))
        if creds is None:
            return web.json_response(
                {"error": "registration needs HTTP Basic auth (a host's name and secret)"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="homeport"'},
            )
        auth = await api.login.basic(creds, source, API)
        principal = auth.principal
        if principal is None:
            status = {AuthOutcome.BADAUTH: 401, AuthOutcome.BUSY: 503}.get(auth.outcome, 429)
            return web.json_response({"error": auth.outcome.value}, status=status)
        if principal.kind == "token":
            # The account it would make has no expiry and no source networks: a scoped
            # token cannot mint a credential that outlives its own limits.
            return web.json_response(
                {"error": "a scoped token cannot register; use lego httpreq with it"},
                status=403,
            )
        body: Any = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "the body must be JSON"}, status=400)
        if isinstance(body, dict) and _keys_lower(body).get("allowfrom"):
            # acme-dns restricts an account to source networks; homeport does not (yet):
            # refused rather than ignored, so nobody believes a restriction is in force.
            return web.json_response({"error": "allowfrom is not supported"}, status=400)
        host = _chosen_host(principal, _keys_lower(body) if isinstance(body, dict) else body)
        found = service.hosts.get(host) if host else None
        if found is None or not principal.may_update(found):
            return web.json_response(
                {"error": 'name the host: {"host": NAME}, one of this account\'s'}, status=400
            )
        password = secrets.token_urlsafe(_PASSWORD_BYTES)
        account = AcmeDnsAccount(
            username=str(uuid.uuid4()),
            key_sha256=sha256_hex(password),
            host=found.fqdn,
            subdomain=str(uuid.uuid4()),
            created=service.clock(),
        )
        await service.store.add_acmedns_account(
            account,
            AuditEntry(
                f"{principal.kind}:{principal.name}",
                "acmedns register",
                found.fqdn,
                f"username={account.username}",
                str(source),
                service.clock(),
            ),
        )
        return web.json_response(
            {
                "username": account.username,
                "password": password,
                "fulldomain": challenge.challenge_name(found.fqdn).rstrip("."),
                "subdomain": account.subdomain,
                "allowfrom": [],
            },
            status=201,
        )

    async def do_deregister(request: web.Request) -> web.Response:
        account = await account_of(request)
        if isinstance(account, web.Response):
            return account
        await service.store.remove_acmedns_account(
            account.username,
            AuditEntry(
                f"acmedns:{account.username}",
                "acmedns deregister",
                account.host,
                "",
                str(api.source(request)),
                service.clock(),
            ),
        )
        return web.json_response({"deleted": account.username})

    async def do_update(request: web.Request) -> web.Response:
        account = await account_of(request)
        if isinstance(account, web.Response):
            return account
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"error": "malformed_json_payload"}, status=400)
        body = _keys_lower(body)
        subdomain, txt = body.get("subdomain"), body.get("txt")
        if not isinstance(subdomain, str) or not hmac.compare_digest(
            subdomain.encode(), account.subdomain.encode()
        ):
            return web.json_response({"error": "bad_subdomain"}, status=400)
        if not isinstance(txt, str) or challenge.value_problem(txt) is not None:
            return web.json_response({"error": "bad_txt"}, status=400)
        await service.ensure_fresh()
        result = await set_challenge(
            api,
            Principal("host", account.host),
            challenge.challenge_name(account.host),
            txt,
            add=True,
            source=api.source(request),
            api_name=API,
        )
        api.updates.labels(API, str(result.status)).inc()
        if result.status != 200:
            return web.json_response({"error": result.error}, status=result.status)
        return web.json_response({"txt": txt})

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=200 if service.running else 503)

    return [
        web.post("/register", do_register),
        web.delete("/register", do_deregister),
        web.post("/update", do_update),
        web.get("/health", health),
    ]


def _keys_lower(body: dict[Any, Any]) -> dict[Any, Any]:
    """acme-dns is Go: its JSON keys match in any case, and goacmedns (lego's client)
    sends ``{"SubDomain": ..., "Txt": ...}``."""
    return {k.lower() if isinstance(k, str) else k: v for k, v in body.items()}


def _chosen_host(principal: Principal, body: Any) -> str | None:
    if principal.kind == "host":
        return principal.name
    name = body.get("host") if isinstance(body, dict) else None
    if not isinstance(name, str) or not name.strip():
        return None
    return name.strip().lower().rstrip(".") + "."
