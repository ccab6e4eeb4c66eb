"""The tunnel client's spare data connections when the relay turns one away.

A relay parks at most ``spares`` + slack idle data connections per session and answers a
surplus one with an ``error`` (after a burst of visitors, each of which asked for one more
with ``want``). The client used to open a replacement for any spare that got a line, the
error included: refused, replaced, refused... a TLS handshake storm that starved the
relay and the home of CPU (bench/relay.py saw sequential requests go from 5 ms to 300 ms
after 100 concurrent visitors). The lab test of the same thing, with the real relay and
the real agent as processes, is tests/e2e/test_relay_lab.py's burst test.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from homeport.agent.tunnel import LocalRoute, Target, TunnelClient
from homeport.proto import relay
from tests.agent.relay_stub import self_signed

SPARES = 4
# Event-loop turns to wait for the client's spares to finish: each is a TLS handshake on
# loopback, a few milliseconds; a storm never finishes at all.
QUIET_LIMIT = 2000


async def refused_spares(tmp_path: Path) -> tuple[int, int]:
    """(spare connections the relay refused, client tasks still running at the end)."""
    cert, key, pin = self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(cert, key)
    refused = 0

    async def relay_side(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal refused
        line = await reader.readline()
        assert isinstance(relay.decode(line), relay.Spare)
        refused += 1
        writer.write(relay.encode(relay.Error("limit", "enough spares parked")))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(relay_side, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    target = Target(
        relay=("127.0.0.1", port),
        host="myhome.example.net",
        secret="not-used-here",
        routes=(LocalRoute("http", 80, ("127.0.0.1", 9)),),
        fingerprint=pin,
    )
    client = TunnelClient(target, spares=SPARES)
    client._session_id = "session-1"  # as after a welcome
    client._open_spares(SPARES)
    busy = 0
    for _ in range(QUIET_LIMIT):
        busy = len(client._idle) + len(client._active)
        if not busy:
            break
        await asyncio.sleep(0.005)
    client._end_session()
    for task in [*client._idle, *client._active]:
        task.cancel()
    await asyncio.gather(*client._idle, *client._active, return_exceptions=True)
    server.close()
    await server.wait_closed()
    return refused, busy


def test_a_spare_the_relay_turns_away_is_not_replaced(tmp_path: Path) -> None:
    refused, busy = asyncio.run(refused_spares(tmp_path))
    # Once every spare has its answer nothing is left running, so nothing more can come.
    assert busy == 0
    assert refused == SPARES
