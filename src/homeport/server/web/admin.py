"""The dashboard's admin pages: zones, users, invitations, the audit log, secondaries.

Only accounts with the admin role (``homeport server user add --admin``, or made admin
here) see them; to anyone else they do not exist (404, as a guessed URL). Every change
is written with its audit entry, as the admin commands write theirs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from homeport.core.units import DAY
from homeport.errors import ConflictError, NotFoundError, UsageError
from homeport.server import admin as admin_policy
from homeport.server.auth import new_secret, sha256_hex
from homeport.server.secondary_commands import serial_lag, soa_serial
from homeport.server.store import InvitationRow, UserRow
from homeport.server.web.pages import MAX_FIELD, MIN_PASSWORD, Dashboard, Session, csrf_token

# Entries the audit page shows (the newest); `homeport server audit --limit` has them all.
AUDIT_ROWS = 200
# An invitation is for someone the admin is talking to now: a week, at most a month.
INVITATION_DAYS = 7
MAX_INVITATION_DAYS = 30
# The public id naming an invitation in lists and the audit log (not a secret).
INVITATION_ID_BYTES = 4


@dataclass(frozen=True)
class UserView:
    name: str
    admin: bool
    totp: bool
    hosts: int
    created: str


@dataclass(frozen=True)
class SecondaryView:
    name: str
    address: str
    zone: str
    primary: int
    serial: str
    lag: str


def _day(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


class AdminPages:
    def __init__(self, dash: Dashboard) -> None:
        self.dash = dash

    async def _admin(self, request: web.Request) -> Session:
        session = await self.dash._signed_in(request)
        if not self.dash.is_admin(session[1]):
            raise web.HTTPNotFound(text="no such page\n")
        return session

    async def _posted(self, request: web.Request) -> tuple[Session, dict[str, str]] | web.Response:
        await self._admin(request)
        return await self.dash._posted(request)

    def _page(
        self, template: str, session: Session, status: int = 200, **values: Any
    ) -> web.Response:
        values.setdefault("error", "")
        values.setdefault("done", "")
        return self.dash.page(
            template,
            status=status,
            user=session[1],
            csrf=csrf_token(session[0]),
            signed_in=True,
            **values,
        )

    # -- zones ------------------------------------------------------------------------

    async def index(self, request: web.Request) -> web.Response:
        await self._admin(request)
        raise web.HTTPSeeOther("/dash/admin/zones")

    async def zones(self, request: web.Request) -> web.Response:
        session = await self._admin(request)
        counts: dict[str, int] = {}
        for host in self.dash.api.service.hosts.values():
            counts[host.zone] = counts.get(host.zone, 0) + 1
        zones = await self.dash.db.zones()
        return self._page("admin_zones.html", session, zones=zones, counts=counts, tab="zones")

    # -- users ------------------------------------------------------------------------

    async def users(self, request: web.Request) -> web.Response:
        return await self._users_page(await self._admin(request))

    async def _users_page(
        self, session: Session, *, error: str = "", done: str = "", status: int = 200
    ) -> web.Response:
        counts: dict[str | None, int] = {}
        for host in self.dash.api.service.hosts.values():
            counts[host.owner] = counts.get(host.owner, 0) + 1
        views = [
            UserView(
                u.name, u.admin, u.totp_secret is not None, counts.get(u.name, 0), _day(u.created)
            )
            for u in await self.dash.db.users()
        ]
        return self._page(
            "admin_users.html", session, status, users=views, error=error, done=done, tab="users"
        )

    async def add_user(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        name = form.get("name", "").strip()[:MAX_FIELD]
        password = form.get("password", "")[:MAX_FIELD]
        try:
            admin_policy.check_user_name(name)
        except UsageError as exc:
            return await self._users_page(session, error=f"Not added: {exc}.", status=400)
        if len(password) < MIN_PASSWORD:
            message = f"Not added: the password needs at least {MIN_PASSWORD} characters."
            return await self._users_page(session, error=message, status=400)
        password_hash = await asyncio.to_thread(self.dash.api.login.passwords.hash, password)
        is_admin = form.get("admin") == "on"
        row = UserRow(name, password_hash, sha256_hex(new_secret()), self.dash.clock(), is_admin)
        audit = self.dash._audit(request, session[1], "user add", name, "admin" if is_admin else "")
        try:
            await self.dash.db.add_user(row, audit)
        except ConflictError:
            return await self._users_page(session, error=f"{name} is taken.", status=409)
        await self.dash.api.service.ensure_fresh()
        return await self._users_page(session, done=f"Account {name} added.", status=201)

    async def remove_user(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        name = form.get("name", "")[:MAX_FIELD]
        if name == session[1]:
            message = "You cannot remove your own account here (ask another admin)."
            return await self._users_page(session, error=message, status=400)
        audit = self.dash._audit(request, session[1], "user rm", name)
        try:
            await self.dash.db.remove_user(name, audit)
        except NotFoundError:
            return await self._users_page(session, error="No such account.", status=404)
        await self.dash.api.service.ensure_fresh()
        return await self._users_page(session, done=f"Account {name} removed; its hosts stay.")

    async def set_admin(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        name = form.get("name", "")[:MAX_FIELD]
        make = form.get("admin") == "on"
        if name == session[1]:
            message = "You cannot change your own role here (ask another admin)."
            return await self._users_page(session, error=message, status=400)
        action = "user admin" if make else "user unadmin"
        try:
            await self.dash.db.set_user_admin(
                name, make, self.dash._audit(request, session[1], action, name)
            )
        except NotFoundError:
            return await self._users_page(session, error="No such account.", status=404)
        await self.dash.api.service.ensure_fresh()
        done = f"{name} is {'an admin' if make else 'no longer an admin'}."
        return await self._users_page(session, done=done)

    # -- invitations -----------------------------------------------------------------

    async def invitations(self, request: web.Request) -> web.Response:
        return await self._invitations_page(request, await self._admin(request))

    async def _invitations_page(
        self,
        request: web.Request,
        session: Session,
        *,
        link: str | None = None,
        error: str = "",
        status: int = 200,
    ) -> web.Response:
        now = self.dash.clock()
        rows = [
            {
                "id": r.id,
                "by": r.created_by,
                "created": _day(r.created),
                "expires": _day(r.expires),
                "state": f"used by {r.used_by}"
                if r.used_by
                else ("expired" if now >= r.expires else "open"),
                "open": r.used_by is None and now < r.expires,
            }
            for r in await self.dash.db.invitations()
        ]
        return self._page(
            "admin_invitations.html",
            session,
            status,
            invitations=rows,
            link=link,
            error=error,
            days=INVITATION_DAYS,
            max_days=MAX_INVITATION_DAYS,
            tab="invitations",
        )

    async def invite(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        raw = form.get("days", "").strip()[:3] or str(INVITATION_DAYS)
        if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_INVITATION_DAYS):
            message = f"Days must be a whole number from 1 to {MAX_INVITATION_DAYS}."
            return await self._invitations_page(request, session, error=message, status=400)
        code = new_secret()
        now = self.dash.clock()
        row = InvitationRow(
            sha256_hex(code),
            secrets.token_hex(INVITATION_ID_BYTES),
            session[1],
            now,
            now + int(raw) * DAY,
        )
        audit = self.dash._audit(request, session[1], "invitation add", row.id, f"days={raw}")
        await self.dash.db.add_invitation(row, audit)
        scheme = "https" if request.secure else "http"
        link = f"{scheme}://{request.host}/dash/signup?code={code}"
        return await self._invitations_page(request, session, link=link, status=201)

    async def uninvite(self, request: web.Request) -> web.Response:
        posted = await self._posted(request)
        if isinstance(posted, web.Response):
            return posted
        session, form = posted
        invitation_id = form.get("id", "")[: 2 * INVITATION_ID_BYTES + 2]
        audit = self.dash._audit(request, session[1], "invitation rm", invitation_id)
        try:
            await self.dash.db.remove_invitation(invitation_id, audit)
        except NotFoundError:
            return await self._invitations_page(
                request, session, error="No such invitation.", status=404
            )
        raise web.HTTPSeeOther("/dash/admin/invitations")

    # -- the audit log, secondaries ----------------------------------------------------

    async def audit(self, request: web.Request) -> web.Response:
        session = await self._admin(request)
        entries = [
            {
                "when": _day(e.ts),
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "detail": e.detail,
                "source": e.source,
            }
            for e in await self.dash.db.audit_log(AUDIT_ROWS)
        ]
        return self._page("admin_audit.html", session, entries=entries, tab="audit")

    async def secondaries(self, request: web.Request) -> web.Response:
        """Each secondary's serial of each zone (one SOA query each, as `server status`)."""
        session = await self._admin(request)
        zones = await self.dash.db.zones()
        views: list[SecondaryView] = []
        for sec in await self.dash.db.secondaries():
            serials = await asyncio.gather(
                *(soa_serial(sec.address, sec.port, z.origin) for z in zones)
            )
            for zone, serial in zip(zones, serials, strict=True):
                views.append(
                    SecondaryView(
                        sec.name,
                        f"{sec.address} port {sec.port}",
                        zone.origin,
                        zone.soa.serial,
                        "no answer" if serial is None else str(serial),
                        "-" if serial is None else str(serial_lag(zone.soa.serial, serial)),
                    )
                )
        return self._page("admin_secondaries.html", session, secondaries=views, tab="secondaries")


def add_routes(app: web.Application, dash: Dashboard) -> None:
    pages = AdminPages(dash)
    app.router.add_get("/admin", pages.index)
    app.router.add_get("/admin/zones", pages.zones)
    app.router.add_get("/admin/users", pages.users)
    app.router.add_post("/admin/users", pages.add_user)
    app.router.add_post("/admin/users/remove", pages.remove_user)
    app.router.add_post("/admin/users/role", pages.set_admin)
    app.router.add_get("/admin/invitations", pages.invitations)
    app.router.add_post("/admin/invitations", pages.invite)
    app.router.add_post("/admin/invitations/remove", pages.uninvite)
    app.router.add_get("/admin/audit", pages.audit)
    app.router.add_get("/admin/secondaries", pages.secondaries)
