"""A real ``homeport server run`` on PostgreSQL, with admin commands in other processes.

The SQLite suite's tests for the server invariants (docs/architecture.md) run here again
unchanged with ``$HOMEPORT_DATABASE`` pointing at a fresh database, so the
server, the admin commands and the bulk host helper all use PostgreSQL.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, homeport_env, run_homeport
from tests.server.conftest import start_server, stop_server
from tests.server.httpget import get
from tests.server.test_admin import (
    test_restart_serves_what_was_acknowledged as test_pg_restart_serves_what_was_acknowledged,
)
from tests.server.test_admin import (
    test_running_server_sees_admin_changes_at_once as test_pg_server_sees_admin_changes_at_once,
)
from tests.server.test_admin import (
    test_zone_import_is_served_without_restart as test_pg_zone_import_is_served_without_restart,
)
from tests.server.test_durability import (
    test_acknowledged_updates_survive_kill_9 as test_pg_acknowledged_updates_survive_kill_9,
)
from tests.server.test_poison import (
    test_a_lan_zone_allows_private_addresses_and_keeps_the_setting as test_pg_lan_zone_setting,
)
from tests.server.test_poison import (
    test_a_poison_update_is_answered_and_the_server_lives as test_pg_poison_update,
)
from tests.server.test_poison import (
    test_utf8_and_escapes_in_txt_are_served_exactly as test_pg_txt_served_exactly,
)

__all__ = [
    "test_pg_acknowledged_updates_survive_kill_9",
    "test_pg_lan_zone_setting",
    "test_pg_poison_update",
    "test_pg_restart_serves_what_was_acknowledged",
    "test_pg_server_sees_admin_changes_at_once",
    "test_pg_txt_served_exactly",
    "test_pg_zone_import_is_served_without_restart",
]

SECRET = "s3cret-Pa55word"  # a test password that must never be printed


@pytest.fixture(autouse=True)
def on_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HOMEPORT_DATABASE", pg_url)
    return pg_url


def test_database_option_serves_updates_and_dns(
    on_postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--database on the command line (no environment): update over HTTP, answer over DNS."""
    monkeypatch.delenv("HOMEPORT_DATABASE")
    data = tmp_path / "data"
    db = ["--data", str(data), "--database", on_postgres]
    result = run_homeport("server", "zone", "add", "dyn.example.net", *db)
    assert result.returncode == 0, result.stderr
    srv = start_server(data, "--limits", "off", "--database", on_postgres)
    try:
        assert '"database": "postgresql://postgres@/' in srv.output[-1]
        added = srv.admin("host", "add", "pg.dyn.example.net", "--json", "--database", on_postgres)
        assert added.returncode == 0, added.stderr
        secret = added.stdout.split('"secret": "')[1].split('"')[0]
        status, body, _ = get(
            srv.http,
            "/nic/update?hostname=pg.dyn.example.net&myip=192.0.2.99",
            auth=("pg.dyn.example.net", secret),
        )
        assert (status, body) == (200, "good 192.0.2.99\n")
        assert srv.dig("pg.dyn.example.net") == ["192.0.2.99"]
        listed = srv.admin("host", "list", "--json", "--database", on_postgres)
        assert '"ipv4": "192.0.2.99"' in listed.stdout
    finally:
        stop_server(srv)
    # The NOTIFY listener ran under the server's event loop (uvloop) without falling back.
    assert "polling instead" not in "".join(srv.output)
    # Nothing went to SQLite: the data directory holds no database.
    assert not (data / "homeport.sqlite3").exists()


def test_database_from_the_config_file(on_postgres: str, tmp_path: Path) -> None:
    config = tmp_path / "server.toml"
    config.write_text(f'[server]\ndatabase = "{on_postgres}"\n')
    assert run_homeport("server", "zone", "add", "cfg.example").returncode == 0
    srv = start_server(tmp_path / "data", "--config", str(config))
    try:
        assert srv.dig("cfg.example", "SOA")[0].startswith("ns1.cfg.example.")
    finally:
        stop_server(srv)


def _with_password(url: str) -> str:
    # Same cluster, with a password in the URL (trust auth ignores it).
    return url.replace("postgresql://postgres@", f"postgresql://postgres:{SECRET}@")


def test_a_password_in_the_url_is_never_printed(on_postgres: str, tmp_path: Path) -> None:
    url = _with_password(on_postgres)
    data = tmp_path / "data"
    assert run_homeport("server", "zone", "add", "pw.example", "--database", url).returncode == 0
    srv = start_server(data, "--database", url)
    try:
        assert "postgresql://postgres:***@/" in srv.output[-1]
    finally:
        stop_server(srv)
    assert SECRET not in "".join(srv.output)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        # Loopback port 1: nothing listens, the connection is refused at once.
        (f"postgresql://homeport:{SECRET}@127.0.0.1:1/homeport", 73),
        (f"postgresql://homeport@127.0.0.1:1/homeport?password={SECRET}", 73),
        (f"mysql://homeport:{SECRET}@127.0.0.1/homeport", 78),
    ],
)
def test_unusable_database_is_one_line_without_secret(url: str, code: int, tmp_path: Path) -> None:
    for args in (
        ("server", "zone", "list", "--database", url),
        ("server", "run", "--data", str(tmp_path), "--http", "127.0.0.1:0", "--dns", "127.0.0.1:0"),
    ):
        result = subprocess.run(
            [*HOMEPORT, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=homeport_env({"HOMEPORT_DATABASE": url}),
        )
        assert result.returncode == code, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert SECRET not in result.stderr + result.stdout
        assert "***" in result.stderr
