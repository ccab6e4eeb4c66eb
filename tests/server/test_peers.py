"""Real updaters from Debian against a real server: ddclient 3.10 and inadyn 2.10."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.server.conftest import ServerProc

pytestmark = pytest.mark.peer

HOST = "myhome.dyn.example.net"

# A typical ddclient.conf (use=web with web-skip, dyndns2), with only server=, ssl= and the checkip
# URL pointed at the test server.
SEED_DDCLIENT_CONF = """\
daemon=600
syslog=yes
ssl=yes
protocol=dyndns2
use=web, web=checkip.dyndns.com, web-skip='IP Address'
server=members.dyndns.org
login={login}
password='{password}'
{host}
"""


def run_ddclient(conf: Path, cache: Path) -> str:
    result = subprocess.run(
        [
            "ddclient",
            "-daemon=0",
            "-foreground",
            "-file",
            str(conf),
            "-cache",
            str(cache),
            "-verbose",
            "-noquiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout + result.stderr


def seed_ddclient_conf(server: ServerProc, secret: str, tmp_path: Path) -> Path:
    text = SEED_DDCLIENT_CONF.format(login=HOST, password=secret, host=HOST)
    text = text.replace("ssl=yes", "ssl=no")
    text = text.replace("server=members.dyndns.org", f"server={server.http[0]}:{server.http[1]}")
    text = text.replace("web=checkip.dyndns.com", f"web={server.url}/checkip")
    conf = tmp_path / "ddclient.conf"
    conf.write_text(text)
    conf.chmod(0o600)
    return conf


def test_ddclient_with_the_seed_config(server: ServerProc, tmp_path: Path) -> None:
    # checkip sees loopback here: only a zone that allows private addresses publishes it.
    assert server.admin("zone", "set", "dyn.example.net", "--allow-private").returncode == 0
    secret = server.add_host(HOST)
    conf = seed_ddclient_conf(server, secret, tmp_path)
    output = run_ddclient(conf, tmp_path / "ddclient.cache")
    assert "SUCCESS:  updating myhome.dyn.example.net: good: IP address set to 127.0.0.1" in output
    assert server.dig(HOST) == ["127.0.0.1"]
    # ddclient's cache now holds the address: a second run sends nothing.
    again = run_ddclient(conf, tmp_path / "ddclient.cache")
    assert "/nic/update" not in again
    assert secret not in "".join(server.output)


def test_ddclient_stops_on_an_address_the_zone_refuses(server: ServerProc, tmp_path: Path) -> None:
    """A public zone refuses loopback with `badip`: ddclient fails the host and does not
    resend (ddclient 3.10 has no permanent stop: any failure waits min-error-interval)."""
    secret = server.add_host(HOST)
    conf = seed_ddclient_conf(server, secret, tmp_path)
    output = run_ddclient(conf, tmp_path / "ddclient.cache")
    assert "FAILED:   updating myhome.dyn.example.net: unexpected status (badip)" in output
    assert server.dig(HOST) == []
    again = run_ddclient(conf, tmp_path / "ddclient.cache")
    assert "/nic/update" not in again, again
    assert "skipping update of myhome.dyn.example.net" in again, again


INADYN_CONF = """\
period = 60
allow-ipv6 = true
custom homeport4 {{
    username = {login}
    password = {password}
    ssl = false
    checkip-command = "echo {ipv4}"
    ddns-server = {server}
    ddns-path = "/nic/update?hostname=%h&myip=%i"
    hostname = {host}
}}
custom homeport6 {{
    username = {login}
    password = {password}
    ssl = false
    checkip-command = "echo {ipv6}"
    ddns-server = {server}
    ddns-path = "/nic/update?hostname=%h&myipv6=%i"
    hostname = {host}
}}
"""


def run_inadyn(conf: Path, cache: Path) -> str:
    # checkip-command keeps inadyn off the network: with a failing checkip server it
    # falls back to a public service, which the network rule forbids.
    result = subprocess.run(
        [
            "inadyn",
            "--once",
            "--foreground",
            "--no-pidfile",
            "-f",
            str(conf),
            "--cache-dir",
            str(cache),
            "-l",
            "debug",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "HOME": str(cache)},
    )
    return result.stdout + result.stderr


def test_inadyn_sets_aaaa_without_touching_a(server: ServerProc, tmp_path: Path) -> None:
    secret = server.add_host(HOST)
    conf = tmp_path / "inadyn.conf"
    values = {
        "login": HOST,
        "password": secret,
        "host": HOST,
        "server": f"{server.http[0]}:{server.http[1]}",
    }
    conf.write_text(INADYN_CONF.format(ipv4="192.0.2.44", ipv6="2001:db8::66", **values))
    conf.chmod(0o600)
    cache = tmp_path / "cache"
    cache.mkdir()
    output = run_inadyn(conf, cache)
    assert "myipv6=2001%3adb8%3a%3a66" in output
    assert output.count("Successful alias table update") == 2, output
    assert server.dig(HOST) == ["192.0.2.44"]
    assert server.dig(HOST, "AAAA") == ["2001:db8::66"]
    # Only the IPv6 address changes: inadyn's separate myipv6= request leaves A alone.
    conf.write_text(INADYN_CONF.format(ipv4="192.0.2.44", ipv6="2001:db8::67", **values))
    output = run_inadyn(conf, cache)
    assert "myipv6=2001%3adb8%3a%3a67" in output
    assert server.dig(HOST, "AAAA") == ["2001:db8::67"]
    assert server.dig(HOST) == ["192.0.2.44"]


def test_inadyn_exits_on_an_address_the_zone_refuses(server: ServerProc, tmp_path: Path) -> None:
    """`badip` is fatal to inadyn 2.10: run as a daemon (no --once), it exits by itself."""
    secret = server.add_host(HOST)
    conf = tmp_path / "inadyn.conf"
    values = {
        "login": HOST,
        "password": secret,
        "host": HOST,
        "server": f"{server.http[0]}:{server.http[1]}",
    }
    # inadyn itself drops loopback and link-local addresses; RFC 1918 it sends.
    conf.write_text(INADYN_CONF.format(ipv4="10.1.2.3", ipv6="fc00::1", **values))
    conf.chmod(0o600)
    cache = tmp_path / "cache"
    cache.mkdir()
    result = subprocess.run(
        ["inadyn", "--foreground", "--no-pidfile", "-f", str(conf), "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        timeout=60,  # a retrying inadyn would still run after its 60 s period: this fails
        env={**os.environ, "HOME": str(cache)},
    )
    output = result.stdout + result.stderr
    assert "Fatal error in DDNS server response" in output, output
    assert "[200 OK] badip" in output, output
    assert "exiting!" in output, output
    assert result.returncode != 0
    assert server.dig(HOST) == []
    assert server.dig(HOST, "AAAA") == []
