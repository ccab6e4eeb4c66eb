"""OVH DynHost: dyndns2 at www.ovh.com with ``system=dyndns``.

API (OVH guide "Configuring dynamic DNS (DynHost)"):
``GET https://www.ovh.com/nic/update?system=dyndns&hostname=h&myip=IP`` with
HTTP Basic auth by a DynHost login (``zone-suffix`` user made in the OVH
control panel, scoped to one sub-domain). Responses are dyndns2 lines:
``good IP``, ``nochg IP``, ``badauth``, ``nohost``, ``notfqdn``, ``abuse``,
``911``; a refused login may also come back as HTTP 401.

Documentation: https://help.ovhcloud.com/csm/en-dns-dynhost
"""

from __future__ import annotations

from typing import ClassVar

import pydantic

from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings


class OVHSettings(Dyndns2Settings):
    server: str = "https://www.ovh.com"
    # OVH routes DynHost updates by this parameter (its guide's example URL).
    extra: dict[str, str] = pydantic.Field(default_factory=lambda: {"system": "dyndns"})


class OVHProvider(Dyndns2Provider):
    name = "ovh"
    Settings: ClassVar[type[ProviderSettings]] = OVHSettings


PROVIDER = OVHProvider
