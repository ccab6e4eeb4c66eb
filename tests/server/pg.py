"""A throwaway PostgreSQL cluster for the tests: unix socket only, deleted afterwards.

``initdb`` and ``postgres`` refuse to run as root, so the cluster belongs to the
``postgres`` system user (Debian's ``postgresql`` package creates it) and lives
in a temp directory of its own. It listens on no TCP port at all: clients reach
it through the socket in that directory, so parallel runs never collide.
"""

from __future__ import annotations

import contextlib
import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_USER = "postgres"
PORT = 5432  # names the socket file only (no TCP listener)


def pg_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        pytest.fail("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return Path(found[-1]).parent


def _as_postgres(*args: str) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--", *args]
    return list(args)


@contextlib.contextmanager
def pg_cluster() -> Iterator[Path]:
    """Yield the socket directory of a running cluster; stop and delete it afterwards."""
    bindir = pg_bin()
    root = Path(tempfile.mkdtemp(prefix="homeport-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, PG_USER, PG_USER)
    started = False
    try:
        subprocess.run(
            _as_postgres(
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                PG_USER,
                "--auth=trust",
                "--no-sync",  # a test cluster: initdb's own fsyncs only cost time
                "--no-instructions",
            ),
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses='' -c unix_socket_directories={root} -p {PORT}"
        subprocess.run(
            _as_postgres(
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                options,
                "start",
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
        started = True
        yield root
    finally:
        if started:
            subprocess.run(
                _as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"),
                check=False,
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(root, ignore_errors=True)


def url(socket_dir: Path, dbname: str) -> str:
    return f"postgresql://{PG_USER}@/{dbname}?host={socket_dir}&port={PORT}"


def psql(socket_dir: Path, sql: str, dbname: str = "postgres") -> str:
    result = subprocess.run(
        [
            str(pg_bin() / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url(socket_dir, dbname),
            "-c",
            sql,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.stdout


@pytest.fixture(scope="session")
def pg_socket() -> Iterator[Path]:
    with pg_cluster() as socket_dir:
        yield socket_dir


@pytest.fixture
def pg_url(pg_socket: Path) -> Iterator[str]:
    """A fresh, empty database in the session's cluster; dropped after the test."""
    name = f"homeport_{secrets.token_hex(4)}"
    psql(pg_socket, f"CREATE DATABASE {name}")
    try:
        yield url(pg_socket, name)
    finally:
        psql(pg_socket, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
