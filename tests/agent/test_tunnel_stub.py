"""`homeport tunnel` as a process against a tiny relay (tests/agent/relay_stub.py) on loopback.

The stub speaks proto.relay and nothing more, so these tests pin the client's side of the
protocol and its reconnect and failure behaviour; tests/agent/test_tunnel.py runs the same
stories against `homeport server` with [relay].
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.relay_stub import StubRelay
from tests.agent.tunnel_helpers import (
    PAGE,
    LocalService,
    TunnelProc,
    local_service,
    start_tunnel,
    visit,
    visit_raw,
    wait_until,
)

HOST = "myhome.example.net"


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[StubRelay]:
    stub = StubRelay(tmp_path, HOST, secrets.token_urlsafe(16)).start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def service() -> Iterator[LocalService]:
    with local_service() as running:
        yield running


def tunnel_to(relay: StubRelay, service: LocalService, tmp_path: Path, secret: str | None = None,
              fingerprint: str | None = None) -> TunnelProc:  # fmt: skip
    secret_file = tmp_path / "secret"
    secret_file.write_text((secret or relay.secret) + "\n")
    return start_tunnel(
        f"{HOST}:{service.port}",
        "--relay", relay.address,
        "--kind", "tcp",
        "--secret-file", str(secret_file),
        "--fingerprint", fingerprint or relay.fingerprint,
    )  # fmt: skip


def test_a_visitor_reaches_the_home_service_through_the_relay(
    relay: StubRelay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        ready = tunnel.wait_ready()
        assert ready["state"] == "up"
        assert ready["granted"] == [
            {"kind": "tcp", "port": service.port, "public_port": relay.public_port}
        ]
        # More visitors at once than spares: the relay's `want` brings more.
        for _ in range(10):
            assert visit(relay.public_port) == PAGE
    finally:
        assert tunnel.stop() == 0  # Ctrl-C is a normal end
    assert tunnel.stdout == [tunnel.stdout[0]]  # one ready line, nothing else on stdout


def test_after_the_relay_restarts_new_visitors_get_through_with_no_config_change(
    relay: StubRelay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        tunnel.wait_ready()
        assert visit(relay.public_port) == PAGE
        relay.stop()  # every connection cut at once, as a killed relay
        relay.start()  # same ports
        wait_until(lambda: visit(relay.public_port), 5.0, "a visitor after the relay came back")
        assert tunnel.proc.poll() is None
        assert relay.sessions == 2  # one new session, no storm
    finally:
        tunnel.stop()


def test_a_wrong_secret_is_one_line_exit_1_and_no_retry(
    relay: StubRelay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path, secret="not-the-secret")
    assert tunnel.proc.wait(30) == 1
    tunnel.stop()  # reads the rest of its output
    errors = [line for line in tunnel.stderr if "error" in line.lower()]
    assert len(errors) == 1, tunnel.stderr
    assert "badauth" in errors[0]
    assert "not-the-secret" not in "".join(tunnel.stderr + tunnel.stdout)
    assert relay.hellos == 1


def test_a_relay_whose_certificate_is_not_the_pinned_one_never_gets_the_secret(
    relay: StubRelay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path, fingerprint="sha256:" + "ab" * 32)
    assert tunnel.proc.wait(30) == 1
    tunnel.stop()
    assert "fingerprint" in "".join(tunnel.stderr)
    assert relay.hellos == 0


def test_the_tunnel_survives_the_home_service_being_down(
    relay: StubRelay, service: LocalService, tmp_path: Path
) -> None:
    tunnel = tunnel_to(relay, service, tmp_path)
    try:
        tunnel.wait_ready()
        assert visit(relay.public_port) == PAGE
        service.stop()
        # The visitor is closed with nothing sent back; the tunnel stays.
        assert visit_raw(relay.public_port) == b""
        assert visit_raw(relay.public_port) == b""
        assert tunnel.proc.poll() is None
        assert relay.live_session()
        service.start()  # same port
        assert visit(relay.public_port) == PAGE
        assert relay.sessions == 1  # never reconnected
        refused = [line for line in tunnel.stderr if "local service" in line]
        assert len(refused) == 1, tunnel.stderr  # logged once, not per visitor
    finally:
        tunnel.stop()


def test_a_silent_relay_is_left_after_four_thirds_of_a_heartbeat(
    tmp_path: Path, service: LocalService
) -> None:
    """The path dies without a reset (a NAT drops the mapping): pings go unanswered, the
    client opens a new session by itself; with the relay's 0.6 s heartbeat, at once."""
    relay = StubRelay(tmp_path, HOST, secrets.token_urlsafe(16), heartbeat=0.6).start()
    try:
        tunnel = tunnel_to(relay, service, tmp_path)
        try:
            tunnel.wait_ready()
            assert relay.sessions == 1
            wait_until(lambda: _assert(relay.pongs >= 2), 10.0, "pings answered")
            relay.muted = True
            wait_until(lambda: _assert(relay.sessions >= 2), 10.0, "a new session")
            assert any("no word from the relay" in line for line in tunnel.stderr), tunnel.stderr
            relay.muted = False
            assert visit(relay.public_port) == PAGE
        finally:
            assert tunnel.stop() == 0
    finally:
        relay.stop()


def _assert(condition: bool) -> None:
    assert condition


def test_an_address_change_replaces_a_dead_session_at_once(
    relay: StubRelay, service: LocalService
) -> None:
    """In-process: a nudge (netlink, the router's WAN address moved) probes the session
    with a ping; unanswered, a new session opens without waiting for the heartbeat (30 s)."""
    import asyncio

    from homeport.agent.tunnel import LocalRoute, Target, TunnelClient

    target = Target(
        ("127.0.0.1", relay.control_port), HOST, relay.secret,
        (LocalRoute("tcp", service.port, ("127.0.0.1", service.port)),), relay.fingerprint,
    )  # fmt: skip

    async def story() -> None:
        client = TunnelClient(target)
        running = asyncio.create_task(client.run())
        while client.status.state != "up":  # noqa: ASYNC110 (a state, not an event)
            await asyncio.sleep(0.02)
        client.nudge()  # the path is fine: the probe's pong keeps the session
        while relay.pongs < 1:  # noqa: ASYNC110 (the relay's thread counts)
            await asyncio.sleep(0.02)
        relay.muted = True
        client.nudge()
        while relay.sessions < 2:
            assert not running.done()
            await asyncio.sleep(0.02)
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)

    asyncio.run(asyncio.wait_for(story(), 20))
    assert relay.sessions == 2  # the first nudge, answered, did not reconnect
