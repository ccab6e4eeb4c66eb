"""`homeport agent run --once` as a real subprocess against a counting local dyndns2 endpoint."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.agent.servers import LocalServices, serve
from tests.helpers import ROOT, homeport_env

SEED = Path(__file__).parent / "data" / "seed-ddclient.conf"


@pytest.fixture
def services() -> Iterator[LocalServices]:
    with serve(LocalServices()) as running:
        yield running


def homeport(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        env=homeport_env(env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def write_config(
    tmp_path: Path,
    services: LocalServices,
    password: str = "s3cret",  # noqa: S107
    extra: str = "",
) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[ipv4]
require = 2
[[ipv4.source]]
type = "web"
url = "{services.base}/html"
skip = "IP Address"
[[ipv4.source]]
type = "web"
url = "{services.base}/liar"
label = "liar"
[[ipv4.source]]
type = "web"
url = "{services.base}/plain"

[[provider]]
protocol = "dyndns2"
hosts = ["home.example.org", "www.example.org"]
server = "127.0.0.1:{services.port}"
ssl = false
login = "me"
password = "{password}"
{extra}
"""
    )
    return path


def run_once(tmp_path: Path, config: Path, *more: str) -> subprocess.CompletedProcess[str]:
    result = homeport(
        "agent",
        "run",
        "--once",
        "--config",
        str(config),
        "--state-dir",
        str(tmp_path / "state"),
        *more,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_unchanged_ip_never_resent_and_a_change_is_sent_once(
    tmp_path: Path, services: LocalServices
) -> None:
    config = write_config(tmp_path, services)
    for _ in range(3):
        assert run_once(tmp_path, config).returncode == 0
    assert len(services.updates) == 1
    sent = services.updates[0]
    assert (sent.hostnames, sent.myip, sent.login, sent.password) == (
        "home.example.org,www.example.org",
        "203.0.113.10",
        "me",
        "s3cret",
    )
    assert services.checkips == 9  # only checkip polls on the unchanged runs
    services.address = "203.0.113.99"
    for _ in range(2):
        assert run_once(tmp_path, config).returncode == 0
    assert [u.myip for u in services.updates] == ["203.0.113.10", "203.0.113.99"]
    status = homeport("agent", "status", "--json", "--state-dir", str(tmp_path / "state"))
    hosts = json.loads(status.stdout)["hosts"]
    assert hosts["home.example.org"]["ipv4"]["address"] == "203.0.113.99"
    assert "s3cret" not in status.stdout


def test_force_resends_an_unchanged_address_once_and_only_with_once(
    tmp_path: Path, services: LocalServices
) -> None:
    config = write_config(tmp_path, services)
    assert run_once(tmp_path, config).returncode == 0
    assert run_once(tmp_path, config).returncode == 0
    assert len(services.updates) == 1
    assert run_once(tmp_path, config, "--force").returncode == 0
    assert [u.myip for u in services.updates] == ["203.0.113.10", "203.0.113.10"]
    daemon = homeport("agent", "run", "--config", str(config), "--force")
    assert daemon.returncode == 2, daemon.stderr  # a usage error: a daemon must never force
    assert daemon.stderr.count("\n") == 1
    assert "--force needs --once" in daemon.stderr


def test_the_liar_is_never_published(tmp_path: Path, services: LocalServices) -> None:
    run_once(tmp_path, write_config(tmp_path, services))
    assert all(u.myip != services.lie for u in services.updates)
    assert len(services.updates) == 1


def test_after_badauth_no_request_even_when_the_ip_changes(
    tmp_path: Path, services: LocalServices
) -> None:
    services.code = "badauth"
    config = write_config(tmp_path, services)
    result = run_once(tmp_path, config)
    assert result.returncode == 69
    assert "badauth" in result.stderr
    services.address = "203.0.113.50"
    for _ in range(2):
        run_once(tmp_path, config)
    assert len(services.updates) == 1
    status = homeport("agent", "status", "--state-dir", str(tmp_path / "state"))
    assert "STOPPED after 'badauth'" in status.stdout
    # Fixing the password (the host's own config) lets it try again.
    services.code = "good"
    config = write_config(tmp_path, services, password="fixed")
    assert run_once(tmp_path, config).returncode == 0
    assert len(services.updates) == 2
    assert services.updates[-1].password == "fixed"


def test_after_911_no_retry_in_the_next_runs(tmp_path: Path, services: LocalServices) -> None:
    services.code = "911"
    config = write_config(tmp_path, services)
    run_once(tmp_path, config)
    services.code = "good"
    for _ in range(2):
        run_once(tmp_path, config)
    assert len(services.updates) == 1
    state = json.loads((tmp_path / "state" / "agent-state.json").read_text())
    host = state["hosts"]["home.example.org"]
    assert host["retry_at"] - host["last_attempt"] >= 30 * 60


def test_5xx_backs_off(tmp_path: Path, services: LocalServices) -> None:
    services.http_status = 503
    config = write_config(tmp_path, services)
    assert run_once(tmp_path, config).returncode == 69
    services.http_status = 200
    run_once(tmp_path, config)
    assert len(services.updates) == 1


def test_dry_run_prints_the_request_redacted_and_sends_nothing(
    tmp_path: Path, services: LocalServices
) -> None:
    config = write_config(tmp_path, services)
    result = run_once(tmp_path, config, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (
        f"GET http://127.0.0.1:{services.port}/nic/update?hostname=home.example.org,www.example.org&myip=203.0.113.10"
        in result.stdout
    )
    assert "[redacted]" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    assert services.updates == []
    assert not (tmp_path / "state" / "agent-state.json").exists()


def test_all_sources_failing_publishes_nothing(tmp_path: Path, services: LocalServices) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
[[ipv4.source]]
type = "web"
url = "{services.base}/broken"
[[provider]]
protocol = "dyndns2"
hosts = ["home.example.org"]
server = "127.0.0.1:{services.port}"
ssl = false
login = "me"
password = "pw"
"""
    )
    result = run_once(tmp_path, path)
    assert result.returncode == 69
    assert "nothing published" in result.stderr
    assert "HTTP 503" in result.stderr
    assert services.updates == []


def test_hooks_run_on_change_only(tmp_path: Path, services: LocalServices) -> None:
    out = tmp_path / "hook.env"
    script = tmp_path / "hook.sh"
    script.write_text(f'#!/bin/sh\nenv | grep ^HOMEPORT_ | sort >> "{out}"\necho --- >> "{out}"\n')
    script.chmod(0o755)
    advertise = tmp_path / "advertise.json"
    hooks = (
        f'[hooks]\ncommand = "{script}"\nadvertise_file = "{advertise}"\n'
        f'advertise_ports = [443]\nwebhook = "{services.base}/hook"\n'
    )
    config = write_config(tmp_path, services, extra=hooks)
    run_once(tmp_path, config)
    run_once(tmp_path, config)  # unchanged: no hook, no webhook
    text = out.read_text()
    assert text.count("---") == 2  # one per host, first run only
    assert "HOMEPORT_EVENT=changed" in text
    assert "HOMEPORT_IPV4=203.0.113.10" in text
    assert "HOMEPORT_OLD_IPV4=\n" in text
    assert "HOMEPORT_HOST=www.example.org" in text
    document = json.loads(advertise.read_text())
    assert document["ipv4"] == "203.0.113.10"
    assert document["ports"] == [443]
    assert document["name"] == "home.example.org"
    assert len(services.webhooks) == 1
    assert {e["host"] for e in services.webhooks[0]["events"]} == {
        "home.example.org",
        "www.example.org",
    }  # type: ignore[union-attr]


def seed_pointed_at(tmp_path: Path, server: str, checkip: str) -> Path:
    """The seed's ddclient.conf with only server=, ssl= and the checkip URL changed.

    Against a real `homeport server`, pass its host:port and its checkip URL (no scheme).
    """
    text = SEED.read_text()
    text = text.replace("server=members.dyndns.org", f"server={server}")
    text = text.replace("ssl=yes", "ssl=no")
    text = text.replace("web=checkip.dyndns.com", f"web={checkip}")
    conf = tmp_path / "ddclient.conf"
    conf.write_text(text)
    conf.chmod(0o600)
    return conf


def test_the_seed_ddclient_conf_updates_on_the_first_run(
    tmp_path: Path, services: LocalServices
) -> None:
    """Only server=, ssl= and the checkip URL pointed at local services: the file is used as is."""
    conf = seed_pointed_at(
        tmp_path, f"127.0.0.1:{services.port}", f"127.0.0.1:{services.port}/html"
    )
    result = homeport(
        "agent",
        "run",
        "--once",
        "--ddclient-conf",
        str(conf),
        "--state-dir",
        str(tmp_path / "state"),
    )
    assert result.returncode == 0, result.stderr
    assert len(services.updates) == 1
    sent = services.updates[0]
    assert (sent.hostnames, sent.myip, sent.login, sent.password) == (
        "myhome.dyndns.org",
        "203.0.113.10",
        "myusername",
        "my-password",
    )


def test_daemon_with_a_bad_config_exits_78_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[agent]\ninterval = "never"\n[[provider]]\nprotocol = "dyndns2"\nhosts = []\n')
    result = homeport("agent", "run", "--config", str(path), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("homeport: error:")]
    assert any(f"{path}:2: agent.interval" in e for e in errors), errors
    assert any(f"{path}:5: provider[0].hosts" in e for e in errors), errors


def test_ip_shows_every_answer_and_the_verdict(tmp_path: Path, services: LocalServices) -> None:
    config = write_config(tmp_path, services)
    result = homeport("ip", "--json", "--config", str(config))
    assert result.returncode == 0, result.stderr
    (verdict,) = json.loads(result.stdout)
    assert verdict["address"] == "203.0.113.10"
    assert verdict["dissenting"] == ["liar"]
    assert {a["source"]: a["address"] for a in verdict["answers"]}["liar"] == services.lie
    text = homeport("ip", "--config", str(config))
    assert "IPv4: 203.0.113.10 (2 of 3 sources agree; ignored liar (disagreed))" in text.stdout
    assert services.updates == []  # `ip` only looks


def test_ip_when_sources_disagree_exits_nonzero(tmp_path: Path, services: LocalServices) -> None:
    config = write_config(tmp_path, services)
    config.write_text(
        config.read_text().replace("/plain", "/liar").replace("require = 2", "require = 1")
    )
    result = homeport("ip", "--config", str(config))
    assert result.returncode == 69
    assert "IPv4: UNKNOWN (sources disagree" in result.stdout
