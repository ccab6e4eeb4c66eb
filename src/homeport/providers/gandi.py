"""Gandi LiveDNS (API v5).

API (api.gandi.net/docs/livedns): ``PUT https://api.gandi.net/v5/livedns/``
``domains/ZONE/records/NAME/TYPE`` with ``{"rrset_values": [IP], "rrset_ttl": TTL}``
replaces the whole rrset (``@`` is the apex), so one call both creates and
updates. Auth: ``Authorization: Bearer PAT`` (a personal access token), or the
deprecated ``Authorization: Apikey KEY``. Success is HTTP 201
``{"message": "DNS Record Created"}`` (200 on some updates); errors are JSON
``{"code", "message", "object", "cause"}``: 401/403 (badauth), 404 unknown
domain (nohost), 400 invalid value, 409 conflicting record (fatal), 429/5xx retried.

Documentation: https://api.gandi.net/docs/livedns/
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, Provider, ProviderSettings

# LiveDNS's minimum rrset TTL is 300 s; dynamic records want the shortest.
DEFAULT_TTL = 300


class GandiSettings(ProviderSettings):
    base_url: str = "https://api.gandi.net"
    token: pydantic.SecretStr
    # "Bearer" for personal access tokens, "Apikey" for legacy API keys (ddclient:
    # use-personal-access-token=yes/no).
    auth_scheme: Literal["Bearer", "Apikey"] = "Bearer"
    zone: str | None = None
    ttl: int = pydantic.Field(default=DEFAULT_TTL, ge=300)


class GandiProvider(Provider):
    name = "gandi"
    Settings: ClassVar[type[ProviderSettings]] = GandiSettings
    # ddclient's script= (/v5) is part of our paths already.
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "token", "server": "base_url"}

    @classmethod
    def settings_from_ddclient(cls, options: Mapping[str, str]) -> ProviderSettings:
        # ddclient sends "Apikey" unless use-personal-access-token=yes.
        opts = {k.replace("_", "-"): v for k, v in options.items()}
        pat = opts.pop("use-personal-access-token", "no").strip().lower()
        opts["auth-scheme"] = "Bearer" if pat in ("yes", "true", "1", "on") else "Apikey"
        return super().settings_from_ddclient(opts)

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, GandiSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        cfg = self.config
        zone, name = c.split_zone(host.hostname, cfg.zone)
        token = cfg.token.get_secret_value()
        path = f"/v5/livedns/domains/{quote(zone)}/records/{quote(name)}/{rdtype}"
        reply = yield c.request(
            "PUT",
            f"{c.base_url(cfg.base_url)}{path}",
            user_agent=self.user_agent,
            headers=[("Authorization", f"{cfg.auth_scheme} {token}"), *c.JSON_HEADERS],
            body=c.json_body({"rrset_values": [str(address)], "rrset_ttl": cfg.ttl}),
            secrets=c.secret_forms(token),
            example=c.json_reply({"message": "DNS Record Created"}, 201),
        )
        body = c.parse_json(reply)
        message = str(body.get("message", "")) if isinstance(body, dict) else ""
        verdict = c.http_outcome(reply, c.one_line(message))
        return verdict or c.Outcome(Status.GOOD, "good", c.one_line(message))


PROVIDER = GandiProvider
