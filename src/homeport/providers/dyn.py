"""Dyn (Oracle) Remote Access API: the dyndns2 original.

API: ``https://members.dyndns.org/nic/update?hostname=a,b&myip=v4,v6`` with
HTTP Basic auth (user name and password or updater client key), a User-Agent
of the form "Company - Device - Version", up to 20 hostnames. IPv6 goes into
the ``myip`` comma list. Return codes: ``good``, ``nochg``, ``badauth``,
``!donator``, ``notfqdn``, ``nohost``, ``numhost``, ``abuse``, ``badagent``,
``dnserr``, ``911`` (help.dyn.com "Perform Update", "Return Codes").

Documentation: https://help.dyn.com/remote-access-api/perform-update/ and .../return-codes/
"""

from __future__ import annotations

from typing import ClassVar

from homeport.providers.base import ProviderSettings
from homeport.providers.dyndns2 import Dyndns2Provider, Dyndns2Settings


class DynSettings(Dyndns2Settings):
    server: str = "https://members.dyndns.org"


class DynProvider(Dyndns2Provider):
    name = "dyn"
    Settings: ClassVar[type[ProviderSettings]] = DynSettings


PROVIDER = DynProvider
