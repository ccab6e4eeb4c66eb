"""io shells against real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest

from homeport.errors import TransportError
from homeport.io import gena as io_gena
from homeport.io.udp import exchange
from homeport.proto import natpmp


class DropFirst(asyncio.DatagramProtocol):
    """Ignores the first request (a lost packet), answers the next with a NAT-PMP answer."""

    def __init__(self) -> None:
        self.seen = 0
        self.transport: Any = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.seen += 1
        if self.seen > 1 and self.transport is not None:
            self.transport.sendto(b"\x00\x80\x00\x00\x00\x00\x00\x07\xcb\x00q\x02", addr)


def test_exchange_retransmits_until_answered() -> None:
    asyncio.run(_test_exchange_retransmits_until_answered())


async def _test_exchange_retransmits_until_answered() -> None:
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(DropFirst, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    request = natpmp.external_address_request()
    try:
        data = await exchange(
            "127.0.0.1",
            port,
            request,
            [0.05, 0.1, 0.2],
            lambda answer: natpmp.matches(request, answer),
            what="NAT-PMP",
        )
    finally:
        transport.close()
    assert server.seen == 2
    assert natpmp.decode(data).epoch == 7


def test_exchange_reports_a_closed_port_as_transport_error() -> None:
    asyncio.run(_test_exchange_reports_a_closed_port_as_transport_error())


async def _test_exchange_reports_a_closed_port_as_transport_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransportError):
        await exchange("127.0.0.1", port, b"\x00\x00", [0.05, 0.05], lambda _: True, what="x")


def test_notify_listener_queues_events() -> None:
    asyncio.run(_test_notify_listener_queues_events())


async def _test_notify_listener_queues_events() -> None:
    listener = io_gena.NotifyListener("127.0.0.1")
    url = await listener.start()
    body = (
        b'<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property>'
        b"<ExternalIPAddress>198.51.100.4</ExternalIPAddress></e:property></e:propertyset>"
    )
    headers = {"NT": "upnp:event", "NTS": "upnp:propchange", "SID": "uuid:1", "SEQ": "0"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.request("NOTIFY", url, data=body, headers=headers) as resp:
                assert resp.status == 200
            async with session.request("NOTIFY", url, data=b"<x/>", headers=headers) as resp:
                assert resp.status == 400
        event = listener.events.get_nowait()
    finally:
        await listener.close()
    assert event.variables == {"ExternalIPAddress": "198.51.100.4"}
    assert listener.events.empty()
