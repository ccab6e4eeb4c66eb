"""SSDP search shell: send M-SEARCH, return the first Internet Gateway Device that answers.

No fixed wait: the search returns as soon as an IGD responds. Multicast searches go out on the
interface of ``local_ip``; when the gateway is known, a unicast search is sent to it as well,
which UDA 1.1 devices answer without the random MX delay.
"""

from __future__ import annotations

import asyncio
import socket

from homeport.errors import RemoteProtocolError, TransportError
from homeport.proto import ssdp

# Resend the search (UDP may drop it) after these waits; the sum bounds discovery.
SEARCH_WAITS = (0.3, 0.7, 1.0, 1.0)
MULTICAST_TTL = 2  # UDA 1.1 §1.1.2: TTL default 2


class _Searcher(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.found: asyncio.Future[ssdp.SearchResponse] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            response = ssdp.parse_response(data)
        except RemoteProtocolError:
            return  # other SSDP traffic (NOTIFY, other devices' noise)
        if ssdp.is_igd(response) and not self.found.done():
            self.found.set_result(response)


async def discover(
    *,
    local_ip: str | None = None,
    gateway: str | None = None,
    waits: tuple[float, ...] = SEARCH_WAITS,
) -> ssdp.SearchResponse:
    """The first IGD's search response over IPv4; TransportError when none answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((local_ip or "0.0.0.0", 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
        if local_ip:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local_ip))
    except OSError as exc:
        sock.close()
        raise TransportError(f"SSDP: cannot open a socket on {local_ip}: {exc}") from exc
    group: tuple[str | int, ...] = (ssdp.MULTICAST_ADDRESS, ssdp.PORT)
    unicast = (gateway, ssdp.PORT) if gateway else None
    return await _search(sock, group, unicast, gateway, waits)


async def discover_v6(
    interface: str, *, gateway: str | None = None, waits: tuple[float, ...] = SEARCH_WAITS
) -> ssdp.SearchResponse:
    """Search over IPv6 (link-local group ff02::c on ``interface``): the answer's LOCATION is
    the router's IPv6 URL, which a pinhole request must use (routers authorise the sender)."""
    try:
        index = socket.if_nametoindex(interface)
    except OSError as exc:
        raise TransportError(f"SSDP: no interface {interface!r}: {exc}") from exc
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        sock.bind(("::", 0))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, MULTICAST_TTL)
    except OSError as exc:
        sock.close()
        raise TransportError(f"SSDP: cannot open an IPv6 socket on {interface}: {exc}") from exc
    group = (ssdp.MULTICAST_ADDRESS_V6, ssdp.PORT, 0, index)
    unicast = (gateway, ssdp.PORT, 0, index) if gateway else None
    return await _search(sock, group, unicast, f"[{gateway}]" if gateway else None, waits)


async def _search(
    sock: socket.socket,
    group: tuple[str | int, ...],
    unicast: tuple[str | int, ...] | None,
    unicast_host: str | None,
    waits: tuple[float, ...],
) -> ssdp.SearchResponse:
    loop = asyncio.get_running_loop()
    transport, searcher = await loop.create_datagram_endpoint(_Searcher, sock=sock)
    host = f"{group[0]}:{ssdp.PORT}" if ":" not in str(group[0]) else f"[{group[0]}]:{ssdp.PORT}"
    messages = [
        (ssdp.m_search(ssdp.IGD_V1, host=host), group),
        (ssdp.m_search(ssdp.IGD_V2, host=host), group),
    ]
    if unicast is not None:
        # Unicast first: answered at once, without the MX delay (UDA 1.1 §1.3.2).
        target = f"{unicast_host}:{ssdp.PORT}"
        messages.insert(0, (ssdp.m_search(ssdp.IGD_V1, mx=None, host=target), unicast))
    try:
        for wait in waits:
            for payload, addr in messages:
                try:
                    transport.sendto(payload, addr)
                except OSError as exc:
                    raise TransportError(f"SSDP: cannot send to {addr[0]}: {exc}") from exc
            try:
                return await asyncio.wait_for(asyncio.shield(searcher.found), wait)
            except TimeoutError:
                continue
        raise TransportError("SSDP: no UPnP Internet Gateway Device answered")
    finally:
        transport.close()
