"""The HTTP guard's counting rules in-process (the live attacks: test_slow_clients.py)."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address, IPv4Network, IPv6Network
from typing import Any

from homeport.server.httpguard import HttpGuard, source_of


def test_sources_are_ipv4_addresses_and_ipv6_slash_64s() -> None:
    assert source_of(("192.0.2.1", 4242)) == IPv4Address("192.0.2.1")
    assert source_of(("2001:db8:1:2:aaaa::1", 4242, 0, 0)) == IPv6Network("2001:db8:1:2::/64")
    assert source_of(("2001:db8:1:2:bbbb::9", 1, 0, 0)) == IPv6Network("2001:db8:1:2::/64")
    assert source_of(("::ffff:192.0.2.7", 1, 0, 0)) == IPv4Address("192.0.2.7")
    assert source_of(("fe80::1%eth0", 1, 0, 2)) == IPv6Network("fe80::/64")
    assert source_of(None) is None
    assert source_of("/run/sock") is None


class FakeTransport(asyncio.Transport):
    def __init__(self, peer: Any) -> None:
        super().__init__()
        self.peer = peer
        self.aborted = False
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.peer if name == "peername" else default

    def abort(self) -> None:
        self.aborted = True


class Inner(asyncio.Protocol):
    def __init__(self) -> None:
        self.made = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True


def test_cap_counts_per_source_and_releases_on_close() -> None:
    async def run() -> None:
        closed: list[str] = []
        guard = HttpGuard(
            Inner,
            request_timeout=60,
            per_source=2,
            exempt=[IPv4Network("192.0.2.100/32")],
            on_close=closed.append,
        )
        first, second, third = guard(), guard(), guard()
        transports = [FakeTransport(("192.0.2.1", p)) for p in (1, 2, 3)]
        for protocol, transport in zip((first, second, third), transports, strict=True):
            protocol.connection_made(transport)
        assert [t.aborted for t in transports] == [False, False, True]
        assert closed == ["per_source"]
        third.connection_lost(None)  # the aborted one frees nothing
        first.connection_lost(None)
        again = guard()
        again.connection_made(FakeTransport(("192.0.2.1", 4)))
        assert closed == ["per_source"]  # a slot was free again
        # Another /64 is another source; the exempt proxy is never capped.
        other = guard()
        other.connection_made(FakeTransport(("192.0.2.2", 1)))
        proxies = [guard() for _ in range(5)]
        for protocol in proxies:
            protocol.connection_made(FakeTransport(("192.0.2.100", 1)))
        assert closed == ["per_source"]
        for protocol in (second, again, other, *proxies):
            protocol.connection_lost(None)

    asyncio.run(run())


def test_the_first_head_stops_the_deadline_even_split_across_reads() -> None:
    async def run() -> None:
        expired = asyncio.Event()
        guard = HttpGuard(
            Inner, request_timeout=0.05, per_source=None, on_close=lambda _: expired.set()
        )
        done, slow = guard(), guard()
        done_transport, slow_transport = FakeTransport(("192.0.2.1", 1)), FakeTransport(None)
        done.connection_made(done_transport)
        slow.connection_made(slow_transport)
        for chunk in (b"GET / HTTP/1.1\r\nHost: x\r", b"\n\r", b"\n"):
            done.data_received(chunk)
        slow.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
        await expired.wait()  # the guard's own verdict on the slow one
        assert slow_transport.closed
        assert not done_transport.closed

    asyncio.run(run())
