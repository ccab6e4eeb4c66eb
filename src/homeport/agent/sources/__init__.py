"""Public-address sources, one module each, found by ``type`` through :func:`get`.

Each module defines ``Settings`` (a :class:`SourceSettings` model with its
``type``) and ``async def detect(settings, family, time_limit) -> address``. A
module imports its heavy dependencies (dnspython, ...) inside ``detect``, so
validating a config costs nothing and an agent loads only what it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Literal, cast

import pydantic

from homeport.errors import ConfigError

Family = Literal[4, 6]
Address = IPv4Address | IPv6Address
Detect = Callable[[Any, Family, float], Awaitable[Address]]

_MODULES: dict[str, str] = {
    "web": "homeport.agent.sources.web",
    "dns": "homeport.agent.sources.dns",
    "interface": "homeport.agent.sources.interface",
    "cmd": "homeport.agent.sources.cmd",
    "stun": "homeport.agent.sources.stun",
    "static": "homeport.agent.sources.static",
    "router": "homeport.agent.sources.router",
}

# Several independent echo services (Dyn, ipify, Cloudflare's icanhazip, AWS), so one
# lying or stale service is outvoted. Tests always override these.
DEFAULT_IPV4: tuple[dict[str, str], ...] = (
    {"type": "web", "url": "https://checkip.dyndns.com/", "skip": "IP Address"},
    {"type": "web", "url": "https://api.ipify.org/"},
    {"type": "web", "url": "https://ipv4.icanhazip.com/"},
    {"type": "web", "url": "https://checkip.amazonaws.com/"},
)
DEFAULT_IPV6: tuple[dict[str, str], ...] = (
    {"type": "web", "url": "https://api6.ipify.org/"},
    {"type": "web", "url": "https://ipv6.icanhazip.com/"},
    {"type": "web", "url": "https://v6.ident.me/"},
)
# Two independent services must agree before the defaults publish anything.
DEFAULT_REQUIRE = 2


class SourceSettings(pydantic.BaseModel):
    """Base of every source's settings; ``label`` names it in logs and `homeport ip`."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    type: str
    label: str = ""

    def describe(self) -> str:
        return self.label or self.type


def names() -> list[str]:
    return sorted(_MODULES)


def register(name: str, module: str) -> None:
    _MODULES[name] = module


def _module(name: str) -> Any:
    module_name = _MODULES.get(str(name).lower())
    if module_name is None:
        raise ConfigError(f"unknown source type {name!r}; known: {', '.join(names())}")
    return importlib.import_module(module_name)


def settings_class(name: str) -> type[SourceSettings]:
    return cast(type[SourceSettings], _module(name).Settings)


def detector(name: str) -> Detect:
    return cast(Detect, _module(name).detect)
