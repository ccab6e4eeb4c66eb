"""A real ``homeport server run`` subprocess on ephemeral loopback ports, per test."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers import HOMEPORT, homeport_env, run_homeport

# PostgreSQL's fixtures, defined here once for every module below: a module that imports
# a session fixture itself gets its own instance, so each such module ran initdb and
# started one more cluster (one per module, all alive until the session ended).
from tests.server.pg import pg_socket, pg_url  # noqa: F401

READY_TIMEOUT = 30


@dataclass
class ServerProc:
    data: Path
    proc: subprocess.Popen[str]
    http: tuple[str, int]
    dns: tuple[str, int]
    output: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.http[0]}:{self.http[1]}"

    def admin(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_homeport("server", *args, "--data", str(self.data), input=input)

    def admin_json(self, *args: str, input: str | None = None) -> object:
        result = self.admin(*args, "--json", input=input)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def add_host(self, fqdn: str, *extra: str) -> str:
        value = self.admin_json("host", "add", fqdn, *extra)
        assert isinstance(value, dict)
        return str(value["secret"])

    def dig(self, name: str, rdtype: str = "A", *extra: str) -> list[str]:
        result = subprocess.run(
            [
                "dig",
                f"@{self.dns[0]}",
                "-p",
                str(self.dns[1]),
                name,
                rdtype,
                "+short",
                "+norec",
                "+time=2",
                "+tries=2",
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        return sorted(line for line in result.stdout.splitlines() if line)


def start_server(data: Path, *args: str, dns: str = "127.0.0.1:0") -> ServerProc:
    """``homeport server run`` on loopback; ``dns``: a fixed port where a peer needs one."""
    proc = subprocess.Popen(
        [
            *HOMEPORT,
            "server",
            "run",
            "--data",
            str(data),
            "--http",
            "127.0.0.1:0",
            "--dns",
            dns,
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=homeport_env(),
        start_new_session=True,
    )
    output: list[str] = []
    ready: dict[str, object] = {}
    done = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if line.startswith("ready ") and not ready:
                ready.update(json.loads(line[6:]))
                done.set()
        done.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    if not done.wait(READY_TIMEOUT) or not ready:
        _stop(proc, thread)
        raise AssertionError("server did not start:\n" + "".join(output))
    http = str(ready["http"][0]).rsplit(":", 1)  # type: ignore[index]
    dns = str(ready["dns"][0]).rsplit(":", 1)  # type: ignore[index]
    return ServerProc(data, proc, (http[0], int(http[1])), (dns[0], int(dns[1])), output, thread)


def stop_server(srv: ServerProc, sig: int = signal.SIGTERM) -> None:
    _stop(srv.proc, srv.pump, sig)


def _stop(
    proc: subprocess.Popen[str], pump: threading.Thread | None, sig: int = signal.SIGTERM
) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if pump is not None:
        pump.join(10)
    if proc.stdout is not None:
        proc.stdout.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProc]:
    """A server with limits off and the zone dyn.example.net (NS ns1 with glue)."""
    result = run_homeport(
        "server",
        "zone",
        "add",
        "dyn.example.net",
        "--ns",
        "ns1.dyn.example.net=192.0.2.53",
        "--data",
        str(data_dir),
    )
    assert result.returncode == 0, result.stderr
    srv = start_server(data_dir, "--limits", "off")
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def limited_server(data_dir: Path) -> Iterator[ServerProc]:
    """The same with the default throttles on."""
    result = run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    srv = start_server(data_dir)
    try:
        yield srv
    finally:
        stop_server(srv)


def add_hosts(data: Path, names: list[str], database: str | None = None) -> dict[str, str]:
    """Add many hosts at once through the store (the CLI costs a process per host).

    ``database`` (default: ``$HOMEPORT_DATABASE``, as the CLI would) or SQLite in ``data``.
    """
    import asyncio
    import time

    from homeport.server import auth
    from homeport.server.store import AuditEntry, HostRow, Store

    secrets = {name: auth.new_secret() for name in names}

    async def work() -> None:
        url = database or os.environ.get("HOMEPORT_DATABASE") or None
        store = await Store.open(data, announce=True, database=url)
        try:
            zones = [z.origin for z in await store.zones()]
            for name, secret in secrets.items():
                fqdn = name.rstrip(".") + "."
                zone = max((z for z in zones if fqdn.endswith("." + z)), key=len)
                await store.add_host(
                    HostRow(fqdn, zone, None, auth.sha256_hex(secret), created=time.time()),
                    AuditEntry("test", "host add", fqdn, ""),
                )
        finally:
            await store.close()

    asyncio.run(work())
    return secrets
