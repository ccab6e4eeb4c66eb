"""Two-step sign-in on the account page: turn TOTP on (the key shown once, as text and as
an ``otpauth://`` URI, confirmed with a first code) or off (with the password, checked
like a sign-in: the session itself was signed in with a code).

The sign-in form asks for the code (:meth:`homeport.server.web.pages.Dashboard.login`);
the codes are :mod:`homeport.core.totp`'s.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlencode

from aiohttp import web

from homeport.core import totp
from homeport.errors import NotFoundError
from homeport.server.auth import BasicCredentials
from homeport.server.web.pages import MAX_FIELD, Dashboard, Session, csrf_token

# The issuer the authenticator app lists the account under.
ISSUER = "homeport"


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """Google Authenticator's Key Uri Format: ``otpauth://totp/ISSUER:ACCOUNT?secret=…``
    (the parameters are :mod:`homeport.core.totp`'s, named so no app has to guess)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": totp.DIGITS,
            "period": totp.STEP,
        }
    )
    return f"otpauth://totp/{label}?{query}"


class TotpPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    def _enrol_page(
        self,
        request: web.Request,
        session: Session,
        secret: str,
        *,
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        issuer = f"{ISSUER} {request.host.rsplit(':', 1)[0]}"
        return self.dash.page(
            "totp.html",
            status=status,
            user=session[1],
            csrf=csrf_token(session[0]),
            secret=secret,
            uri=otpauth_uri(secret, session[1], issuer),
            error=error,
            signed_in=True,
        )

    async def start(self, request: web.Request) -> web.Response:
        posted = await self.dash._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        secret = totp.encode_key(secrets.token_bytes(totp.KEY_BYTES))
        return self._enrol_page(request, session, secret)

    async def confirm(self, request: web.Request) -> web.Response:
        """The key (from the enrolment page's form) is kept once a code from it matches."""
        dash = self.dash
        posted = await dash._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        secret = form.get("secret", "")[:64]
        try:
            key = totp.decode_key(secret)
        except ValueError:
            key = b""
        if len(key) != totp.KEY_BYTES:
            return dash._forbidden()
        step = totp.matching_step(key, form.get("code", "")[:16], dash.clock())
        if step is None:
            message = "That code does not match: check the phone's clock and try the next one."
            return self._enrol_page(request, session, secret, error=message, status=400)
        audit = dash._audit(request, session[1], "user totp on", session[1])
        try:
            await dash.db.set_user_totp(session[1], secret, audit)
        except NotFoundError:
            raise web.HTTPSeeOther("/dash/login") from None
        await dash.db.use_totp_step(session[1], step)  # the confirming code is spent
        await dash.api.service.ensure_fresh()
        return dash._account_page(session, "", "Two-step sign-in is on.", 200)

    async def turn_off(self, request: web.Request) -> web.Response:
        dash = self.dash
        posted = await dash._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        user = dash.api.service.users.get(session[1])
        if user is None or user.totp_secret is None:
            return dash._account_page(session, "Two-step sign-in is off already.", "", 400)
        auth = await dash.api.login.basic(
            BasicCredentials(user.name, form.get("password", "")[:MAX_FIELD]),
            dash.api.source(request),
            "dashboard",
        )
        if auth.principal is None or auth.principal.kind != "user":
            return dash._account_page(session, "The password is wrong.", "", 401)
        audit = dash._audit(request, session[1], "user totp off", session[1])
        await dash.db.set_user_totp(session[1], None, audit)
        await dash.api.service.ensure_fresh()
        return dash._account_page(session, "", "Two-step sign-in is off.", 200)


def add_routes(app: web.Application, dash: Dashboard) -> None:
    pages = TotpPages(dash)
    app.router.add_post("/account/totp", pages.start)
    app.router.add_post("/account/totp/confirm", pages.confirm)
    app.router.add_post("/account/totp/off", pages.turn_off)
