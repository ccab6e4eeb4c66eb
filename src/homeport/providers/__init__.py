"""DNS providers, one module each, found by name through :func:`get`.

Modules are imported only when a configured host names them, so an agent that
uses one provider never loads the others' dependencies.
"""

from __future__ import annotations

import importlib

from homeport.errors import ConfigError
from homeport.providers.base import Provider

# protocol name -> module; aliases (ddclient's protocol= spellings) map to the same module.
_PACKAGE = "homeport.providers"
_MODULES: dict[str, str] = {
    alias: f"{_PACKAGE}.{module}"
    for module, aliases in {
        "dyndns2": ("dyndns2", "generic"),
        "dyn": ("dyn", "dyndns", "dyndns.org"),
        "noip": ("noip", "no-ip", "no-ip.com"),
        "dynu": ("dynu",),
        "ovh": ("ovh", "dynhost"),
        "homeport": ("homeport",),
        "he": ("he", "he.net", "hurricane-electric"),
        "desec": ("desec", "dedyn", "desec.io"),
        "duckdns": ("duckdns",),
        "freedns": ("freedns", "afraid", "freedns.afraid.org"),
        "cloudflare": ("cloudflare",),
        "porkbun": ("porkbun",),
        "namecheap": ("namecheap",),
        "gandi": ("gandi", "gandi-livedns"),
        "digitalocean": ("digitalocean",),
        "godaddy": ("godaddy",),
        "dnsexit2": ("dnsexit2",),  # not "dnsexit": ddclient's is an older, different API
        "rfc2136": ("rfc2136", "nsupdate"),
    }.items()
    for alias in aliases
}


def register(name: str, module: str) -> None:
    _MODULES[name] = module


def names() -> list[str]:
    return sorted(_MODULES)


def get(name: str) -> type[Provider]:
    """The provider class registered as ``name``; ConfigError if there is none."""
    module_name = _MODULES.get(name.lower())
    if module_name is None:
        raise ConfigError(f"unknown provider {name!r}; known: {', '.join(names())}")
    module = importlib.import_module(module_name)
    cls: type[Provider] = module.PROVIDER
    return cls
