"""api.digitalocean.com/v2 domain records as DigitalOcean documents them.

Bearer token; ``GET /v2/domains/ZONE/records?type=&name=FQDN``,
``PATCH /v2/domains/ZONE/records/ID``, ``POST /v2/domains/ZONE/records``.
Errors ``{"id": ..., "message": ...}``: 401 ``unauthorized``, 404 ``not_found``
(unknown domain or record). Steering: ``forbidden`` (403), ``ratelimit`` (429
``too_many_requests``), ``http500`` (``server_error``), ``invalid`` (422 ``unprocessable_entity``).
"""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, as_json

ERRORS = {
    "forbidden": (403, "forbidden", "You do not have access for the attempted action."),
    "ratelimit": (429, "too_many_requests", "API Rate limit exceeded."),
    "http500": (500, "server_error", "Unexpected server-side error"),
    "invalid": (422, "unprocessable_entity", "Data needs to be a valid IP address."),
}


def do_error(status: int, ident: str, message: str) -> web.Response:
    return as_json({"id": ident, "message": message}, status)


class DigitalOceanFake(FakeServer):
    def __init__(self, token: str, zones: set[str]) -> None:
        self.token = token
        self.zones = zones
        self.records: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(3352892)
        super().__init__()

    def add(self, zone: str, **record: Any) -> int:
        rid = next(self._ids)
        self.records[rid] = {"id": rid, "zone": zone, "ttl": 1800, **record}
        return rid

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/v2/domains/{zone}/records", self.list_records)
        router.add_post("/v2/domains/{zone}/records", self.create)
        router.add_patch("/v2/domains/{zone}/records/{rid}", self.patch)

    def check(self, request: web.Request) -> web.Response | None:
        forced = self.forced()
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return do_error(401, "unauthorized", "Unable to authenticate you")
        if forced in ERRORS:
            return do_error(*ERRORS[forced])
        if request.match_info["zone"] not in self.zones:
            return do_error(404, "not_found", "The resource you requested could not be found.")
        return None

    def public(self, record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k != "zone"}

    async def list_records(self, request: web.Request) -> web.Response:
        if (failure := self.check(request)) is not None:
            return failure
        zone, q = request.match_info["zone"], request.query
        fqdn = q.get("name", "")
        found = [
            self.public(r) for r in self.records.values()
            if r["zone"] == zone and r["type"] == q.get("type")
            and ((r["name"] == "@" and fqdn == zone) or f"{r['name']}.{zone}" == fqdn)
        ]  # fmt: skip
        return as_json({"domain_records": found, "links": {}, "meta": {"total": len(found)}})

    async def create(self, request: web.Request) -> web.Response:
        if (failure := self.check(request)) is not None:
            return failure
        rid = self.add(request.match_info["zone"], **(await request.json()))
        return as_json({"domain_record": self.public(self.records[rid])}, 201)

    async def patch(self, request: web.Request) -> web.Response:
        if (failure := self.check(request)) is not None:
            return failure
        record = self.records.get(int(request.match_info["rid"]))
        if record is None:
            return do_error(404, "not_found", "The resource you requested could not be found.")
        record.update(await request.json())
        return as_json({"domain_record": self.public(record)})
