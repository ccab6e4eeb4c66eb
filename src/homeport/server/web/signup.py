"""Sign-up by invitation: the link an admin made names a code; it makes one account, once.

There is no open sign-up: without a valid code the page only says so. The form's CSRF
token hangs off the same short-lived cookie as the sign-in form's (no session yet).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from homeport.errors import ConflictError, NotFoundError, UsageError
from homeport.server import admin as admin_policy
from homeport.server.auth import new_secret, sha256_hex
from homeport.server.store import AuditEntry, UserRow
from homeport.server.web.pages import LOGIN_COOKIE, MAX_FIELD, MIN_PASSWORD, Dashboard, csrf_token

# Longest code looked up: ours are 43 characters (token_urlsafe(32)).
MAX_CODE = 128
GONE = "This invitation link is unknown, used or expired. Ask for a new one."


class SignupPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    async def _valid(self, code: str) -> bool:
        if not code or len(code) > MAX_CODE:
            return False
        row = await self.dash.db.invitation(sha256_hex(code))
        return row is not None and row.used_by is None and self.dash.clock() < row.expires

    async def form(
        self, request: web.Request, *, code: str | None = None, error: str = "", status: int = 200
    ) -> web.Response:
        code = request.query.get("code", "") if code is None else code
        if not await self._valid(code):
            return self.dash.page("error.html", status=404, message=GONE, signed_in=False)
        nonce, fresh = self.dash.form_nonce(request)
        response = self.dash.page(
            "signup.html",
            status=status,
            csrf=csrf_token(nonce),
            code=code,
            error=error,
            signed_in=False,
        )
        if fresh:
            self.dash.set_form_nonce(response, nonce)
        return response

    async def sign_up(self, request: web.Request) -> web.Response:
        dash = self.dash
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        form = await dash._form(request, csrf_token(nonce)) if nonce else None
        if form is None:
            return dash._forbidden()
        code = form.get("code", "")[:MAX_CODE]
        name = form.get("name", "").strip()[:MAX_FIELD]
        password = form.get("password", "")[:MAX_FIELD]
        try:
            admin_policy.check_user_name(name)
        except UsageError as exc:
            return await self.form(request, code=code, error=f"{exc}.", status=400)
        if len(password) < MIN_PASSWORD:
            message = f"The password needs at least {MIN_PASSWORD} characters."
            return await self.form(request, code=code, error=message, status=400)
        if password != form.get("again", "")[:MAX_FIELD]:
            return await self.form(
                request, code=code, error="The two passwords differ.", status=400
            )
        invitation = await dash.db.invitation(sha256_hex(code)) if code else None
        if invitation is None:
            return dash.page("error.html", status=404, message=GONE, signed_in=False)
        password_hash = await asyncio.to_thread(dash.api.login.passwords.hash, password)
        now = dash.clock()
        row = UserRow(name, password_hash, sha256_hex(new_secret()), now)
        audit = AuditEntry(
            actor=f"user:{name}",
            action="user signup",
            subject=name,
            detail=f"dashboard invitation={invitation.id}",
            source=str(dash.api.source(request)),
            ts=now,
        )
        try:
            await dash.db.sign_up(sha256_hex(code), row, now, audit)
        except NotFoundError:
            return dash.page("error.html", status=404, message=GONE, signed_in=False)
        except ConflictError:
            return await self.form(request, code=code, error=f"{name} is taken.", status=409)
        await dash.api.service.ensure_fresh()
        return dash.page("signed_up.html", status=201, name=name, signed_in=False)


def add_routes(app: web.Application, dash: Dashboard) -> None:
    pages = SignupPages(dash)
    app.router.add_get("/signup", pages.form)
    app.router.add_post("/signup", pages.sign_up)
