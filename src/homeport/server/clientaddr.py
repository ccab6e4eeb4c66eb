"""Which address a request came from, honouring X-Forwarded-For only from trusted proxies.

A client can write anything into X-Forwarded-For; only the hops appended by
proxies we trust mean something. Walking the list from the right, the first
address not in the trusted set is the client (the same rule as nginx's
``real_ip_recursive on``).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network


def _parse(text: str) -> Address | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> Address | None:
    """The client's address; ``forwarded_for`` holds every X-Forwarded-For header value."""
    current = _parse(peer) if peer else None
    if current is None:
        return None
    hops = [part for value in forwarded_for for part in value.split(",") if part.strip()]
    while trusted and any(current in net for net in trusted) and hops:
        previous = _parse(hops.pop())
        if previous is None:
            break
        current = previous
    return current
