"""server/relay/routes.py in-process: what a claim grants, replaces and releases."""

from __future__ import annotations

import asyncio

import pytest

from homeport.proto.relay import Granted, Kind, TunnelSpec
from homeport.server.relay.routes import ClaimRefused, Route, RouteTable

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class FakeBackend:
    def __init__(self, host: str) -> None:
        self.host = host
        self.closed = False

    async def open(self, kind: Kind, port: int, peer: tuple[str, int]) -> Streams:
        raise NotImplementedError

    def close(self) -> None:
        self.closed = True


def table(ports: dict[tuple[str, int], int] | None = None) -> RouteTable:
    stored = ports if ports is not None else {}

    async def allocate(host: str, port: int) -> int:
        if 20000 <= port <= 20009:
            if any(p == port and h != host for (h, _), p in stored.items()):
                raise ClaimRefused("forbidden", "another host's port")
            stored[(host, port)] = port
            return port
        if (host, port) not in stored:
            stored[(host, port)] = 20000 + len(stored)
        return stored[(host, port)]

    return RouteTable([80, 888], [443], allocate, max_tunnels_per_host=3)


def test_claim_lookup_replace_release() -> None:
    async def work() -> None:
        routes = table()
        told: list[tuple[str, tuple[Route, ...]]] = []

        async def listener(host: str, now: tuple[Route, ...]) -> None:
            told.append((host, now))

        routes.listeners.append(listener)
        first = FakeBackend("home.example.net")
        granted = await routes.claim(
            "Home.Example.NET.",
            [TunnelSpec("http", 888), TunnelSpec("tls", 443), TunnelSpec("tcp", 22, proxy=True)],
            first,
        )
        assert granted == (
            Granted("http", 888, 888),
            Granted("tls", 443, 443),
            Granted("tcp", 22, 20000),
        )
        route = routes.lookup("http", 888, "HOME.example.net")
        assert route is not None
        assert route.backend is first
        assert routes.lookup("http", 80, "home.example.net") is None
        assert routes.lookup("tls", 888, "home.example.net") is None
        tcp = routes.lookup_tcp(20000)
        assert tcp is not None
        assert tcp.proxy
        assert told[-1][0] == "home.example.net."
        assert len(told[-1][1]) == 3

        second = FakeBackend("home.example.net.")
        await routes.claim("home.example.net", [TunnelSpec("tcp", 22)], second)
        assert first.closed
        assert routes.lookup("http", 888, "home.example.net") is None
        tcp = routes.lookup_tcp(20000)
        assert tcp is not None
        assert tcp.backend is second
        assert not await routes.release(first)  # replaced: nothing of it is left
        assert await routes.release(second)
        assert routes.lookup_tcp(20000) is None
        assert routes.hosts() == []
        assert told[-1] == ("home.example.net.", ())

    asyncio.run(work())


@pytest.mark.parametrize(
    ("specs", "code"),
    [
        ([TunnelSpec("http", 443)], "forbidden"),
        ([TunnelSpec("tls", 80)], "forbidden"),
        ([TunnelSpec("tcp", p) for p in range(1, 5)], "limit"),
        ([], "badrequest"),
        ([TunnelSpec("tcp", 20005), TunnelSpec("tcp", 20005, proxy=True)], "badrequest"),
    ],
)
def test_refused_claims_grant_nothing(specs: list[TunnelSpec], code: str) -> None:
    async def work() -> None:
        routes = table()
        with pytest.raises(ClaimRefused) as refused:
            await routes.claim("a.example.net", specs, FakeBackend("a.example.net"))
        assert refused.value.code == code
        assert routes.hosts() == []

    asyncio.run(work())


def test_a_session_claims_only_its_own_host_and_ports() -> None:
    async def work() -> None:
        routes = table()
        a = FakeBackend("a.example.net")
        with pytest.raises(ClaimRefused, match="its own host name"):
            await routes.claim("b.example.net", [TunnelSpec("http", 80)], a)
        await routes.claim("a.example.net", [TunnelSpec("tcp", 20003)], a)
        b = FakeBackend("b.example.net")
        with pytest.raises(ClaimRefused) as refused:
            await routes.claim("b.example.net", [TunnelSpec("tcp", 20003)], b)
        assert refused.value.code == "forbidden"
        route = routes.lookup_tcp(20003)
        assert route is not None
        assert route.backend is a

    asyncio.run(work())
