"""One running server per SQLite store: a second ``server run`` is refused.

Two servers on one SQLite file would each serve their own view: updates through one
never reach the other's DNS, and SOA serials split. Admin commands keep working
against the running server's store. On PostgreSQL several servers share one
database (tests/server/test_pg_multi.py has three behind haproxy).
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, homeport_env, run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.httpget import get

HOST = "one.dyn.example.net"
# A refused second server exits at once; one that starts (today's bug) runs until killed.
SECOND_SERVER_WAIT = 30
# Generous: an instance serves another's update after a NOTIFY (or the feed poll).
CONVERGE_DEADLINE = 20.0


def second_server(data: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``server run`` on the same store; fails the test if it starts serving."""
    listen = ("--http", "127.0.0.1:0", "--dns", "127.0.0.1:0")
    proc = subprocess.Popen(
        [*HOMEPORT, "server", "run", "--data", str(data), *listen, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=homeport_env(),
    )
    try:
        out, err = proc.communicate(timeout=SECOND_SERVER_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"a second server runs on the same store:\n{out}{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def check_refused_while_admin_works(srv: ServerProc, *db: str) -> None:
    second = second_server(srv.data, *db)
    assert second.returncode != 0
    assert "ready" not in second.stdout
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1, second.stderr
    assert "another homeport server" in lines[0]
    assert "PostgreSQL" in lines[0]  # says why, and what allows several
    assert "Traceback" not in second.stderr
    # The first server is untouched, and admin commands still work next to it.
    added = srv.admin("host", "add", HOST, "--json", *db)
    assert added.returncode == 0, added.stderr
    secret = added.stdout.split('"secret": "')[1].split('"')[0]
    status, body, _ = get(
        srv.http, f"/nic/update?hostname={HOST}&myip=192.0.2.7", auth=(HOST, secret)
    )
    assert (status, body) == (200, "good 192.0.2.7\n")
    assert srv.dig(HOST) == ["192.0.2.7"]


def test_second_server_on_one_sqlite_store_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    srv = start_server(data, "--limits", "off")
    try:
        check_refused_while_admin_works(srv)
        # The refusal names the running server's pid.
        assert f"pid {srv.proc.pid}" in second_server(data).stderr
    finally:
        stop_server(srv)
    # Once it stopped, the store is free again (and after a kill -9 too: the kernel
    # drops the lock with the process).
    srv = start_server(data, "--limits", "off")
    stop_server(srv, signal.SIGKILL)
    srv = start_server(data, "--limits", "off")
    try:
        assert srv.dig(HOST) == ["192.0.2.7"]
    finally:
        stop_server(srv)


def test_two_servers_on_one_postgres_database_serve_each_others_updates(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """PostgreSQL lifts the one-server rule: each instance serves every instance's updates."""
    db = ("--database", pg_url)
    data = tmp_path / "data"
    result = run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data), *db)
    assert result.returncode == 0, result.stderr
    first = start_server(data, "--limits", "off", *db)
    try:
        # Another data directory too: the database is what they share.
        second = start_server(tmp_path / "other", "--limits", "off", *db)
        try:
            added = first.admin("host", "add", HOST, "--json", *db)
            assert added.returncode == 0, added.stderr
            secret = added.stdout.split('"secret": "')[1].split('"')[0]
            # Each instance in turn sets an address the other one served last: it must
            # write it (good) and serve it, not answer nochg from a stale memory.
            turns = [(first, second, "192.0.2.10"), (second, first, "192.0.2.11")] * 2
            for via, other, address in turns:
                status, body, _ = get(
                    via.http, f"/nic/update?hostname={HOST}&myip={address}", auth=(HOST, secret)
                )
                assert (status, body) == (200, f"good {address}\n")
                assert via.dig(HOST) == [address]  # at once on the instance that acknowledged
                assert wait_for(lambda o=other, a=address: o.dig(HOST) == [a]), other.dig(HOST)
            status, body, _ = get(
                first.http, f"/nic/update?hostname={HOST}&myip=192.0.2.11", auth=(HOST, secret)
            )
            assert (status, body) == (200, "nochg 192.0.2.11\n")
            serials = {srv.dig("dyn.example.net", "SOA")[0].split()[2] for srv in (first, second)}
            assert len(serials) == 1, serials
        finally:
            stop_server(second)
    finally:
        stop_server(first)


def wait_for(check: Callable[[], bool], deadline: float = CONVERGE_DEADLINE) -> bool:
    """Poll ``check`` until it holds (True) or ``deadline`` seconds passed (False)."""
    end = time.monotonic() + deadline
    while True:
        if check():
            return True
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
