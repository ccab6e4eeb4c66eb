"""The dashboard's pages: sign-in, the account's hosts, one host, its set-up snippets.

Security, as in the rest of the server (docs/architecture.md, "Rules the code keeps"):

* Sessions live server-side (the ``sessions`` table holds the id's SHA-256); the cookie is
  ``__Host-`` prefixed, Secure, HttpOnly, SameSite=Strict.
* Every form carries a CSRF token derived from the session id (HMAC), and every POST also
  needs an ``Origin`` (when the browser sends one) naming this server. SameSite alone is
  not enough: another port on the same host is the *same site*.
* No GET changes anything. Every page is sent with a strict Content-Security-Policy (no
  script at all), and Jinja2 escapes every value.
* Passwords are checked by :meth:`homeport.server.login.Login.basic`: the same argon2
  pool and the same failure budgets (per source, per name) as the update APIs.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from aiohttp import web

from homeport.core import totp
from homeport.core.hostdata import valid_fqdn
from homeport.core.update_plan import AuthOutcome
from homeport.errors import ConflictError, NotFoundError
from homeport.server import tsigkeys
from homeport.server.auth import BasicCredentials, new_secret, sha256_hex
from homeport.server.config import DEFAULT_TTL
from homeport.server.context import ApiContext
from homeport.server.login import LOGGED_NAME_LENGTH
from homeport.server.store import AuditEntry, HostRow, HostStats, Store, TsigKeyRow
from homeport.server.web import snippets

# A working day: long enough not to nag, short enough that a forgotten browser signs out.
SESSION_SECONDS = 12 * 3600
SESSION_COOKIE = "__Host-homeport-session"
# The sign-in form's own CSRF token hangs off this short-lived cookie (no session yet).
LOGIN_COOKIE = "__Host-homeport-login"
LOGIN_COOKIE_SECONDS = 3600
# Session ids as strong as host secrets (256 bits).
SESSION_BYTES = 32
# A person manages a household's or a club's names, not a provider's worth: the cap keeps
# one account from filling a zone (No-IP's free plan allows 3, DuckDNS 5).
MAX_HOSTS_PER_ACCOUNT = 100
# Longest name/password read from the sign-in form: argon2 is never fed megabytes.
MAX_FIELD = 1024
HISTORY_ROWS = 50
# Longest number read from a form (a TTL, days): int() is never fed a megabyte of digits.
MAX_NUMBER = 12
# As `homeport server user add` asks (server/commands.py).
MIN_PASSWORD = 8

# No script, no frames, no foreign anything: the pages are plain HTML and one stylesheet.
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self';"
    " frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it Chromium sends `Origin: null` on our own form POSTs.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Session = tuple[str, str]  # (session id, account name)


def csrf_token(session_id: str) -> str:
    """Derived from the session id: only a page of this session can know it."""
    return hmac.new(session_id.encode(), b"homeport-dashboard-csrf", hashlib.sha256).hexdigest()


def _when(ts: float | None) -> str:
    if ts is None:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@dataclass(frozen=True)
class HistoryRow:
    when: str
    ipv4: str
    ipv6: str
    source: str
    lasted: str


def history_rows(entries: list[AuditEntry], now: float) -> list[HistoryRow]:
    """Newest first; each address lasted until the next change (the newest until now)."""
    rows = []
    until = now
    for entry in entries:
        fields = dict(
            item.split("=", 1) for item in entry.detail.split() if "=" in item
        )  # "ipv4=... ipv6=... offline=..." (DdnsService._commit)
        rows.append(
            HistoryRow(
                when=_when(entry.ts),
                ipv4=fields.get("ipv4", "None").replace("None", "-"),
                ipv6=fields.get("ipv6", "None").replace("None", "-"),
                source=entry.source,
                lasted=_duration(until - entry.ts),
            )
        )
        until = entry.ts
    return rows


class Dashboard:
    """Handlers sharing the API (authentication, limits) and a store connection of their own.

    The dashboard writes through its own connection, announcing its commits like an admin
    command does, so the store task reloads at once: a rotated secret stops working for
    the very next update, a removed host leaves DNS.
    """

    def __init__(
        self,
        api: ApiContext,
        clock: Callable[[], float] = time.time,
        *,
        dns_port: int = snippets.DNS_PORT,
    ) -> None:
        self.api = api
        self.clock = clock
        self.dns_port = dns_port
        self.store: Store | None = None
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("homeport.server.web", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.templates.filters["when"] = _when
        self.css = resources.files("homeport.server.web").joinpath("static/style.css").read_bytes()

    async def open(self, app: web.Application) -> None:
        config = self.api.config
        self.store = await Store.open(config.data, announce=True, database=config.database)

    async def close(self, app: web.Application) -> None:
        if self.store is not None:
            await self.store.close()
            self.store = None

    @property
    def db(self) -> Store:
        assert self.store is not None, "the dashboard's store opens with the app"
        return self.store

    # -- rendering ------------------------------------------------------------------

    def page(self, template: str, status: int = 200, **values: Any) -> web.Response:
        if values.get("signed_in"):
            values.setdefault("admin", self.is_admin(values["user"]))
        else:
            values.setdefault("admin", False)
        body = self.templates.get_template(template).render(**values)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")

    def is_admin(self, user: str) -> bool:
        row = self.api.service.users.get(user)
        return row is not None and row.admin

    async def style(self, request: web.Request) -> web.Response:
        return web.Response(body=self.css, content_type="text/css")

    # -- sessions -------------------------------------------------------------------

    async def _session(self, request: web.Request) -> tuple[str, str] | None:
        """(session id, account name) of a signed-in request, else None."""
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > 2 * SESSION_BYTES + 8:
            return None
        # Admin commands' changes (a removed account or host) count from the next request.
        await self.api.service.ensure_fresh()
        user = await self.db.session_user(sha256_hex(session_id), self.clock())
        if user is None or user not in self.api.service.users:
            # Unknown, expired, or its account removed by an admin command.
            return None
        return session_id, user

    @staticmethod
    def _same_origin(request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # older browsers on same-origin POSTs; the token still decides
        return urlsplit(origin).netloc == request.host

    async def _form(self, request: web.Request, token: str) -> dict[str, str] | None:
        """The POSTed form if it comes from one of our pages (origin and token), else None."""
        if not self._same_origin(request):
            return None
        form = await request.post()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not hmac.compare_digest(values.get("csrf", "").encode(), token.encode()):
            return None
        return values

    async def _signed_in(self, request: web.Request) -> tuple[str, str]:
        """The request's session; a visitor who is not signed in goes to the sign-in page."""
        session = await self._session(request)
        if session is None:
            raise web.HTTPSeeOther("/dash/login")
        return session

    async def _posted(
        self, request: web.Request
    ) -> tuple[tuple[str, str], dict[str, str]] | web.Response:
        """(session, form) of a signed-in POST from our own pages, else the 403 page."""
        session = await self._signed_in(request)
        form = await self._form(request, csrf_token(session[0]))
        if form is None:
            return self._forbidden()
        return session, form

    def _forbidden(self) -> web.Response:
        return self.page(
            "error.html",
            status=403,
            message="This form is out of date or came from another site. Reload and try again.",
            signed_in=False,
        )

    # -- sign in and out ------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        await self._signed_in(request)
        raise web.HTTPSeeOther("/dash/hosts")

    async def login_form(
        self, request: web.Request, *, error: str = "", status: int = 200
    ) -> web.Response:
        nonce, fresh = self.form_nonce(request)
        response = self.page(
            "login.html", status=status, csrf=csrf_token(nonce), error=error, signed_in=False
        )
        if fresh:
            self.set_form_nonce(response, nonce)
        return response

    @staticmethod
    def form_nonce(request: web.Request) -> tuple[str, bool]:
        """The pre-session forms' CSRF nonce (sign-in, sign-up): the cookie's, or a new one."""
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or len(nonce) > 2 * SESSION_BYTES + 8:
            return secrets.token_urlsafe(SESSION_BYTES), True
        return nonce, False

    @staticmethod
    def set_form_nonce(response: web.StreamResponse, nonce: str) -> None:
        _set_cookie(response, LOGIN_COOKIE, nonce, LOGIN_COOKIE_SECONDS)

    async def login(self, request: web.Request) -> web.Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        form = await self._form(request, csrf_token(nonce)) if nonce else None
        if form is None:
            return self._forbidden()
        name = form.get("name", "").strip()[:MAX_FIELD]
        password = form.get("password", "")[:MAX_FIELD]
        auth = await self.api.login.basic(
            BasicCredentials(name, password), self.api.source(request), "dashboard"
        )
        principal = auth.principal
        if principal is None or principal.kind != "user":
            if auth.outcome is AuthOutcome.BADAUTH:
                # Verified failures only: a throttled attempt writes nothing, so a flood
                # past the failure budgets cannot grow the audit table.
                await self._note_failed_sign_in(request, name, auth.outcome.value)
            if auth.outcome in (AuthOutcome.THROTTLED, AuthOutcome.ABUSE):
                message = f"Too many failed sign-ins. Try again in {self.api.login.retry_after} s."
                return await self.login_form(request, error=message, status=429)
            if auth.outcome is AuthOutcome.BUSY:
                message = "The server is busy. Try again in a moment."
                return await self.login_form(request, error=message, status=503)
            return await self.login_form(request, error="Wrong name or password.", status=401)
        refused = await self._second_factor(request, principal.name, form.get("code", "")[:16])
        if refused is not None:
            return refused
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        now = self.clock()
        await self.db.add_session(
            sha256_hex(session_id), principal.name, now, now + SESSION_SECONDS
        )
        await self.db.append_audit(
            [self._audit(request, principal.name, "sign-in", principal.name)]
        )
        response = web.HTTPSeeOther("/dash/hosts")
        _set_cookie(response, SESSION_COOKIE, session_id, SESSION_SECONDS)
        response.del_cookie(LOGIN_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
        raise response

    async def _second_factor(
        self, request: web.Request, name: str, code: str
    ) -> web.Response | None:
        """None if ``name`` has no TOTP or ``code`` is a fresh one; else the refusal page.

        A wrong code is a failed login (charged to the same budgets: 6 digits are
        guessable only at the failure budget's pace); a code is good once.
        """
        user = self.api.service.users.get(name)
        if user is None or user.totp_secret is None:
            return None
        step = totp.matching_step(totp.decode_key(user.totp_secret), code, self.clock())
        if step is not None and await self.db.use_totp_step(name, step):
            return None
        reason = "no-totp" if not code.strip() else "bad-totp"
        auth = self.api.login.failed_key("dashboard", self.api.source(request), name, reason)
        if auth.outcome is AuthOutcome.BADAUTH:  # charged within the budgets, as above
            await self._note_failed_sign_in(request, name, reason)
        if auth.outcome is AuthOutcome.ABUSE:
            message = f"Too many failed sign-ins. Try again in {self.api.login.retry_after} s."
            return await self.login_form(request, error=message, status=429)
        if reason == "no-totp":
            message = "Two-step sign-in is on: enter the code from your authenticator app too."
        else:
            message = "Wrong or used one-time code."
        return await self.login_form(request, error=message, status=401)

    async def logout(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        await self.db.remove_session(sha256_hex(session[0]))
        await self.db.append_audit([self._audit(request, session[1], "sign-out", session[1])])
        response = web.HTTPSeeOther("/dash/login")
        response.del_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
        raise response

    # -- the account ----------------------------------------------------------------

    async def account(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        return self._account_page(session, "", "", 200)

    def _account_page(
        self,
        session: tuple[str, str],
        error: str,
        done: str,
        status: int,
        *,
        token: str | None = None,
    ) -> web.Response:
        user = self.api.service.users.get(session[1])
        return self.page(
            "account.html",
            status=status,
            totp=user is not None and user.totp_secret is not None,
            token=token,
            user=session[1],
            csrf=csrf_token(session[0]),
            error=error,
            done=done,
            signed_in=True,
        )

    async def change_password(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        name = session[1]
        new = form.get("new", "")[:MAX_FIELD]
        if len(new) < MIN_PASSWORD:
            message = f"The new password needs at least {MIN_PASSWORD} characters."
            return self._account_page(session, message, "", 400)
        if new != form.get("again", "")[:MAX_FIELD]:
            return self._account_page(session, "The two new passwords differ.", "", 400)
        # The current password, checked like a sign-in (the same failure budgets).
        auth = await self.api.login.basic(
            BasicCredentials(name, form.get("current", "")[:MAX_FIELD]),
            self.api.source(request),
            "dashboard",
        )
        if auth.principal is None or auth.principal.kind != "user":
            return self._account_page(session, "The current password is wrong.", "", 401)
        user = await self.db.user(name)
        if user is None:
            raise web.HTTPSeeOther("/dash/login")
        password_hash = await asyncio.to_thread(self.api.login.passwords.hash, new)
        audit = self._audit(request, name, "user password", name)
        await self.db.update_user(replace(user, password_hash=password_hash), audit)
        await self.db.remove_other_sessions(name, sha256_hex(session[0]))
        await self.api.service.ensure_fresh()
        done = "Password changed. Other browsers signed in to this account are signed out."
        return self._account_page(session, "", done, 200)

    async def new_token(self, request: web.Request) -> web.Response:
        """A new API token for the account (the token API's ``token=``), shown once."""
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        user = await self.db.user(session[1])
        if user is None:
            raise web.HTTPSeeOther("/dash/login")
        token = new_secret()
        audit = self._audit(request, user.name, "user token", user.name)
        await self.db.update_user(replace(user, token_sha256=sha256_hex(token)), audit)
        await self.api.service.ensure_fresh()
        done = "A new API token: the old one stopped working."
        return self._account_page(session, "", done, 200, token=token)

    # -- hosts ----------------------------------------------------------------------

    def _mine(self, user: str) -> list[HostRow]:
        hosts = [h for h in self.api.service.hosts.values() if h.owner == user]
        return sorted(hosts, key=lambda h: h.fqdn)

    def _zones(self) -> list[str]:
        return sorted(z.rstrip(".") for z in self.api.service.default_ttl)

    async def hosts(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        return await self._hosts_page(session, "", 200)

    async def _hosts_page(self, session: tuple[str, str], error: str, status: int) -> web.Response:
        await self.api.service.stats_written()
        return self.page(
            "hosts.html",
            status=status,
            user=session[1],
            csrf=csrf_token(session[0]),
            hosts=self._mine(session[1]),
            stats=await self.db.host_stats(owner=session[1]),
            zones=self._zones(),
            error=error,
            signed_in=True,
        )

    async def add_host(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        user = session[1]
        label = form.get("label", "").strip().lower().rstrip(".")
        zone = form.get("zone", "").strip().lower().rstrip(".")
        name = f"{label}.{zone}"
        if zone not in self._zones():
            return await self._hosts_page(session, f"No zone {zone} on this server.", 400)
        if not label or "." in label or not valid_fqdn(name):
            return await self._hosts_page(session, f"{label!r} is not a valid host label.", 400)
        if len(self._mine(user)) >= MAX_HOSTS_PER_ACCOUNT:
            message = f"An account may have at most {MAX_HOSTS_PER_ACCOUNT} hosts."
            return await self._hosts_page(session, message, 400)
        secret = new_secret()
        row = HostRow(name + ".", zone + ".", user, sha256_hex(secret), created=self.clock())
        try:
            await self.db.add_host(row, self._audit(request, user, "host add", row.fqdn))
        except ConflictError:
            return await self._hosts_page(session, f"{name} is taken.", 409)
        await self.api.service.ensure_fresh()
        return await self._host_page(request, session, row.fqdn, secret=secret, status=201)

    def _owned(self, user: str, fqdn: str) -> HostRow:
        """The user's host; the same 404 for another's and for none (names are not leaked)."""
        host = self.api.service.hosts.get(fqdn)
        if host is None or host.owner != user:
            raise web.HTTPNotFound(text="no such host\n")
        return host

    @staticmethod
    def _fqdn(request: web.Request) -> str:
        return request.match_info["name"].strip().lower().rstrip(".") + "."

    async def host(self, request: web.Request) -> web.Response:
        session = await self._signed_in(request)
        return await self._host_page(request, session, self._fqdn(request))

    async def _host_page(
        self,
        request: web.Request,
        session: tuple[str, str],
        fqdn: str,
        *,
        secret: str | None = None,
        tsig: snippets.TsigKey | None = None,
        status: int = 200,
        error: str = "",
    ) -> web.Response:
        host = self._owned(session[1], fqdn)
        if tsig is None:
            # The key's name and algorithm are no secret: the snippets show them filled in.
            known = await self.db.tsig_key(host.fqdn)
            if known is not None:
                tsig = snippets.TsigKey(known.name, known.algorithm)
        target = snippets.Target(
            server=request.host,
            https=request.secure,
            fqdn=host.fqdn.rstrip("."),
            secret=secret,
            dns_port=self.dns_port,
            tsig=tsig,
        )
        history = history_rows(await self.db.host_history(host.fqdn, HISTORY_ROWS), self.clock())
        await self.api.service.stats_written()
        stats = (await self.db.host_stats(fqdn=host.fqdn)).get(host.fqdn, HostStats(host.fqdn))
        relay = next(
            (
                row
                for row in await self.db.relay_sessions()
                if row.host.rstrip(".") == host.fqdn.rstrip(".")
            ),
            None,
        )
        return self.page(
            "host.html",
            status=status,
            user=session[1],
            csrf=csrf_token(session[0]),
            host=host,
            name=host.fqdn.rstrip("."),
            secret=secret,
            snippets=snippets.snippets(target),
            certificates=snippets.certificate_snippets(target),
            tsig=tsig,
            router=snippets.router_fields(target),
            history=history,
            stats=stats,
            relay=relay,
            zone_ttl=self.api.service.default_ttl.get(host.zone, DEFAULT_TTL),
            ttl_min=self.api.config.host_ttl_min,
            ttl_max=self.api.config.host_ttl_max,
            error=error,
            signed_in=True,
        )

    async def make_tsig(self, request: web.Request) -> web.Response:
        """A new TSIG key for the host's ACME challenge (RFC 2136), shown once in the
        certificate snippets; the old key stops working at once."""
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        host = self._owned(session[1], self._fqdn(request))
        algorithm = tsigkeys.DEFAULT_ALGORITHM
        row = TsigKeyRow(host.fqdn, host.fqdn, algorithm, tsigkeys.new_salt(), self.clock())
        server = tsigkeys.server_key(self.db.data_dir, create=True)
        assert server is not None
        audit = self._audit(request, session[1], "host tsig", host.fqdn, algorithm)
        await self.db.set_tsig_key(row, audit)
        await self.api.service.ensure_fresh()  # the keyring knows it before the page shows it
        secret = base64.b64encode(tsigkeys.derive_secret(server, row)).decode()
        key = snippets.TsigKey(row.name, algorithm, secret)
        return await self._host_page(request, session, host.fqdn, tsig=key)

    async def set_ttl(self, request: web.Request) -> web.Response:
        """The host's own TTL, within the server's limits; empty: the zone's default."""
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        host = self._owned(session[1], self._fqdn(request))
        low, high = self.api.config.host_ttl_min, self.api.config.host_ttl_max
        raw = form.get("ttl", "").strip()[:MAX_NUMBER]
        ttl: int | None = None
        if raw:
            ttl = int(raw) if raw.isascii() and raw.isdigit() else -1
            if not low <= ttl <= high:
                message = (
                    f"The TTL must be a whole number of seconds from {low} to {high}"
                    " (or empty for the zone's default)."
                )
                return await self._host_page(request, session, host.fqdn, status=400, error=message)
        audit = self._audit(request, session[1], "host ttl", host.fqdn, f"ttl={ttl}")
        try:
            await self.db.set_host_ttl(host.fqdn, ttl, audit)
        except NotFoundError:
            raise web.HTTPNotFound(text="no such host\n") from None
        await self.api.service.ensure_fresh()  # served before the page says so
        raise web.HTTPSeeOther(f"/dash/hosts/{quote(host.fqdn.rstrip('.'))}")

    async def rotate(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        host = self._owned(session[1], self._fqdn(request))
        secret = new_secret()
        audit = self._audit(request, session[1], "host rotate", host.fqdn)
        try:
            await self.db.set_host_secret(host.fqdn, sha256_hex(secret), audit)
        except NotFoundError:
            raise web.HTTPNotFound(text="no such host\n") from None
        await self.api.service.ensure_fresh()
        return await self._host_page(request, session, host.fqdn, secret=secret)

    async def remove(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session = posted[0]
        host = self._owned(session[1], self._fqdn(request))
        audit = self._audit(request, session[1], "host rm", host.fqdn)
        with contextlib.suppress(NotFoundError):  # gone already: what the user asked for
            await self.db.remove_host(host.fqdn, audit)
        await self.api.service.ensure_fresh()
        raise web.HTTPSeeOther("/dash/hosts")

    async def _note_failed_sign_in(self, request: web.Request, name: str, outcome: str) -> None:
        """An audit entry for a failed sign-in; the tried name is the visitor's text (escaped,
        cut short), never the password or the code."""
        await self.db.append_audit(
            [
                AuditEntry(
                    actor="visitor",
                    action="sign-in failed",
                    subject=json.dumps(name[:LOGGED_NAME_LENGTH])[1:-1],
                    detail=f"dashboard {outcome}",
                    source=str(self.api.source(request)),
                    ts=self.clock(),
                )
            ]
        )

    def _audit(
        self, request: web.Request, user: str, action: str, subject: str, detail: str = ""
    ) -> AuditEntry:
        return AuditEntry(
            actor=f"user:{user}",
            action=action,
            subject=subject,
            detail=f"dashboard {detail}".strip(),
            source=str(self.api.source(request)),
            ts=self.clock(),
        )


def _set_cookie(response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
    # __Host-: Secure, Path=/, no Domain (no other host or scheme can set or read it).
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        # Redirects and errors too: a 404 page is a page.
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def build_dashboard(api: ApiContext, *, dns_port: int = snippets.DNS_PORT) -> web.Application:
    """The dashboard, to mount at ``/dash/`` on the server's HTTP app; ``dns_port``: where
    the server's DNS listens (for the certificate clients' RFC 2136 snippets)."""
    dash = Dashboard(api, dns_port=dns_port)
    app = web.Application(middlewares=[security_headers], client_max_size=16 * 1024)
    app.on_startup.append(dash.open)
    app.on_cleanup.append(dash.close)
    app.router.add_get("", dash.index)
    app.router.add_get("/", dash.index)
    app.router.add_get("/style.css", dash.style)
    app.router.add_get("/login", dash.login_form)
    app.router.add_post("/login", dash.login)
    app.router.add_post("/logout", dash.logout)
    app.router.add_get("/account", dash.account)
    app.router.add_post("/account/password", dash.change_password)
    app.router.add_post("/account/token", dash.new_token)
    app.router.add_get("/hosts", dash.hosts)
    app.router.add_post("/hosts", dash.add_host)
    app.router.add_get("/hosts/{name}", dash.host)
    app.router.add_post("/hosts/{name}/rotate", dash.rotate)
    app.router.add_post("/hosts/{name}/remove", dash.remove)
    app.router.add_post("/hosts/{name}/ttl", dash.set_ttl)
    app.router.add_post("/hosts/{name}/tsig", dash.make_tsig)
    # Imported here: their modules build on this one's Dashboard.
    from homeport.server.web import admin, signup, tokens
    from homeport.server.web import totp as totp_pages

    tokens.add_routes(app, dash)
    admin.add_routes(app, dash)
    signup.add_routes(app, dash)
    totp_pages.add_routes(app, dash)
    return app
