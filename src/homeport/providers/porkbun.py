"""Porkbun DNS through its JSON API v3.

API (porkbun.com/api/json/v3/documentation): every call is a ``POST`` to
``https://api.porkbun.com/api/json/v3/...`` whose JSON body carries
``apikey`` and ``secretapikey`` (so the body holds secrets):

1. ``/dns/retrieveByNameType/DOMAIN/TYPE/SUB`` -> ``{"status": "SUCCESS", "records": [...]}``;
2. ``/dns/editByNameType/DOMAIN/TYPE/SUB`` ``{"content": IP, "ttl": ...}`` when a record
   exists, or ``/dns/create/DOMAIN`` ``{"name": SUB, "type": TYPE, "content": IP, "ttl": ...}``.

Answers are ``{"status": "SUCCESS", ...}`` or ``{"status": "ERROR", "message": ...}``
with HTTP 400/403; a refused key pair says "Invalid API key" (badauth), a
domain without API access "Domain is not opted in to API access" (badauth: the
account must change it). HTTP 429/5xx are retried. The apex is an empty SUB.

Documentation: https://porkbun.com/api/json/v3/documentation
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings

# Porkbun's minimum TTL (its API documentation: "The minimum is 600 seconds").
MIN_TTL = 600


API_PATH = "/api/json/v3"


class PorkbunSettings(ProviderSettings):
    base_url: str = f"https://api.porkbun.com{API_PATH}"
    apikey: pydantic.SecretStr
    secretapikey: pydantic.SecretStr
    zone: str | None = None  # the registered domain; default: the hostname's last two labels
    ttl: int = pydantic.Field(default=MIN_TTL, ge=MIN_TTL)


def read(reply: HttpReply) -> tuple[c.Outcome | None, Any]:
    body = c.parse_json(reply)
    message = str(body.get("message", "")) if isinstance(body, dict) else ""
    if "api key" in message.lower() or "opted in to api access" in message.lower():
        return c.Outcome(Status.FATAL, "badauth", c.one_line(message), True), None
    verdict = c.http_outcome(reply, c.one_line(message))
    if verdict is not None and verdict.status is not Status.FATAL:
        return verdict, None  # 429/5xx: retried whatever the body says
    if verdict is not None and not message:
        return verdict, None
    if not isinstance(body, dict) or body.get("status") != "SUCCESS":
        return c.Outcome(Status.FATAL, "ERROR", c.one_line(message or reply.text)), None
    return None, body


class PorkbunProvider(Provider):
    name = "porkbun"
    Settings: ClassVar[type[ProviderSettings]] = PorkbunSettings
    # apikey=, secretapikey= match already
    ddclient_renames: ClassVar[Mapping[str, str]] = {"root-domain": "zone"}

    @classmethod
    def settings_from_ddclient(cls, options: Mapping[str, str]) -> ProviderSettings:
        # ddclient's server= is the bare host; the API path comes after it.
        opts = dict(options)
        if opts.get("server"):
            opts["base-url"] = f"{opts.pop('server').rstrip('/')}{API_PATH}"
        return super().settings_from_ddclient(opts)

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, PorkbunSettings)

    def _call(
        self, path: str, fields: dict[str, object], example: dict[str, object]
    ) -> Generator[Exchange, Any, tuple[c.Outcome | None, Any]]:
        cfg = self.config
        keys = (cfg.apikey.get_secret_value(), cfg.secretapikey.get_secret_value())
        body = {"apikey": keys[0], "secretapikey": keys[1], **fields}
        reply = yield c.request(
            "POST",
            f"{c.base_url(cfg.base_url)}{path}",
            user_agent=self.user_agent,
            headers=c.JSON_HEADERS,
            body=c.json_body(body),
            secrets=c.secret_forms(*keys),
            example=c.json_reply({"status": "SUCCESS", **example}),
        )
        return read(reply)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        zone, name = c.split_zone(host.hostname, self.config.zone)
        sub = "" if name == "@" else name
        where = f"/{quote(zone)}/{rdtype}/{quote(sub)}"
        old = {"id": "RECORD_ID", "name": host.hostname, "type": rdtype, "content": "192.0.2.0"}
        path = f"/dns/retrieveByNameType{where}"
        error, body = yield from self._call(path, {}, {"records": [old]})
        if error is not None:
            return error
        if not isinstance(body.get("records"), list):
            return c.bad_shape("records")
        records = c.dicts(body["records"])
        if any(r.get("content") == str(address) for r in records) and len(records) == 1:
            return c.Outcome(Status.NOCHG, "nochg", f"{rdtype} record already {address}")
        ttl = str(self.config.ttl)  # Porkbun's API takes numbers as strings
        if records:
            fields: dict[str, object] = {"content": str(address), "ttl": ttl}
            error, _ = yield from self._call(f"/dns/editByNameType{where}", fields, {})
        else:
            fields = {"name": sub, "type": rdtype, "content": str(address), "ttl": ttl}
            error, _ = yield from self._call(f"/dns/create/{quote(zone)}", fields, {"id": 1})
        return error or c.Outcome(Status.GOOD, "good", f"{rdtype} {host.hostname} -> {address}")


PROVIDER = PorkbunProvider
