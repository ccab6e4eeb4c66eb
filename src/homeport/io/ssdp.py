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
    """The first IGD's search response; TransportError when none answers."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((local_ip or "0.0.0.0", 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
        if local_ip:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(local_ip))
    except OSError as exc:
        sock.close()
        raise TransportError(f"SSDP: cannot open a socket on {local_ip}: {exc}") from exc
    transport, searcher = await loop.create_datagram_endpoint(_Searcher, sock=sock)
    messages = [
        (ssdp.m_search(ssdp.IGD_V1), (ssdp.MULTICAST_ADDRESS, ssdp.PORT)),
        (ssdp.m_search(ssdp.IGD_V2), (ssdp.MULTICAST_ADDRESS, ssdp.PORT)),
    ]
    if gateway:
        host = f"{gateway}:{ssdp.PORT}"
        messages.insert(0, (ssdp.m_search(ssdp.IGD_V1, mx=None, host=host), (gateway, ssdp.PORT)))
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
