"""Send a STUN Binding request over UDP and return the reflexive address.

The codec is :mod:`homeport.proto.stun`; this shell only moves datagrams.
Retransmission follows RFC 5389 §7.2.1: start at RTO 500 ms and double, until
the caller's timeout.
"""

from __future__ import annotations

import asyncio
import os
import socket

from homeport.errors import RemoteProtocolError, TransportError
from homeport.proto import stun

INITIAL_RTO = 0.5  # RFC 5389 §7.2.1: RTO SHOULD be > 500 ms initially


class _Client(asyncio.DatagramProtocol):
    def __init__(self, transaction_id: bytes) -> None:
        self.transaction_id = transaction_id
        self.answer: asyncio.Future[stun.MappedAddress] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.answer.done():
            return
        try:
            self.answer.set_result(stun.parse_binding_response(data, self.transaction_id))
        except RemoteProtocolError as exc:
            if "another transaction" not in str(exc):
                self.answer.set_exception(exc)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(TransportError(f"STUN: {exc}"))


async def binding(host: str, port: int, *, family: int, time_limit: float) -> stun.MappedAddress:
    """Our address as the STUN server at ``host:port`` sees it, over IPv``family``."""
    loop = asyncio.get_running_loop()
    transaction_id = os.urandom(stun.TRANSACTION_ID_LEN)
    request = stun.binding_request(transaction_id, software="homeport")
    sock_family = socket.AF_INET if family == 4 else socket.AF_INET6
    try:
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Client(transaction_id), remote_addr=(host, port), family=sock_family
        )
    except OSError as exc:
        raise TransportError(f"STUN {host}:{port}: {exc.strerror or exc}") from exc
    try:
        async with asyncio.timeout(time_limit):
            rto = INITIAL_RTO
            while True:
                transport.sendto(request)
                done, _ = await asyncio.wait({protocol.answer}, timeout=rto)
                if done:
                    return protocol.answer.result()
                rto *= 2
    except TimeoutError as exc:
        raise TransportError(f"STUN {host}:{port}: no answer within {time_limit:g} s") from exc
    finally:
        transport.close()
