"""[[tunnel]] in the agent's config and `homeport tunnel`'s arguments: checked at load, one
line per problem, never a traceback, never the secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.agent import config
from homeport.errors import ConfigError
from tests.helpers import run_homeport

PIN = "sha256:" + "0f" * 32
TUNNEL = f"""\
[[tunnel]]
relay = "relay.example.net:7443"
host = "myhome.example.net"
secret = "s3cret-value"
fingerprint = "{PIN}"
local = "127.0.0.1:888"
kind = "http"
port = 888
"""
PROVIDER = """\
[[provider]]
protocol = "homeport"
server = "https://ddns.example.net"
login = "myhome.example.net"
password = "from-the-provider"
hosts = ["myhome.example.net"]
"""


def load(tmp_path: Path, text: str) -> config.AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return config.load(path)


def test_a_tunnel_alone_is_a_whole_config(tmp_path: Path) -> None:
    cfg = load(tmp_path, TUNNEL)
    (entry,) = cfg.tunnels
    assert entry.relay == ("relay.example.net", 7443)
    assert entry.local == ("127.0.0.1", 888)
    assert (entry.kind, entry.port, entry.mode, entry.proxy) == ("http", 888, "always", False)
    assert entry.secret == "s3cret-value"
    assert "s3cret-value" not in repr(cfg)


def test_the_secret_comes_from_the_homeport_provider_of_the_host(tmp_path: Path) -> None:
    cfg = load(tmp_path, PROVIDER + TUNNEL.replace('secret = "s3cret-value"\n', ""))
    assert cfg.tunnels[0].secret == "from-the-provider"


def test_the_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("from-a-file\n")
    text = TUNNEL.replace('secret = "s3cret-value"', f'secret_file = "{tmp_path / "secret"}"')
    assert load(tmp_path, text).tunnels[0].secret == "from-a-file"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('relay = "relay.example.net:7443"', 'relay = "relay.example.net"', "HOST:PORT"),
        ('relay = "relay.example.net:7443"', 'relay = "2001:db8::1:7443"', "brackets"),
        ('local = "127.0.0.1:888"', 'local = "127.0.0.1"', "tunnel[0].local"),
        ('local = "127.0.0.1:888"', 'local = "0.0.0.0:888"', "tunnel[0].local"),
        (f'fingerprint = "{PIN}"', 'fingerprint = "sha256:abcd"', "64 hex digits"),
        ('kind = "http"', 'kind = "udp"', "tunnel[0].kind"),
        ("port = 888", "port = 0", 'for kind = "tcp" only'),
        ("port = 888", "port = 70000", "tunnel[0].port"),
        ('secret = "s3cret-value"\n', "", "no secret for myhome.example.net"),
        ('kind = "http"', 'kind = "http"\nmode = "auto"', "needs a [[mapping]]"),
        ('kind = "http"', 'kind = "http"\nsurprise = 1', "unknown setting"),
    ],
)
def test_problems_are_named_with_their_line(
    tmp_path: Path, old: str, new: str, fragment: str
) -> None:
    assert old in TUNNEL
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, TUNNEL.replace(old, new))
    text = "\n".join(caught.value.problems)
    assert fragment in text
    assert "agent.toml:" in text
    assert "s3cret-value" not in text


def test_two_tunnels_of_one_host_share_one_session_and_must_agree(tmp_path: Path) -> None:
    other = TUNNEL.replace("port = 888", "port = 889").replace('"s3cret-value"', '"other"')
    with pytest.raises(ConfigError, match="one session per host"):
        load(tmp_path, TUNNEL + other)
    same = TUNNEL.replace('local = "127.0.0.1:888"', 'local = "127.0.0.1:999"')
    with pytest.raises(ConfigError, match="already tunnel"):
        load(tmp_path, TUNNEL + same)
    cfg = load(tmp_path, TUNNEL + TUNNEL.replace("port = 888", "port = 889"))
    assert [t.port for t in cfg.tunnels] == [888, 889]


def test_auto_needs_the_mapping_of_the_local_port(tmp_path: Path) -> None:
    text = TUNNEL.replace('kind = "http"', 'kind = "http"\nmode = "auto"')
    cfg = load(tmp_path, text + "[[mapping]]\ninternal_port = 888\n")
    assert cfg.tunnels[0].mode == "auto"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["myhome.example.net", "--relay", "127.0.0.1:7443"], "NAME:PORT"),
        (["myhome.example.net:888", "--relay", "127.0.0.1"], "HOST:PORT"),
        (["myhome.example.net:888", "--relay", "127.0.0.1:7443"], "secret"),
        (["myhome.example.net:0", "--relay", "127.0.0.1:7443"], "--kind tcp only"),
        (
            ["myhome.example.net:888", "--relay", "127.0.0.1:7443", "--fingerprint", "md5:x"],
            "fingerprint",
        ),
        (
            [
                "myhome.example.net:888",
                "--relay",
                "127.0.0.1:7443",
                "--secret-file",
                "/nonexistent",
            ],
            "cannot read the secret file",
        ),
    ],
)
def test_the_tunnel_command_says_what_is_wrong_in_one_line(args: list[str], fragment: str) -> None:
    result = run_homeport("tunnel", *args, env={"HOMEPORT_TUNNEL_SECRET": ""})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("homeport: error:")
    assert fragment in lines[0]
    assert result.stdout == ""


def test_check_config_counts_the_tunnels(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(TUNNEL)
    result = run_homeport("agent", "check-config", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("1 tunnel(s)")
    assert "s3cret-value" not in result.stdout + result.stderr
