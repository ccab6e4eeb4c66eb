"""``homeport cert``: certificates from an ACME CA through DNS-01, kept renewed.

- :mod:`homeport.cert.store`: the files on disk (one directory per name);
- :mod:`homeport.cert.dns01`: TXT records through the host's provider, seen served;
- :mod:`homeport.cert.order`: one ACME order, over certbot's ``acme`` library;
- :mod:`homeport.cert.renew`: what ``renew`` and the agent daemon run per entry;
- :mod:`homeport.cert.commands`: the click commands.

The renewal decision itself is pure: :mod:`homeport.core.certrenew`.
"""

from __future__ import annotations

import importlib.util

from homeport.errors import ConfigError

EXTRA_HINT = "pip install 'homeport[cert]'"


def require_extra() -> None:
    """ConfigError unless the ``cert`` extra (certbot's ``acme``) is installed."""
    if importlib.util.find_spec("acme") is None:
        raise ConfigError(f"certificates need the cert extra (acme library): {EXTRA_HINT}")
