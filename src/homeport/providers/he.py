"""Hurricane Electric Free DNS dynamic records (dyn.dns.he.net).

API (dns.he.net "Dynamic DNS" help): ``GET https://dyn.dns.he.net/nic/update``
``?hostname=h&myip=IP`` with HTTP Basic auth whose user is the record's name
and whose password is that record's own dynamic key (generated in the
dns.he.net panel). One address per request: an A and an AAAA record are two
updates with the same key. Answers are dyndns2 lines: ``good IP``,
``nochg IP``, ``badauth`` (wrong key, or the record is not dynamic),
``nohost``, ``notfqdn``, ``abuse`` (updating too often), ``911``.

Documentation: https://dns.he.net/docs.html
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any, ClassVar
from urllib.parse import urlencode

import pydantic

from homeport.core.update import HostUpdate
from homeport.providers import _common as c
from homeport.providers.base import Exchange, Flow, HttpReply, Provider, ProviderSettings
from homeport.providers.dyndns2 import read_reply


class HESettings(ProviderSettings):
    server: str = "https://dyn.dns.he.net"
    ssl: bool = True
    password: pydantic.SecretStr  # the record's dynamic key
    login: str | None = None  # defaults to the hostname, as HE expects


class HEProvider(Provider):
    name = "he"
    Settings: ClassVar[type[ProviderSettings]] = HESettings

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        super().__init__(settings, version=version)
        self.config = c.settings_as(settings, HESettings)

    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        return (yield from c.each_record(hosts, self._one))

    def _one(
        self, host: HostUpdate, rdtype: str, address: c.Address
    ) -> Generator[Exchange, Any, c.Outcome]:
        cfg = self.config
        key = cfg.password.get_secret_value()
        auth = c.basic_auth(cfg.login or host.hostname, key)
        query = urlencode({"hostname": host.hostname, "myip": str(address)}, safe=":")
        reply = yield c.request(
            "GET",
            f"{c.base_url(cfg.server, cfg.ssl)}/nic/update?{query}",
            user_agent=self.user_agent,
            headers=[("Authorization", auth)],
            secrets=[*c.secret_forms(key), auth, auth.removeprefix("Basic ")],
            example=HttpReply(200, f"good {address}".encode()),
        )
        return read_reply(reply, [host.hostname])[0]


PROVIDER = HEProvider
