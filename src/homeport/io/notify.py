"""NOTIFY (RFC 1996) over UDP to one secondary: send, wait for the answer, retry.

The shell only moves bytes: :mod:`homeport.proto.xfr` builds the message and
recognises the answer; :class:`homeport.server.xfr.Notifier` decides when.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

from homeport.proto import xfr

log = logging.getLogger(__name__)

# RFC 1996 §3.6 leaves the retry interval and count to the operator. The first
# wait is short (a loopback or LAN secondary answers in milliseconds; a lost
# datagram costs a second, not a minute) and doubles, five tries in all: a
# secondary that misses every one still refreshes on the SOA refresh timer.
NOTIFY_FIRST_WAIT = 1.0
NOTIFY_TRIES = 5


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes], None]) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: object) -> None:
        self._on_datagram(data)


async def send_notify(address: tuple[str, int], build: Callable[[int], bytes]) -> bool | None:
    """Send the NOTIFY ``build(id)`` makes until it is answered.

    True: acknowledged (NOERROR); False: answered with an error (a secondary
    that does not carry the zone); None: no answer after every try.
    """
    loop = asyncio.get_running_loop()
    query_id = secrets.randbelow(65536)
    answered: asyncio.Future[bool] = loop.create_future()

    def on_datagram(data: bytes) -> None:
        verdict = xfr.notify_acknowledged(data, query_id)
        if verdict is not None and not answered.done():
            answered.set_result(verdict)

    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(on_datagram), remote_addr=address
        )
    except OSError as exc:
        log.warning("NOTIFY to %s:%d: %s", address[0], address[1], exc)
        return None
    try:
        wire = build(query_id)
        wait = NOTIFY_FIRST_WAIT
        for _ in range(NOTIFY_TRIES):
            with contextlib.suppress(OSError):  # ICMP unreachable: the secondary is down
                transport.sendto(wire)
            try:
                return await asyncio.wait_for(asyncio.shield(answered), wait)
            except TimeoutError:
                wait *= 2
        return None
    finally:
        transport.close()
