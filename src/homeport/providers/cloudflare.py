"""Cloudflare DNS through the v4 API with a scoped API token.

API (developers.cloudflare.com/api, "DNS Records for a Zone"), every call with
``Authorization: Bearer TOKEN`` (a token with Zone.DNS edit rights):

1. ``GET /client/v4/zones?name=ZONE`` -> ``result[0].id`` (the zone id);
2. ``GET /client/v4/zones/ID/dns_records?type=A&name=FQDN`` -> the record;
3. ``PATCH /client/v4/zones/ID/dns_records/RID`` ``{"content": IP, "proxied": ...}``
   sending the record's own ``proxied`` flag back, so an orange-clouded record
   stays proxied; or, when there is no record, ``POST .../dns_records`` with
   type, name, content, ttl (1 = automatic) and ``proxied`` from the settings.

Every answer is ``{"success": bool, "errors": [{"code", "message"}], "result"}``.
A refused token is HTTP 403 (error 9109 "Invalid access token", 10000
"Authentication error") or 400 (6003/6111 "Invalid request headers"): badauth.
HTTP 429 and 5xx are retried. A record already at the address is not written.

Documentation: https://developers.cloudflare.com/api/resources/dns/subresources/records/
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings

# Cloudflare's error codes for a token that is malformed, invalid or lacks rights.
AUTH_ERRORS = frozenset({6003, 6111, 9103, 9106, 9109, 10000})
# ttl=1 is Cloudflare's "automatic" TTL (300 s for unproxied records).
AUTO_TTL = 1


class CloudflareSettings(ProviderSettings):
    base_url: str = "https://api.cloudflare.com/client/v4"
    token: pydantic.SecretStr
    zone: str | None = None  # default: the hostname's last two labels
    ttl: int = AUTO_TTL
    proxied: bool = False  # only for records we create; existing ones keep theirs


def read(reply: HttpReply) -> tuple[c.Outcome | None, Any]:
    """(error outcome or None, the ``result`` member)."""
    body = c.parse_json(reply)
    errors = c.dicts(body.get("errors")) if isinstance(body, dict) else []
    codes = {e["code"] for e in errors if isinstance(e.get("code"), int)}
    detail = "; ".join(f"{e.get('code')} {e.get('message')}" for e in errors)
    if codes & AUTH_ERRORS:
        return c.Outcome(Status.FATAL, "badauth", c.one_line(detail), True), None
    verdict = c.http_outcome(reply, c.one_line(detail))
    if verdict is not None:
        return verdict, None
    if not isinstance(body, dict) or body.get("success") is not True:
        return c.Outcome(Status.FATAL, "error", c.one_line(detail or reply.text)), None
    return None, body.get("result")


class CloudflareProvider(Provider):
    name = "cloudflare"
    Settings: ClassVar[type[ProviderSettings]] = CloudflareSettings
    # ddclient: login=token (a literal word), password=<API token>, zone=
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "token", "server": "base_url"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, CloudflareSettings)
        self._zone_ids: dict[str, str] = {}

    def _call(
        self, method: str, path: str, body: object = None, example: object = None
    ) -> Generator[Exchange, Any, tuple[c.Outcome | None, Any]]:
        token = self.config.token.get_secret_value()
        reply = yield c.request(
            method,
            f"{c.base_url(self.config.base_url)}{path}",
            user_agent=self.user_agent,
            headers=[("Authorization", f"Bearer {token}"), *c.JSON_HEADERS],
            body=c.json_body(body) if body is not None else b"",
            secrets=c.secret_forms(token),
            example=c.json_reply({"success": True, "errors": [], "result": example}),
        )
        return read(reply)

    def _zone_id(self, zone: str) -> Generator[Exchange, Any, tuple[c.Outcome | None, str]]:
        if zone in self._zone_ids:
            return None, self._zone_ids[zone]
        error, found = yield from self._call(
            "GET", f"/zones?{urlencode({'name': zone})}", example=[{"id": "ZONE_ID", "name": zone}]
        )
        if error is not None:
            return error, ""
        if not isinstance(found, list):
            return c.bad_shape("a zone list"), ""
        zones = [z for z in c.dicts(found) if z.get("id")]
        if not zones:
            return c.Outcome(Status.FATAL, "nohost", f"zone {zone} is not in this account"), ""
        self._zone_ids[zone] = str(zones[0]["id"])
        return None, self._zone_ids[zone]

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        zone, _ = c.split_zone(host.hostname, self.config.zone)
        fqdn = host.hostname.rstrip(".").lower()
        error, zone_id = yield from self._zone_id(zone)
        if error is not None:
            return error
        base = f"/zones/{quote(zone_id)}/dns_records"
        example = [{"id": "RECORD_ID", "type": rdtype, "name": fqdn, "content": "192.0.2.0",
                    "proxied": False, "ttl": AUTO_TTL}]  # fmt: skip
        error, found = yield from self._call(
            "GET", f"{base}?{urlencode({'type': rdtype, 'name': fqdn})}", example=example
        )
        if error is not None:
            return error
        if not isinstance(found, list):
            return c.bad_shape("a record list")
        if found:
            record = c.dicts(found)[0] if c.dicts(found) else {}
            if not record.get("id"):
                return c.bad_shape("a record id")
            if record.get("content") == str(address):
                return c.Outcome(Status.NOCHG, "nochg", f"{rdtype} record already {address}")
            body: dict[str, object] = {"content": str(address)}
            body["proxied"] = bool(record.get("proxied", False))  # keep the orange cloud as set
            error, _ = yield from self._call(
                "PATCH", f"{base}/{quote(str(record['id']))}", body, {**record, **body}
            )
        else:
            cfg = self.config
            body = {"type": rdtype, "name": fqdn, "content": str(address), "ttl": cfg.ttl,
                    "proxied": cfg.proxied}  # fmt: skip
            error, _ = yield from self._call("POST", base, body, {"id": "RECORD_ID", **body})
        return error or c.Outcome(Status.GOOD, "good", f"{rdtype} {fqdn} -> {address}")


PROVIDER = CloudflareProvider
