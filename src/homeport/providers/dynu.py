"""Dynu's dyndns2-compatible update API.

API (dynu.com "IP Update Protocol"): ``GET https://api.dynu.com/nic/update``
``?hostname=h&myip=v4&myipv6=v6`` with HTTP Basic auth (the password may be
given as its MD5 or SHA-256 hex digest). IPv6 travels in the separate
``myipv6`` parameter. Responses are the dyndns2 codes: ``good``, ``nochg``,
``badauth``, ``notfqdn``, ``nohost``, ``numhost``, ``abuse``, ``dnserr``, ``911``
(and ``servererror``, which we cannot read as dyndns2 and so retry).

An IPv6-only update sends ``myip=no``: without it Dynu would set the A record
to the address the request came from. A custom domain is named as
``hostname=ZONE&alias=SUB`` (set ``zone``); free Dynu names go as they are.

Documentation: https://www.dynu.com/DynamicDNS/IP-Update-Protocol
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from homeport.core.update import HostUpdate
from homeport.providers import _common as c
from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings

# Dynu's word for "leave this family alone" (instead of the connection address).
LEAVE_ALONE = "no"


class DynuSettings(Dyndns2Settings):
    server: str = "https://api.dynu.com"
    ipv6_style: Literal["list", "separate"] = "separate"
    zone: str | None = None  # a custom domain registered with Dynu (hostname=zone&alias=sub)


class DynuProvider(Dyndns2Provider):
    name = "dynu"
    Settings: ClassVar[type[ProviderSettings]] = DynuSettings

    @property
    def zone(self) -> str | None:
        return c.settings_as(self.config, DynuSettings).zone

    @property
    def batch_size(self) -> int:
        # alias= names one sub-domain, so custom-domain updates go one host at a time.
        return 1 if self.zone else super().batch_size

    def host_params(self, hosts: Sequence[HostUpdate]) -> list[tuple[str, str]]:
        if not self.zone:
            return super().host_params(hosts)
        zone, name = c.split_zone(hosts[0].hostname, self.zone)
        return [("hostname", zone)] + ([("alias", name)] if name != "@" else [])

    def address_params(self, host: HostUpdate) -> list[tuple[str, str]]:
        params = super().address_params(host)
        if host.ipv4 is None and self.config.ipv6_style == "separate":
            params.insert(0, ("myip", LEAVE_ALONE))
        return params


PROVIDER = DynuProvider
