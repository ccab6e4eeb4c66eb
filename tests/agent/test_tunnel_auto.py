"""mode = "auto" in the tunnel process: the keeper's reports and the NAT verdict open and
close the tunnel (in-process, against the tiny relay on loopback; time is not faked: each
step waits for what the relay sees)."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from pathlib import Path

import pytest

from homeport.agent.config import TunnelEntry
from homeport.agent.statefile import read_tunnels
from homeport.agent.tunnel_process import Tunnels
from tests.agent.relay_stub import StubRelay
from tests.agent.tunnel_helpers import PAGE, local_service, visit

HOST = "myhome.example.net"


async def until(condition: object, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


def test_auto_relays_behind_cgnat_and_goes_direct_when_the_router_maps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="homeport")
    relay = StubRelay(tmp_path, HOST, secrets.token_urlsafe(16)).start()
    try:
        with local_service() as service:
            entry = TunnelEntry(
                0, ("127.0.0.1", relay.control_port), HOST, relay.secret, relay.fingerprint,
                "", ("127.0.0.1", service.port), "tcp", service.port, False, "auto",
            )  # fmt: skip

            async def story() -> None:
                tunnels = Tunnels([entry], tmp_path)
                tunnels.apply()
                assert tunnels.clients == {}  # nothing known yet: no tunnel
                assert read_tunnels(tmp_path)[0]["state"] == "direct"
                # CGNAT: the router's WAN address is not what the internet sees.
                tunnels.heard({"kind": "started", "external_ip": "100.64.0.2"})
                tunnels.heard({"kind": "public", "ipv4": "198.51.100.7"})
                await until(relay.live_session)
                assert await asyncio.to_thread(visit, relay.public_port) == PAGE
                await until(lambda: read_tunnels(tmp_path)[0]["state"] == "up")
                # The ISP hands out a public address: the router holds it and maps the port.
                tunnels.heard({"kind": "external-ip", "external_ip": "198.51.100.7"})
                tunnels.heard({"kind": "created", "spec": {"internal_port": service.port}})
                await until(lambda: not relay.live_session())
                assert tunnels.clients == {}
                assert read_tunnels(tmp_path)[0]["state"] == "direct"
                # The router loses the ability to map: back to the relay.
                tunnels.heard(
                    {"kind": "no-mapping-possible", "spec": {"internal_port": service.port}}
                )
                await until(relay.live_session)
                await tunnels.stop()

            asyncio.run(story())
    finally:
        relay.stop()
    switches = [r.getMessage() for r in caplog.records if "tunnel myhome" in r.getMessage()]
    switches = [m for m in switches if "relayed through" in m or ": direct (" in m]
    assert len(switches) == 3, switches
    assert "CGNAT" in switches[0]
    assert "direct path" in switches[1]
    assert "cannot map" in switches[2]
