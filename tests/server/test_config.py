"""Server configuration from a TOML file: trusted proxies, User-Agent rule, HTTPS, bad files."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.httpget import get

HOST = "cfg.dyn.example.net"


@pytest.fixture
def configured(tmp_path: Path) -> Iterator[tuple[ServerProc, str, Path]]:
    data = tmp_path / "data"
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    config = tmp_path / "server.toml"
    config.write_text(
        f"""
[server]
trusted_proxies = ["127.0.0.0/8"]
require_user_agent = true
https = ["127.0.0.1:0"]
tls_cert = "{cert}"
tls_key = "{key}"

[limits]
enabled = false
"""
    )
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    secret = add_hosts(data, [HOST])[HOST]
    srv = start_server(data, "--config", str(config))
    try:
        yield srv, secret, cert
    finally:
        stop_server(srv)


def test_forwarded_for_from_trusted_proxy(configured: tuple[ServerProc, str, Path]) -> None:
    srv, secret, _ = configured
    _, body, _ = get(
        srv.http,
        f"/nic/update?hostname={HOST}",
        auth=(HOST, secret),
        headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.1"},
    )
    assert body == "good 203.0.113.9\n"
    _, body, _ = get(srv.http, "/checkip?format=text", headers={"X-Forwarded-For": "198.51.100.1"})
    assert body == "198.51.100.1\n"


def test_missing_user_agent_is_badagent(configured: tuple[ServerProc, str, Path]) -> None:
    srv, secret, _ = configured
    result = subprocess.run(
        [
            "curl",
            "-s",
            "-A",
            "",
            "-u",
            f"{HOST}:{secret}",
            f"{srv.url}/nic/update?hostname={HOST}&myip=192.0.2.1",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "badagent\n"


def test_https_listener(configured: tuple[ServerProc, str, Path]) -> None:
    srv, secret, cert = configured
    https = next(line for line in srv.output if line.startswith("ready "))
    import json

    address = json.loads(https[6:])["https"][0]
    result = subprocess.run(
        [
            "curl",
            "-s",
            "--cacert",
            str(cert),
            "-u",
            f"{HOST}:{secret}",
            f"https://{address}/nic/update?hostname={HOST}&myip=192.0.2.77",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "good 192.0.2.77\n"
    assert srv.dig(HOST) == ["192.0.2.77"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nhttp = ['nope']\n", "no port"),
        ("[server]\nbogus = 1\n", "bogus"),
        ("[server\n", "server.toml"),
        ("[server]\nhttps = [':8443']\n", "tls_cert"),
        ("[other]\n", "unknown section"),
    ],
)
def test_bad_config_is_one_line(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "server.toml"
    config.write_text(text)
    result = run_homeport("server", "run", "--data", str(tmp_path / "d"), "--config", str(config))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_two_dns_listeners_share_metrics(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    srv = start_server(data, "--limits", "off", "--dns", "127.0.0.1:0")
    try:
        import json

        ready = json.loads(next(line for line in srv.output if line.startswith("ready "))[6:])
        assert len(ready["dns"]) == 2
        srv.dig("nothere.dyn.example.net")
        status, body, _ = get(srv.http, "/metrics")
        assert status == 200
        assert 'homeport_dns_queries_total{rcode="NXDOMAIN"} 1.0' in body
    finally:
        stop_server(srv)


def test_ipv4_and_ipv6_wildcards_side_by_side(tmp_path: Path) -> None:
    """`[::]` listeners are IPv6-only, so they sit beside `0.0.0.0` on the same port."""
    import socket

    data = tmp_path / "data"
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = ["--limits", "off", "--dns", f"0.0.0.0:{port}", "--dns", f"[::]:{port}"]
    srv = start_server(data, *args)
    try:
        import json

        ready = json.loads(next(line for line in srv.output if line.startswith("ready "))[6:])
        assert len(ready["dns"]) == 3
        assert srv.dig("dyn.example.net", "SOA")
    finally:
        stop_server(srv)


def test_readme_example_config_is_valid(tmp_path: Path) -> None:
    """The [server]/[limits] example in README.md loads as written."""
    from homeport.server.config import ServerConfig

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```toml\n[server]", 1)[1].split("```", 1)[0]
    config_file = tmp_path / "server.toml"
    config_file.write_text("[server]" + block)
    config = ServerConfig.from_toml(config_file)
    assert config.limits.failed_auth_ipv6_prefix == 64
    assert config.metrics_listen == ["127.0.0.1:9245"]
