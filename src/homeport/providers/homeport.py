"""A homeport server (``homeport server``): dyndns2 against our own service.

API (docs/architecture.md, dyndns2, server side): ``GET /nic/update?hostname=a,b&myip=v4,v6`` with
HTTP Basic auth by the host's name (or user) and its secret; every dyndns2
address form is accepted, we send the ``myip`` comma list. Responses are the
dyndns2 codes, throttling answered ``abuse`` (or HTTP 429). There is no public
default server: ``server`` must name yours.

Documentation: README.md "The server" and docs/architecture.md (this project's server)
"""

from __future__ import annotations

from typing import ClassVar

from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings


class HomeportSettings(Dyndns2Settings):
    server: str  # a self-hosted service: no sensible default


class HomeportProvider(Dyndns2Provider):
    name = "homeport"
    Settings: ClassVar[type[ProviderSettings]] = HomeportSettings


PROVIDER = HomeportProvider
