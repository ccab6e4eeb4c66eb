"""deSEC dynDNS IP update API (update.dedyn.io).

API (desec.readthedocs.io, "IP Update API"; desec-stack's DynDNS12UpdateView):
``GET https://update.dedyn.io/?hostname=h&myipv4=IP&myipv6=IP`` authenticated by
HTTP Basic with the domain name as user and a deSEC token as password. A family
left out is taken from the connection address or deleted, so the family we do
not publish is sent as ``preserve`` (leave it as it is). Success is HTTP 200
``good``; a refused token is HTTP 401 (badauth), a token that does not own the
domain 403 (badauth); a name not in the account is HTTP 404 ``nohost``;
inconsistent parameters are HTTP 400 (fatal); throttling is HTTP 429 (retried).

Documentation: https://desec.readthedocs.io/en/latest/dyndns/update-api.html
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate, Status
from homeport.providers import _common as c
from homeport.providers.base import Flow, HttpReply, Provider, ProviderSettings
from homeport.providers.dyndns2 import read_reply

# deSEC: "preserve" keeps the current record of that family untouched.
PRESERVE = "preserve"


class DesecSettings(ProviderSettings):
    server: str = "https://update.dedyn.io"
    ssl: bool = True
    token: pydantic.SecretStr
    login: str | None = None  # Basic user; defaults to the hostname (deSEC's example)


class DesecProvider(Provider):
    name = "desec"
    Settings: ClassVar[type[ProviderSettings]] = DesecSettings
    ddclient_renames: ClassVar[Mapping[str, str]] = {"password": "token"}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, DesecSettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        results = []
        stop: c.Outcome | None = None
        cfg = self.config
        token = cfg.token.get_secret_value()
        for host in hosts:
            c.records_of(host)
            if stop is not None:
                results.append(c.result(host, stop))
                continue
            auth = c.basic_auth(cfg.login or host.hostname, token)
            query = urlencode(
                {
                    "hostname": host.hostname,
                    "myipv4": str(host.ipv4) if host.ipv4 else PRESERVE,
                    "myipv6": str(host.ipv6) if host.ipv6 else PRESERVE,
                },
                safe=":",
            )
            reply = yield c.request(
                "GET",
                f"{c.base_url(cfg.server, cfg.ssl)}/?{query}",
                user_agent=self.user_agent,
                headers=[("Authorization", auth)],
                secrets=[*c.secret_forms(token), auth, auth.removeprefix("Basic ")],
                example=HttpReply(200, b"good"),
            )
            outcome = c.http_outcome(reply, c.one_line(reply.text, 60))
            if outcome is None:
                outcome = read_reply(reply, [host.hostname])[0]
            if outcome.status is Status.FATAL and outcome.code == "badauth":
                outcome = c.Outcome(outcome.status, outcome.code, outcome.message, True)
            if outcome.account_wide:
                stop = outcome
            done = c.published_addresses(host) if outcome.published else []
            results.append(c.result(host, outcome, done))
        return results


PROVIDER = DesecProvider
