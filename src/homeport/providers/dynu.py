"""Dynu's dyndns2-compatible update API.

API (dynu.com "IP Update Protocol"): ``GET https://api.dynu.com/nic/update``
``?hostname=h&myip=v4&myipv6=v6`` with HTTP Basic auth (the password may be
given as its MD5 or SHA-256 hex digest). IPv6 travels in the separate
``myipv6`` parameter. Responses are the dyndns2 codes: ``good``, ``nochg``,
``badauth``, ``notfqdn``, ``nohost``, ``numhost``, ``abuse``, ``dnserr``, ``911``.

Documentation: https://www.dynu.com/DynamicDNS/IP-Update-Protocol
"""

from __future__ import annotations

from typing import ClassVar, Literal

from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings


class DynuSettings(Dyndns2Settings):
    server: str = "https://api.dynu.com"
    ipv6_style: Literal["list", "separate"] = "separate"


class DynuProvider(Dyndns2Provider):
    name = "dynu"
    Settings: ClassVar[type[ProviderSettings]] = DynuSettings


PROVIDER = DynuProvider
