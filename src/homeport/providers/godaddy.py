"""GoDaddy Domains API v1.

API (developer.godaddy.com/doc/endpoint/domains): ``PUT https://api.godaddy.com/``
``v1/domains/ZONE/records/TYPE/NAME`` with ``[{"data": IP, "ttl": TTL}]``
replaces the records of that type and name (``@`` is the apex), creating
them if absent. Auth: ``Authorization: sso-key KEY:SECRET``. Success is HTTP
200 with an empty body. Errors are JSON ``{"code": ..., "message": ...}``:
400 ``INVALID_BODY``, 401 ``UNABLE_TO_AUTHENTICATE`` and 403 ``ACCESS_DENIED``
(badauth; GoDaddy also denies accounts with fewer than 10 domains), 404
``UNKNOWN_DOMAIN`` (nohost), 422 ``INVALID_BODY`` (fatal), 429
``TOO_MANY_REQUESTS`` and 5xx (retried).

Documentation: https://developer.godaddy.com/doc/endpoint/domains
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings

API_PATH = "/v1/domains"
# GoDaddy's minimum TTL is 600 s (its API rejects less with 422).
MIN_TTL = 600


class GoDaddySettings(ProviderSettings):
    base_url: str = "https://api.godaddy.com"
    key: pydantic.SecretStr
    secret: pydantic.SecretStr
    zone: str | None = None
    ttl: int = pydantic.Field(default=MIN_TTL, ge=MIN_TTL)


class GoDaddyProvider(Provider):
    name = "godaddy"
    Settings: ClassVar[type[ProviderSettings]] = GoDaddySettings
    ddclient_renames: ClassVar[Mapping[str, str]] = {"login": "key", "password": "secret"}

    @classmethod
    def settings_from_ddclient(cls, options: Mapping[str, str]) -> ProviderSettings:
        # ddclient's server= includes the API path (api.godaddy.com/v1/domains).
        opts = dict(options)
        if opts.get("server"):
            opts["base-url"] = opts.pop("server").rstrip("/").removesuffix(API_PATH)
        return super().settings_from_ddclient(opts)

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, GoDaddySettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        cfg = self.config
        zone, name = c.split_zone(host.hostname, cfg.zone)
        key, secret = cfg.key.get_secret_value(), cfg.secret.get_secret_value()
        auth = f"sso-key {key}:{secret}"
        reply = yield c.request(
            "PUT",
            f"{c.base_url(cfg.base_url)}{API_PATH}/{quote(zone)}/records/{rdtype}/{quote(name)}",
            user_agent=self.user_agent,
            headers=[("Authorization", auth), *c.JSON_HEADERS],
            body=c.json_body([{"data": str(address), "ttl": cfg.ttl}]),
            secrets=[auth.removeprefix("sso-key "), key, secret],
            example=HttpReply(200, b""),
        )
        body = c.parse_json(reply)
        detail = ""
        if isinstance(body, dict):
            detail = f"{body.get('code', '')} {body.get('message', '')}".strip()
        verdict = c.http_outcome(reply, c.one_line(detail))
        return verdict or c.Outcome(Status.GOOD, "good", f"{rdtype} {host.hostname} -> {address}")


PROVIDER = GoDaddyProvider
