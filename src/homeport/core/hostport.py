"""``HOST:PORT`` text -> (host, port): listen addresses and the doctor's DNS server.

Pure parsing, so that the server's config and the client-side doctor share one rule
without the doctor importing the server.
"""

from __future__ import annotations

import ipaddress

from homeport.errors import ConfigError


def parse_hostport(value: str, *, default_port: int | None = None) -> tuple[str, int]:
    """``127.0.0.1:8245``, ``[::1]:53``, ``:80`` (all addresses) -> (host, port)."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.lstrip(":")
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            host, port_text = text, ""
        if host.count(":") > 0:
            raise ConfigError(f"IPv6 addresses need brackets: {value!r} (e.g. [::1]:8245)")
    if not port_text:
        if default_port is None:
            raise ConfigError(f"no port in {value!r}")
        port_text = str(default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"bad port in {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"port out of range in {value!r}")
    host = host or "0.0.0.0"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host != "localhost":
            raise ConfigError(f"not an IP address: {host!r} in {value!r}") from None
    return host, port
