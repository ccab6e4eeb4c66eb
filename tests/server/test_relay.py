"""The relay inside ``homeport server``, as shipped: a real server process with ``[relay]``
on loopback, a small agent (proto.relay + ssl, pinning the relay's fingerprint) and home
services in the test, visitors connecting to the relay's public listeners."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import socket
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.proto import relay as wire
from homeport.server.relay.cert import ensure_cert, fingerprint
from homeport.server.relay.config import RelayConfig
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.web.dash_http import PASSWORD, add_user, get, login

ZONE = "dyn.example.net"
PUBLIC_V4 = "192.0.2.10"  # documentation address: DNS data only, never connected to
STORED_V4 = "192.0.2.77"
MAX_CONNECTIONS = 3
BIG = 20 * 1024 * 1024
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def free_range(size: int) -> tuple[int, int]:
    """``size`` consecutive free loopback ports (tried from a random base)."""
    for _ in range(50):
        base = 30000 + int.from_bytes(os.urandom(2), "big") % 20000
        try:
            socks = []
            for port in range(base, base + size):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base, base + size - 1
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port range")


class Relay:
    """Where the relay under test listens."""

    def __init__(self, srv: ServerProc, data: Path, config: Path) -> None:
        self.srv, self.data, self.config = srv, data, config
        text = (data.parent / "relay.toml").read_text()
        self.toml = text
        ready = next(line for line in srv.output if line.startswith("ready "))
        assert json.loads(ready[6:])["loop"] == "uvloop"  # the shipped default
        described = json.loads(ready[6:])["relay"]
        host, port = described["listen"][0].rsplit(":", 1)
        self.control = (host, int(port))
        self.http_port = int(described["http"][0].rsplit(":", 1)[1])
        self.tls_port = int(described["tls"][0].rsplit(":", 1)[1])
        self.tcp_low = int(described["tcp_ports"].split("-")[0])
        self.fingerprint = fingerprint(data / "relay-cert.pem")

    def metrics(self) -> str:
        with urllib.request.urlopen(self.srv.url + "/metrics", timeout=10) as response:
            return str(response.read().decode())


def write_config(data: Path, heartbeat: float = 30) -> Path:
    http, tls, control = free_ports(3)
    low, high = free_range(4)
    path = data.parent / "relay.toml"
    path.write_text(
        f"""
[relay]
enabled = true
listen = "127.0.0.1:{control}"
public_ipv4 = "{PUBLIC_V4}"
http_ports = [{http}]
tls_ports = [{tls}]
tcp_ports = "{low}-{high}"
bind = "127.0.0.1"
spares = 2
max_connections_per_host = {MAX_CONNECTIONS}
heartbeat = {heartbeat}
"""
    )
    return path


@pytest.fixture(scope="module")
def relay_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Relay, dict[str, str]]]:
    data = tmp_path_factory.mktemp("relay") / "data"
    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data))
    assert result.returncode == 0, result.stderr
    names = ("a", "b", "c", "d", "e", "f", "g")
    added = add_hosts(data, [f"{n}.{ZONE}" for n in names])
    secrets = {n: added[f"{n}.{ZONE}"] for n in names}
    config = write_config(data)
    srv = start_server(data, "--config", str(config))
    try:
        yield Relay(srv, data, config), secrets
    finally:
        stop_server(srv)


# -- the test agent -------------------------------------------------------------------


def client_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # pinned by fingerprint below instead
    return context


async def pinned(address: tuple[str, int], pin: str) -> Streams:
    reader, writer = await asyncio.open_connection(*address)
    try:
        # TLS on a connection the test owns: a spare cancelled during its handshake (the
        # test ending) is aborted here; open_connection(ssl=) would leak its socket.
        await writer.start_tls(client_context())
    except BaseException:
        writer.transport.abort()
        raise
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert "sha256:" + hashlib.sha256(der).hexdigest() == pin
    return reader, writer


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(256 * 1024):
                writer.write(data)
                await writer.drain()
    finally:  # also when the test's loop ends with this still reading
        await shut(writer)


async def shut(writer: asyncio.StreamWriter) -> None:
    """Close and wait for it (a TLS close is a little exchange of its own)."""
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 5)


class Agent:
    """A tunnel client, enough for the tests: hello, spares on want, splice on open."""

    def __init__(
        self,
        relay: Relay,
        host: str,
        secret: str,
        tunnels: list[wire.TunnelSpec],
        local: dict[tuple[str, int], tuple[str, int]],
    ) -> None:
        self.relay, self.host, self.secret = relay, host, secret
        self.tunnels, self.local = tunnels, local
        self.session = ""
        self.tasks: set[asyncio.Task[None]] = set()
        self.control: Streams | None = None
        self.opened: list[wire.Open] = []
        self.refused: list[wire.Message] = []

    async def hello(self) -> wire.Message:
        self.control = await pinned(self.relay.control, self.relay.fingerprint)
        self.control[1].write(
            wire.encode(wire.Hello(f"{self.host}.{ZONE}", self.secret, tuple(self.tunnels)))
        )
        answer = wire.decode(await self.control[0].readline())
        if isinstance(answer, wire.Welcome):
            self.session = answer.session
            self._spawn(self._control_loop())
        return answer

    async def welcome(self) -> wire.Welcome:
        answer = await self.hello()
        assert isinstance(answer, wire.Welcome), answer
        return answer

    def _spawn(self, work: object) -> None:
        task = asyncio.ensure_future(work)  # type: ignore[arg-type]
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _control_loop(self) -> None:
        assert self.control is not None
        while line := await self.control[0].readline():
            message = wire.decode(line)
            if isinstance(message, wire.Want):
                for _ in range(message.count):
                    self._spawn(self._spare())

    async def _spare(self) -> None:
        reader, writer = await pinned(self.relay.control, self.relay.fingerprint)
        home: Streams | None = None
        try:
            writer.write(wire.encode(wire.Spare(self.session)))
            line = await reader.readline()
            if not line:
                return
            message = wire.decode(line)
            if not isinstance(message, wire.Open):
                self.refused.append(message)  # e.g. a replaced session's late spare
                return
            self.opened.append(message)
            self._spawn(self._spare())  # a replacement, as the real client does
            home = await asyncio.open_connection(*self.local[(message.kind, message.port)])
            await asyncio.gather(pump(reader, home[1]), pump(home[0], writer))
        finally:
            await shut(writer)
            if home is not None:
                await shut(home[1])

    async def close(self) -> None:
        if self.control is not None:
            await shut(self.control[1])
        while self.tasks:
            for task in list(self.tasks):
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)


# -- home services --------------------------------------------------------------------


async def http_home(body: bytes) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body
        )
        await writer.drain()
        await shut(writer)

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def echo_home() -> asyncio.Server:
    return await asyncio.start_server(pump, "127.0.0.1", 0)


def port_of(server: asyncio.Server) -> tuple[str, int]:
    return "127.0.0.1", int(server.sockets[0].getsockname()[1])


async def http_get(port: int, host: str, path: str = "/") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = await asyncio.wait_for(reader.read(), 10)
    await shut(writer)
    return data


def run(work: object) -> None:
    asyncio.run(asyncio.wait_for(work, 60))  # type: ignore[arg-type]


# -- tests ----------------------------------------------------------------------------


def test_http_by_host_reaches_the_home_service(relay_env: tuple[Relay, dict[str, str]]) -> None:
    relay, secrets = relay_env

    async def work() -> None:
        home = await http_home(b"hello from home")
        agent = Agent(
            relay,
            "a",
            secrets["a"],
            [wire.TunnelSpec("http", relay.http_port)],
            {("http", relay.http_port): port_of(home)},
        )
        welcome = await agent.welcome()
        assert welcome.tunnels == (wire.Granted("http", relay.http_port, relay.http_port),)
        try:
            answer = await http_get(relay.http_port, f"A.{ZONE}.")
            assert answer.startswith(b"HTTP/1.1 200 OK")
            assert answer.endswith(b"hello from home")
            # A name no tunnel serves: 502 naming nothing.
            unknown = await http_get(relay.http_port, f"nobody.{ZONE}")
            assert unknown.startswith(b"HTTP/1.1 502 ")
            assert b"nobody" not in unknown
        finally:
            await agent.close()
            home.close()
            await home.wait_closed()

    run(work())
    assert 'homeport_relay_connections_total{host="a.dyn.example.net.",kind="http"}' in (
        relay.metrics()
    )
    assert 'homeport_relay_refused_total{reason="unknown"}' in relay.metrics()


def test_tls_passthrough_by_sni_with_the_homes_own_certificate(
    relay_env: tuple[Relay, dict[str, str]], tmp_path: Path
) -> None:
    relay, secrets = relay_env
    home_cert, home_key = ensure_cert(RelayConfig(), tmp_path / "home")
    home_pin = fingerprint(home_cert)
    assert home_pin != relay.fingerprint

    async def work() -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(home_cert, home_key)
        names: list[str | None] = []

        def sni(_obj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            names.append(name)

        context.sni_callback = sni  # type: ignore[assignment]

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(b"secret page: " + await reader.readline())
            await writer.drain()
            await shut(writer)

        home = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        agent = Agent(
            relay,
            "b",
            secrets["b"],
            [wire.TunnelSpec("tls", relay.tls_port)],
            {("tls", relay.tls_port): port_of(home)},
        )
        await agent.welcome()
        try:
            visitor = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            visitor.check_hostname = False
            visitor.verify_mode = ssl.CERT_NONE
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", relay.tls_port, ssl=visitor, server_hostname=f"b.{ZONE}"
            )
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            assert "sha256:" + hashlib.sha256(der).hexdigest() == home_pin
            writer.write(b"hi\n")
            assert await reader.read() == b"secret page: hi\n"
            await shut(writer)
            assert names == [f"b.{ZONE}"]
        finally:
            await agent.close()
            home.close()
            await home.wait_closed()

    run(work())


def test_proxy_v2_header_carries_the_visitors_address(
    relay_env: tuple[Relay, dict[str, str]],
) -> None:
    relay, secrets = relay_env

    async def work() -> None:
        seen: list[tuple[tuple[str, int], tuple[str, int]]] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = b""
            while (parsed := wire.parse_proxy_v2(data)) is None:
                data += await reader.read(100)
            source, destination, length = parsed
            seen.append((source, destination))
            rest = data[length:]
            while b"\r\n\r\n" not in rest:
                rest += await reader.read(100)
            assert rest.startswith(b"GET /proxied HTTP/1.1\r\n")
            writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
            await writer.drain()
            await shut(writer)

        home = await asyncio.start_server(handle, "127.0.0.1", 0)
        agent = Agent(
            relay,
            "c",
            secrets["c"],
            [wire.TunnelSpec("http", relay.http_port, proxy=True)],
            {("http", relay.http_port): port_of(home)},
        )
        await agent.welcome()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", relay.http_port)
            writer.write(f"GET /proxied HTTP/1.1\r\nHost: c.{ZONE}\r\n\r\n".encode())
            await writer.drain()
            local_port = writer.get_extra_info("sockname")[1]
            assert (await reader.read()).startswith(b"HTTP/1.1 204")
            await shut(writer)
            assert seen == [(("127.0.0.1", local_port), (PUBLIC_V4, relay.http_port))]
        finally:
            await agent.close()
            home.close()
            await home.wait_closed()

    run(work())


def test_tcp_port_is_stored_limits_hold_and_20_mb_arrive_intact_both_ways(
    relay_env: tuple[Relay, dict[str, str]],
) -> None:
    relay, secrets = relay_env

    async def work() -> None:
        upload, download = os.urandom(BIG), os.urandom(BIG)

        async def transfer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(download)  # home -> visitor, while visitor -> home runs
            got = await reader.readexactly(BIG)
            writer.write(hashlib.sha256(got).digest())
            await writer.drain()
            await shut(writer)

        big_home = await asyncio.start_server(transfer, "127.0.0.1", 0)
        echo = await echo_home()
        agent = Agent(
            relay,
            "d",
            secrets["d"],
            [wire.TunnelSpec("tcp", 0), wire.TunnelSpec("tcp", 7)],
            {("tcp", 0): port_of(big_home), ("tcp", 7): port_of(echo)},
        )
        welcome = await agent.welcome()
        ports = {g.port: g.public_port for g in welcome.tunnels}
        assert set(ports) == {0, 7}
        assert relay.tcp_low <= min(ports.values())
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", ports[0])
            writer.write(upload)
            received = await reader.readexactly(BIG + 32)
            await shut(writer)
            assert hashlib.sha256(received[:BIG]).digest() == hashlib.sha256(download).digest()
            assert received[BIG:] == hashlib.sha256(upload).digest()

            # Connections per host: MAX_CONNECTIONS at once, the next one is closed.
            held = []
            for i in range(MAX_CONNECTIONS):
                r, w = await asyncio.open_connection("127.0.0.1", ports[7])
                w.write(b"ping %d\n" % i)
                assert await r.readline() == b"ping %d\n" % i
                held.append((r, w))
            r, w = await asyncio.open_connection("127.0.0.1", ports[7])
            # Nothing written first: a socket closed with unread bytes sends a reset, not
            # the plain close this checks (RFC 2525 §2.17).
            assert await asyncio.wait_for(r.read(), 10) == b""
            await shut(w)
            for _, w in held:
                await shut(w)
        finally:
            await agent.close()
            big_home.close()
            await big_home.wait_closed()
            echo.close()
            await echo.wait_closed()

        # Another host cannot claim d's public port.
        thief = Agent(relay, "e", secrets["e"], [wire.TunnelSpec("tcp", ports[7])], {})
        refused = await thief.hello()
        assert isinstance(refused, wire.Error)
        assert refused.code == "forbidden"
        await thief.close()

        # A port something else holds on the relay's machine is refused, not promised.
        busy = socket.socket()
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", relay.tcp_low + 3))
        busy.listen()
        try:
            agent = Agent(relay, "g", secrets["g"], [wire.TunnelSpec("tcp", relay.tcp_low + 3)], {})
            refused = await agent.hello()
            await agent.close()
            assert isinstance(refused, wire.Error)
            assert refused.code == "unavailable"
        finally:
            busy.close()

    run(work())
    assert 'homeport_relay_refused_total{reason="connections"} 1.0' in relay.metrics()
    assert 'homeport_relay_bytes_total{direction="in",host="d.dyn.example.net."}' in (
        relay.metrics()
    )


def test_dns_answers_the_relay_while_the_session_is_up(
    relay_env: tuple[Relay, dict[str, str]],
) -> None:
    relay, secrets = relay_env
    name = f"f.{ZONE}"
    request = urllib.request.Request(
        f"{relay.srv.url}/nic/update?hostname={name}&myip={STORED_V4}",
        headers={"Authorization": "Basic " + _basic(name, secrets["f"])},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.read().decode().startswith("good")
    assert relay.srv.dig(name) == [STORED_V4]
    serial = relay.srv.dig(ZONE, "SOA")[0].split()[2]

    async def up() -> None:
        agent = Agent(relay, "f", secrets["f"], [wire.TunnelSpec("http", relay.http_port)], {})
        await agent.welcome()
        try:
            assert relay.srv.dig(name) == [PUBLIC_V4]
            rows = relay.srv.admin_json("status")
            assert isinstance(rows, list)
            assert [r["relay"] for r in rows if "relay" in r] == [name + "."]
            assert [r["tunnels"] for r in rows if "relay" in r] == [f"http:{relay.http_port}"]
        finally:
            await agent.close()

    run(up())
    assert relay.srv.dig(ZONE, "SOA")[0].split()[2] != serial
    # The relay notices the closed control connection on its own: poll, bounded.
    for _ in range(100):
        if relay.srv.dig(name) == [STORED_V4]:
            break
        run(asyncio.sleep(0.1))
    assert relay.srv.dig(name) == [STORED_V4]
    status = relay.srv.admin("audit", "--json")
    assert "relay-up" in status.stdout
    assert "relay-down" in status.stdout


def test_the_owners_dashboard_shows_the_host_reached_through_the_relay(
    relay_env: tuple[Relay, dict[str, str]],
) -> None:
    relay, _ = relay_env
    name = f"dash.{ZONE}"
    add_user(relay.srv, "dashowner")
    secret = relay.srv.add_host(name, "--user", "dashowner")
    status, _, session = login(relay.srv.url, "dashowner", PASSWORD)
    assert session, status

    def relay_fact() -> str:
        code, page = get(relay.srv.url, f"/dash/hosts/{name}", session)
        assert code == 200, page
        found = re.search(r'<dd id="relay">(.*?)</dd>', page, re.S)
        assert found is not None, page
        return found.group(1)

    assert relay_fact().startswith("not relayed")

    async def up() -> None:
        agent = Agent(relay, "dash", secret, [wire.TunnelSpec("http", relay.http_port)], {})
        await agent.welcome()
        try:
            fact = relay_fact()
            assert fact.startswith("reached through the relay since"), fact
            assert f"http:{relay.http_port}" in fact
            assert PUBLIC_V4 in fact
        finally:
            await agent.close()

    run(up())
    for _ in range(100):  # the relay notices the closed control connection on its own
        if relay_fact().startswith("not relayed"):
            break
        run(asyncio.sleep(0.1))
    assert relay_fact().startswith("not relayed")


def _basic(user: str, password: str) -> str:
    import base64

    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_new_hello_replaces_the_old_session(relay_env: tuple[Relay, dict[str, str]]) -> None:
    relay, secrets = relay_env

    async def work() -> None:
        home = await http_home(b"second")
        spec = [wire.TunnelSpec("http", relay.http_port)]
        first = Agent(relay, "g", secrets["g"], spec, {})
        second = Agent(relay, "g", secrets["g"], spec, {("http", relay.http_port): port_of(home)})
        await first.welcome()
        await second.welcome()
        try:
            assert first.control is not None
            # The relay closed the old control connection.
            assert await asyncio.wait_for(first.control[0].read(), 10) == b""
            answer = await http_get(relay.http_port, f"g.{ZONE}")
            assert answer.endswith(b"second")
            assert first.opened == []
        finally:
            await first.close()
            await second.close()
            home.close()
            await home.wait_closed()

    run(work())


def test_a_host_cannot_claim_another_name_and_a_wrong_secret_is_throttled(
    relay_env: tuple[Relay, dict[str, str]],
) -> None:
    relay, secrets = relay_env

    async def work() -> None:
        # Only the relay's own listener ports, and at most max_tunnels_per_host (8).
        for tunnels, code in (
            ([wire.TunnelSpec("http", relay.tls_port)], "forbidden"),
            ([wire.TunnelSpec("tls", relay.http_port)], "forbidden"),
            ([wire.TunnelSpec("tcp", port) for port in range(1, 10)], "limit"),
        ):
            agent = Agent(relay, "a", secrets["a"], tunnels, {})
            answer = await agent.hello()
            await agent.close()
            assert isinstance(answer, wire.Error)
            assert answer.code == code
        # a's secret for b's name: refused like any wrong secret.
        thief = Agent(relay, "b", secrets["a"], [wire.TunnelSpec("http", relay.http_port)], {})
        answer = await thief.hello()
        assert answer == wire.Error("badauth", "bad host name or secret")
        await thief.close()
        codes = []
        for _ in range(15):
            guess = Agent(relay, "e", "wrong", [wire.TunnelSpec("http", relay.http_port)], {})
            answer = await guess.hello()
            await guess.close()
            assert isinstance(answer, wire.Error)
            codes.append(answer.code)
        assert codes[0] == "badauth"
        assert codes[-1] == "throttled"
        # The right secret still works from the same source (budgets never block it).
        owner = Agent(relay, "e", secrets["e"], [wire.TunnelSpec("http", relay.http_port)], {})
        await owner.welcome()
        await owner.close()

    run(work())
    assert 'homeport_auth_failures_total{answer="abuse",api="relay"}' in relay.metrics()
    audit = relay.srv.admin("audit", "--json").stdout
    assert '"relay-refused"' in audit
    assert secrets["a"] not in audit


def test_tcp_port_survives_a_relay_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_homeport("server", "zone", "add", ZONE, "--data", str(data)).returncode == 0
    secrets = add_hosts(data, [f"h.{ZONE}"])
    config = write_config(data)
    granted = []
    for _ in range(2):
        srv = start_server(data, "--config", str(config))
        try:
            relay = Relay(srv, data, config)

            async def work(relay: Relay = relay) -> None:
                echo = await echo_home()
                agent = Agent(
                    relay,
                    "h",
                    secrets[f"h.{ZONE}"],
                    [wire.TunnelSpec("tcp", 22)],
                    {("tcp", 22): port_of(echo)},
                )
                welcome = await agent.welcome()
                public = welcome.tunnels[0].public_port
                granted.append(public)
                try:
                    r, w = await asyncio.open_connection("127.0.0.1", public)
                    w.write(b"still here\n")
                    assert await r.readline() == b"still here\n"
                    await shut(w)
                finally:
                    await agent.close()
                    echo.close()
                    await echo.wait_closed()

            run(work())
        finally:
            stop_server(srv)
    assert granted[0] == granted[1]
    fp = run_homeport("server", "relay", "fingerprint", "--data", str(data))
    assert fp.returncode == 0
    assert fp.stdout.strip() == fingerprint(data / "relay-cert.pem")


def test_pings_get_pongs_and_a_silent_session_is_closed(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_homeport("server", "zone", "add", ZONE, "--data", str(data)).returncode == 0
    secrets = add_hosts(data, [f"q.{ZONE}"])
    config = write_config(data, heartbeat=1)
    srv = start_server(data, "--config", str(config))
    try:
        relay = Relay(srv, data, config)

        async def work() -> None:
            agent = Agent(relay, "q", secrets[f"q.{ZONE}"], [wire.TunnelSpec("tcp", 0)], {})
            agent.control = await pinned(relay.control, relay.fingerprint)
            reader, writer = agent.control
            writer.write(wire.encode(wire.Hello(f"q.{ZONE}", agent.secret, tuple(agent.tunnels))))
            welcome = wire.decode(await reader.readline())
            assert isinstance(welcome, wire.Welcome)
            assert welcome.heartbeat == 1
            assert wire.decode(await reader.readline()) == wire.Want(2)
            writer.write(wire.encode(wire.Ping()))
            assert wire.decode(await reader.readline()) == wire.Pong()
            # Then silence: the relay gives up after 4/3 of the heartbeat.
            assert await asyncio.wait_for(reader.read(), 20) == b""
            await agent.close()
            # The session's tcp port is closed with it.
            public = welcome.tunnels[0].public_port
            for _ in range(100):
                try:
                    _r, w = await asyncio.open_connection("127.0.0.1", public)
                except ConnectionRefusedError:
                    break
                await shut(w)
                await asyncio.sleep(0.1)
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection("127.0.0.1", public)
            # A server stopped while a session is up leaves nothing relayed behind.
            again = Agent(relay, "q", secrets[f"q.{ZONE}"], [wire.TunnelSpec("tcp", 0)], {})
            await again.welcome()
            assert relay.srv.dig(f"q.{ZONE}") == [PUBLIC_V4]
            await asyncio.to_thread(stop_server, srv)
            await again.close()

        run(work())
    finally:
        stop_server(srv)
    status = run_homeport("server", "status", "--data", str(data), "--json")
    assert status.returncode == 0, status.stderr
    assert [row for row in json.loads(status.stdout) if "relay" in row] == []
