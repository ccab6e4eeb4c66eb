"""A homeport server (``homeport server``): dyndns2 against our own service.

API (docs/architecture.md, dyndns2, server side): ``GET /nic/update?hostname=a,b&myip=v4,v6`` with
HTTP Basic auth by the host's name (or user) and its secret; every dyndns2
address form is accepted, we send the ``myip`` comma list. Responses are the
dyndns2 codes, throttling answered ``abuse`` (or HTTP 429). There is no public
default server: ``server`` must name yours.

TXT records (ACME DNS-01, ``homeport cert``): lego's httpreq shape,
``POST /present`` and ``POST /cleanup`` with the JSON body
``{"fqdn": "_acme-challenge.NAME.", "value": "..."}`` and the same Basic auth;
any 2xx is done, 401/403 is a refused key. The server answers only once its own
DNS serves the change; ``homeport cert`` still checks that DNS itself (``dns``,
default: the server URL's host on port 53).

Documentation: README.md "The server", docs/architecture.md and docs/cert.md (this project's server)
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

import pydantic

from homeport.core.update import Status, UpdateResult
from homeport.providers import _common as c
from homeport.providers.base import (
    Flow,
    HttpReply,
    ProviderSettings,
    TxtChange,
)
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings

DNS_PORT = 53  # RFC 1035 §4.2


class HomeportSettings(Dyndns2Settings):
    server: str  # a self-hosted service: no sensible default
    # The server's authoritative DNS, "HOST:PORT", where `homeport cert` looks for its
    # challenge; default: the server URL's host on port 53.
    dns: str | None = pydantic.Field(default=None, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:]+):\d+$")


class HomeportProvider(Dyndns2Provider):
    name = "homeport"
    Settings: ClassVar[type[ProviderSettings]] = HomeportSettings

    def txt_server(self) -> tuple[str, int] | None:
        dns = c.settings_as(self.settings, HomeportSettings).dns
        if dns is not None:
            host, _, port = dns.rpartition(":")
            return host.strip("[]"), int(port)
        hostname = urlsplit(c.base_url(self.config.server, self.config.ssl)).hostname
        return (hostname, DNS_PORT) if hostname else None

    def txt(self, change: TxtChange) -> Flow:
        cfg = self.config
        url = f"{c.base_url(cfg.server, cfg.ssl)}/{change.verb}"
        password = cfg.password.get_secret_value()
        auth = c.basic_auth(cfg.login, password)
        reply = yield c.request(
            "POST",
            url,
            user_agent=self.user_agent,
            headers=[("Authorization", auth), *c.JSON_HEADERS],
            body=c.json_body({"fqdn": f"{change.fqdn}.", "value": change.value}),
            secrets=[*c.secret_forms(password), auth, auth.removeprefix("Basic ")],
            example=HttpReply(200, b""),
        )
        if not isinstance(reply, HttpReply):
            raise TypeError("a homeport flow takes HTTP replies")
        outcome = c.http_outcome(reply, c.one_line(reply.text))
        if outcome is None:
            return [UpdateResult(change.fqdn, Status.GOOD, "good", change.verb)]
        return [UpdateResult(change.fqdn, outcome.status, outcome.code, outcome.message)]


PROVIDER = HomeportProvider
