"""The dashboard's scoped API tokens: make one (shown once), list them, revoke one.

A token is made for some of the account's hosts, some record types (A, AAAA, the
host's TXT, the ACME challenge TXT), some source networks and a lifetime; the update
APIs check all four (:mod:`homeport.server.login`, :mod:`homeport.core.update_plan`).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from homeport.core.token_scope import RECORD_TYPES, make_scope
from homeport.errors import NotFoundError
from homeport.server.auth import new_secret, sha256_hex
from homeport.server.store import ApiTokenRow
from homeport.server.web.pages import Dashboard, Session, csrf_token

# A person's tokens: one per router, phone and certificate client, not thousands.
MAX_TOKENS_PER_ACCOUNT = 50
# What a token is called in lists; the name is the user's own text (escaped on output).
MAX_LABEL = 80
# The public id naming a token in lists and the audit log (not a secret: 32 bits).
TOKEN_ID_BYTES = 4
# Checked by default on the form: what a router's updater needs.
DEFAULT_TYPES = ("A", "AAAA")
TYPE_LABELS = {
    "A": "A (IPv4 address)",
    "AAAA": "AAAA (IPv6 address)",
    "TXT": "TXT (the host's own text)",
    "ACME": "ACME challenge TXT (_acme-challenge.HOST, for certificates)",
}


@dataclass(frozen=True)
class TokenView:
    id: str
    label: str
    hosts: str
    types: str
    subnets: str
    expires: str
    created: str
    expired: bool


class TokenPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    async def tokens(self, request: web.Request) -> web.Response:
        session = await self.dash._signed_in(request)
        return await self._page(session)

    async def _page(
        self,
        session: Session,
        *,
        error: str = "",
        done: str = "",
        token: str | None = None,
        status: int = 200,
    ) -> web.Response:
        dash = self.dash
        now = dash.clock()
        views = []
        for row in await dash.db.api_tokens(session[1]):
            views.append(
                TokenView(
                    id=row.id,
                    label=row.label,
                    hosts=" ".join(h.rstrip(".") for h in row.hosts.split()) or "all hosts",
                    types=" ".join(row.types.split()),
                    subnets=row.subnets or "anywhere",
                    expires=_day(row.expires) if row.expires is not None else "never",
                    created=_day(row.created),
                    expired=row.expires is not None and now >= row.expires,
                )
            )
        return dash.page(
            "tokens.html",
            status=status,
            user=session[1],
            csrf=csrf_token(session[0]),
            tokens=views,
            hosts=[h.fqdn.rstrip(".") for h in dash._mine(session[1])],
            types=[(t, TYPE_LABELS[t], t in DEFAULT_TYPES) for t in RECORD_TYPES],
            token=token,
            error=error,
            done=done,
            signed_in=True,
            admin=dash.is_admin(session[1]),
        )

    async def create(self, request: web.Request) -> web.Response:
        dash = self.dash
        posted = await dash._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        user = session[1]
        multi = await request.post()  # aiohttp keeps the parsed form: the repeated fields
        hosts = [str(v).strip().lower().rstrip(".") + "." for v in multi.getall("host", [])]
        types = [str(v) for v in multi.getall("type", [])]
        label = form.get("label", "").strip()[:MAX_LABEL] or "token"
        now = dash.clock()
        try:
            scope = make_scope(
                hosts,
                [h.fqdn for h in dash._mine(user)],
                types,
                form.get("subnets", "")[:2000],
                form.get("days", "")[:12],
                now,
            )
        except ValueError as exc:
            return await self._page(session, error=f"Not made: {exc}.", status=400)
        if len(await dash.db.api_tokens(user)) >= MAX_TOKENS_PER_ACCOUNT:
            message = f"An account may have at most {MAX_TOKENS_PER_ACCOUNT} tokens."
            return await self._page(session, error=message, status=400)
        secret = new_secret()
        row = ApiTokenRow(
            id=secrets.token_hex(TOKEN_ID_BYTES),
            owner=user,
            token_sha256=sha256_hex(secret),
            label=label,
            hosts=" ".join(sorted(scope.hosts)),
            types=" ".join(t for t in RECORD_TYPES if t in scope.types),
            subnets=" ".join(str(n) for n in scope.subnets),
            expires=scope.expires,
            created=now,
        )
        detail = f"id={row.id} hosts={row.hosts or '*'} types={row.types.replace(' ', ',')}"
        await dash.db.add_api_token(row, dash._audit(request, user, "token add", user, detail))
        done = f"Token {row.id} made. Copy it now: it is shown only this once."
        return await self._page(session, done=done, token=secret, status=201)

    async def revoke(self, request: web.Request) -> web.Response:
        dash = self.dash
        posted = await dash._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        token_id = request.match_info["id"][: 2 * TOKEN_ID_BYTES + 2]
        audit = dash._audit(request, session[1], "token rm", session[1], f"id={token_id}")
        try:
            await dash.db.remove_api_token(session[1], token_id, audit)
        except NotFoundError:
            # Another account's id, or none: the same answer (ids are not leaked).
            raise web.HTTPNotFound(text="no such token\n") from None
        raise web.HTTPSeeOther("/dash/tokens")


def _day(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def add_routes(app: web.Application, dash: Dashboard) -> None:
    pages = TokenPages(dash)
    app.router.add_get("/tokens", pages.tokens)
    app.router.add_post("/tokens", pages.create)
    app.router.add_post("/tokens/{id}/revoke", pages.revoke)
