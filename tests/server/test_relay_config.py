"""``[relay]``: checked whole at load, one clear line per problem, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport.errors import ConfigError
from homeport.server.config import ServerConfig
from homeport.server.relay.config import RelayConfig
from homeport.server.relay.splice import CHUNK, Bucket
from tests.helpers import run_homeport

ON = {"enabled": True, "public_ipv4": "203.0.113.1"}


def test_off_by_default_and_a_minimal_section_is_enough() -> None:
    assert not ServerConfig.build({}).relay.enabled
    relay = ServerConfig.build({"relay": ON}).relay
    assert relay.tcp_range == (20000, 20999)
    assert (relay.http_ports, relay.tls_ports, relay.spares) == ([80], [443], 4)


@pytest.mark.parametrize(
    ("relay", "server", "problem"),
    [
        ({"enabled": True}, {}, "public_ipv4 is required"),
        ({**ON, "public_ipv4": "2001:db8::1"}, {}, "not an IPv4 address"),
        ({**ON, "http_ports": [0]}, {}, "greater than or equal to 1"),
        ({**ON, "tls_ports": [65536]}, {}, "less than or equal to 65535"),
        ({**ON, "tcp_ports": "2000-1000"}, {}, "first <= last"),
        ({**ON, "tcp_ports": "lots"}, {}, "FIRST-LAST"),
        ({**ON, "http_ports": [80, 443]}, {}, "in both http_ports and tls_ports"),
        ({**ON, "http_ports": [20010]}, {}, "lies in tcp_ports"),
        ({**ON, "listen": "0.0.0.0:443"}, {}, "listen port 443 is also a public relay port"),
        ({**ON, "cert": "/x.pem"}, {}, "cert and key go together"),
        (ON, {"http": ["0.0.0.0:80"]}, "http 0.0.0.0:80 uses a port the relay listens on"),
        (ON, {"dns": ["127.0.0.1:7443"]}, "dns 127.0.0.1:7443 uses a port the relay"),
        ({**ON, "bogus": 1}, {}, "Extra inputs"),
    ],
)
def test_bad_sections_are_refused_at_load(
    relay: dict[str, Any], server: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        ServerConfig.build({**server, "relay": relay})


def test_the_servers_own_listeners_on_other_addresses_do_not_clash() -> None:
    config = ServerConfig.build(
        {"http": ["127.0.0.1:80"], "relay": {**ON, "bind": "192.0.2.1", "listen": "192.0.2.1:7443"}}
    )
    assert config.relay.bind == "192.0.2.1"


def test_a_bad_relay_section_is_one_line_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text('[relay]\nenabled = true\nhttp_ports = [80, 80000]\npublic_ipv4 = "x"\n')
    result = run_homeport("server", "run", "--data", str(tmp_path / "d"), "--config", str(path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "relay.http_ports.1" in result.stderr
    assert "relay.public_ipv4" in result.stderr


def test_relay_config_alone() -> None:
    assert RelayConfig().enabled is False


def test_the_byte_bucket_makes_a_host_wait_for_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    now = [0.0]
    bucket = Bucket(1000.0, clock=lambda: now[0])
    monkeypatch.setattr(asyncio, "sleep", sleep)
    asyncio.run(bucket.take(CHUNK))  # the burst: one chunk at once
    assert waits == []
    asyncio.run(bucket.take(2000))  # 2000 bytes in debt at 1000 B/s: 2 s
    assert waits == [2.0]
    now[0] = 10.0  # refilled meanwhile
    asyncio.run(bucket.take(500))
    assert waits == [2.0]
