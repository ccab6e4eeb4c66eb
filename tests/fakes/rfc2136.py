"""A DNS primary that answers RFC 2136 UPDATEs with the RCODE a test asks for.

Listens on 127.0.0.1:0 over TCP and UDP, verifies the TSIG of every message with
its keyring (dnspython), records the parsed UPDATEs and answers with a response
signed by the same key (RFC 8945 §5.3), its RCODE NOERROR unless a test asked
for another (``respond("SERVFAIL")``). Wrong keys are exercised against real
BIND in test_rfc2136_bind.py.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, Self

import dns.message
import dns.rcode
import dns.tsig


class RFC2136Fake:
    def __init__(self, key: dns.tsig.Key) -> None:
        self.keyring = {key.name: key}
        self.updates: list[dns.message.Message] = []
        self.transports: list[str] = []
        self._next: list[str] = []
        self._tcp: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self.port = 0

    def respond(self, *rcodes: str) -> None:
        self._next.extend(rcodes)

    def answer(self, wire: bytes, transport: str) -> bytes:
        query = dns.message.from_wire(wire, keyring=self.keyring)
        self.updates.append(query)
        self.transports.append(transport)
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.from_text(self._next.pop(0) if self._next else "NOERROR"))
        return response.to_wire()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            reply = self.answer(await reader.readexactly(length), "tcp")
            writer.write(struct.pack("!H", len(reply)) + reply)
            await writer.drain()
        finally:
            writer.close()

    async def __aenter__(self) -> Self:
        self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", 0)
        self.port = self._tcp.sockets[0].getsockname()[1]
        fake = self

        class Udp(asyncio.DatagramProtocol):
            def connection_made(self, transport: Any) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.transport.sendto(fake.answer(data, "udp"), addr)

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Udp, local_addr=("127.0.0.1", self.port))
        self._udp = transport
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
