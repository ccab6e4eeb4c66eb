"""No-IP dynamic update (the dyndns2 protocol at dynupdate.no-ip.com).

API (No-IP "Integrate with No-IP DDNS - API Information"):
``GET https://dynupdate.no-ip.com/nic/update?hostname=h&myip=v4,v6`` with HTTP
Basic auth. The login is the account's user name or e-mail, a DDNS key's
generated user name, or a group login ``group:user`` whose colon must travel as
``%3A`` inside the Basic credentials. The User-Agent must name the
program, version and a contact. Responses: ``good IP``, ``nochg IP``,
``nohost``, ``badauth``, ``badagent``, ``!donator``, ``abuse``, ``911``; No-IP
asks clients to stop on every error but ``911`` and to wait 30 minutes after it.

Documentation: https://www.noip.com/integrate/request and https://www.noip.com/integrate/response
"""

from __future__ import annotations

from typing import ClassVar

from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings


class NoIPSettings(Dyndns2Settings):
    server: str = "https://dynupdate.no-ip.com"


class NoIPProvider(Dyndns2Provider):
    name = "noip"
    Settings: ClassVar[type[ProviderSettings]] = NoIPSettings


PROVIDER = NoIPProvider
