"""DigitalOcean Domains (API v2).

API (docs.digitalocean.com/reference/api, "Domain Records"), with
``Authorization: Bearer TOKEN``:

1. ``GET /v2/domains/ZONE/records?type=A&name=FQDN`` ->
   ``{"domain_records": [{"id", "type", "name", "data", "ttl"}], "meta": {"total"}}``;
2. ``PATCH /v2/domains/ZONE/records/ID`` ``{"type": "A", "data": IP}`` -> 200
   ``{"domain_record": ...}``, or when absent ``POST /v2/domains/ZONE/records``
   ``{"type", "name", "data", "ttl"}`` -> 201.

Errors are ``{"id": "unauthorized", "message": "Unable to authenticate you"}``
(401, badauth), ``{"id": "forbidden"}`` (403, badauth), ``{"id": "not_found"}``
(404, nohost), ``{"id": "too_many_requests"}`` (429, retried), 5xx (retried).
A record already at the address is not written.

Documentation: https://docs.digitalocean.com/reference/api/api-reference/#tag/Domain-Records
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings

# DigitalOcean's minimum record TTL is 30 s; 60 s matches our own server's default.
DEFAULT_TTL = 60


class DigitalOceanSettings(ProviderSettings):
    base_url: str = "https://api.digitalocean.com"
    token: pydantic.SecretStr
    zone: str | None = None
    ttl: int = pydantic.Field(default=DEFAULT_TTL, ge=30)


def read(reply: HttpReply) -> tuple[c.Outcome | None, Any]:
    body = c.parse_json(reply)
    detail = ""
    if isinstance(body, dict) and "message" in body:
        detail = f"{body.get('id')}: {body.get('message')}"
    verdict = c.http_outcome(reply, c.one_line(detail))
    if verdict is not None:
        return verdict, None
    if not isinstance(body, dict):
        return c.Outcome(Status.RETRY, "badresponse", "answer is not JSON", True), None
    return None, body


class DigitalOceanProvider(Provider):
    name = "digitalocean"
    Settings: ClassVar[type[ProviderSettings]] = DigitalOceanSettings
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "token", "server": "base_url"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, DigitalOceanSettings)

    def _call(
        self, method: str, path: str, body: object, example: object, status: int = 200
    ) -> Generator[Exchange, Any, tuple[c.Outcome | None, Any]]:
        token = self.config.token.get_secret_value()
        reply = yield c.request(
            method,
            f"{c.base_url(self.config.base_url)}/v2{path}",
            user_agent=self.user_agent,
            headers=[("Authorization", f"Bearer {token}"), *c.JSON_HEADERS],
            body=c.json_body(body) if body is not None else b"",
            secrets=c.secret_forms(token),
            example=c.json_reply(example, status),
        )
        return read(reply)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        zone, name = c.split_zone(host.hostname, self.config.zone)
        fqdn = host.hostname.rstrip(".").lower()
        base = f"/domains/{quote(zone)}/records"
        old = {"id": 1, "type": rdtype, "name": name, "data": "192.0.2.0", "ttl": 60}
        example = {"domain_records": [old], "meta": {"total": 1}}
        query = urlencode({"type": rdtype, "name": fqdn})
        error, body = yield from self._call("GET", f"{base}?{query}", None, example)
        if error is not None:
            return error
        found = body.get("domain_records")
        if not isinstance(found, list):
            return c.bad_shape("domain_records")
        if found:
            record = c.dicts(found)[0] if c.dicts(found) else {}
            if not record.get("id"):
                return c.bad_shape("a record id")
            if record.get("data") == str(address):
                return c.Outcome(Status.NOCHG, "nochg", f"{rdtype} record already {address}")
            change = {"type": rdtype, "data": str(address)}
            path = f"{base}/{quote(str(record['id']))}"
            error, _ = yield from self._call("PATCH", path, change, {"domain_record": record})
        else:
            new = {"type": rdtype, "name": name, "data": str(address), "ttl": self.config.ttl}
            error, _ = yield from self._call("POST", base, new, {"domain_record": new}, 201)
        return error or c.Outcome(Status.GOOD, "good", f"{rdtype} {fqdn} -> {address}")


PROVIDER = DigitalOceanProvider
