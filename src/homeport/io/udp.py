"""One request/response exchange over UDP with retransmission (NAT-PMP, PCP).

A connected datagram endpoint: the kernel drops answers from other addresses, and an ICMP
port-unreachable surfaces as ConnectionRefusedError at once instead of a timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from homeport.errors import TransportError


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def exchange(
    host: str,
    port: int,
    payload: bytes,
    delays: Iterable[float],
    accept: Callable[[bytes], bool],
    *,
    what: str,
) -> bytes:
    """Send ``payload``; resend after each of ``delays`` until ``accept`` likes an answer."""
    loop = asyncio.get_running_loop()
    try:
        transport, proto = await loop.create_datagram_endpoint(_Endpoint, remote_addr=(host, port))
    except OSError as exc:
        raise TransportError(f"{what}: cannot reach {host}:{port}: {exc}") from exc
    try:
        for delay in delays:
            transport.sendto(payload)
            deadline = loop.time() + delay
            while (left := deadline - loop.time()) > 0:
                try:
                    item = await asyncio.wait_for(proto.queue.get(), left)
                except TimeoutError:
                    break
                if isinstance(item, Exception):
                    raise TransportError(f"{what}: {host}:{port}: {item}") from item
                if accept(item):
                    return item
        raise TransportError(f"{what}: no answer from {host}:{port}")
    finally:
        transport.close()
