"""How many spare data connections the relay asks a tunnel client for.

Every spare is a TLS handshake at both ends (~3 ms of CPU per pair here), and the client
already replaces each spare that gets an ``open``. The relay used to send a ``want`` for
every visitor that found no idle spare as well, so a burst cost two handshakes per visitor
and the surplus spares were turned away afterwards (bench/relay.py, "where the time goes").
In-process, with stand-in streams; the relay as shipped under a burst is
tests/e2e/test_relay_lab.py's burst test and bench/relay.py.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, cast

from homeport.proto import relay as wire
from homeport.server.relay.native import NativeSession


class Transport:
    def __init__(self) -> None:
        self.closing = False

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True


class Writer:
    """Records what the relay writes (the control connection's lines, a spare's open)."""

    def __init__(self) -> None:
        self.transport = Transport()
        self.lines: list[wire.Message] = []

    def write(self, data: bytes) -> None:
        self.lines += [wire.decode(line) for line in data.splitlines()]

    def close(self) -> None:
        self.transport.closing = True


class Reader:
    def at_eof(self) -> bool:
        return False


def spare() -> tuple[Any, Any]:
    return Reader(), Writer()


def wants(control: Writer) -> int:
    return sum(isinstance(m, wire.Want) for m in control.lines)


async def wants_for_two_bursts(burst: int) -> tuple[int, int]:
    """The ``want``s sent for a burst of visitors on a session with no idle spare, and
    then for a second burst that comes while the first one's replacements are on their
    way (the client opens one for each spare that got an ``open``)."""
    control = Writer()
    relay = SimpleNamespace(config=SimpleNamespace(spares=4))
    session = NativeSession(cast(Any, relay), "myhome.example.net", cast(Any, control), "-")

    def visitors() -> list[asyncio.Future[Any]]:
        return [
            asyncio.ensure_future(session.open("http", 80, ("192.0.2.9", 40000 + n)))
            for n in range(burst)
        ]

    first = visitors()
    await asyncio.sleep(0)  # each is waiting for a spare
    asked_first = wants(control)
    for _ in range(asked_first):  # the client answers the wants
        session.add_spare(spare())
    await asyncio.gather(*first)  # each got a spare and wrote its open
    second = visitors()  # before any replacement has arrived
    await asyncio.sleep(0)
    asked_second = wants(control) - asked_first
    for _ in range(burst):  # the replacements arrive
        session.add_spare(spare())
    await asyncio.gather(*second)
    return asked_first, asked_second


def test_visitors_waiting_for_replacements_ask_for_no_more() -> None:
    first, second = asyncio.run(wants_for_two_bursts(10))
    # No spare idle and none coming: each visitor of the first burst asks for one.
    assert first == 10
    # Ten replacements are on their way for the second burst: it asks for none (it used to
    # ask for ten more, whose spares were then turned away as surplus).
    assert second == 0
