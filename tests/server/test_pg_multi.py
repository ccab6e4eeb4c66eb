"""Three ``homeport server run`` instances on one PostgreSQL database.

The instances run as real processes, each with a data directory of its own, behind
Debian's haproxy; the checks are eventual (generous deadlines), never timed: the
measured delays are printed for the record.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import statistics
import subprocess
import time
from pathlib import Path

import aiohttp

from tests.server.challenge_helpers import http, txt
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.httpget import get
from tests.server.multi import SerialWatch, a_record, haproxy, served_everywhere, wait_until
from tests.server.pg import psql

ZONE = "dyn.example.net"
HOSTS = 48
UPDATES_PER_HOST = 12
# Generous: an instance serves another's update within a NOTIFY (or one feed poll).
CONVERGE_DEADLINE = 30.0
# [limits] failed_auth_burst default (per source, and per name).
FAILED_AUTH_BURST = 10
# A client whose request failed (its instance was killed) tries again, as ddclient would.
CLIENT_RETRIES = 20


def _instances(tmp_path: Path, url: str, count: int) -> list[ServerProc]:
    return [
        start_server(tmp_path / f"data{n}", "--limits", "off", "--database", url)
        for n in range(count)
    ]


def _address(host: int, step: int) -> str:
    # Distinct per step, so every acknowledged answer is a `good` that changed the host.
    return f"198.51.{100 + step % 2}.{(host * UPDATES_PER_HOST + step) % 254 + 1}"


async def _burst(
    front: tuple[str, int],
    secrets: dict[str, str],
    acked: dict[str, str],
    kill_at: int,
    kill: object,
) -> tuple[int, int]:
    """Every host's updates in order through haproxy; returns (acknowledged, retried)."""
    count = 0
    retried = 0
    killed = False
    names = sorted(secrets)

    async def client(session: aiohttp.ClientSession, index: int, name: str) -> None:
        nonlocal count, retried, killed
        auth = base64.b64encode(f"{name}:{secrets[name]}".encode()).decode()
        for step in range(UPDATES_PER_HOST):
            address = _address(index, step)
            for _ in range(CLIENT_RETRIES):
                try:
                    async with session.get(
                        f"http://{front[0]}:{front[1]}/nic/update",
                        params={"hostname": name.rstrip("."), "myip": address},
                        headers={"Authorization": f"Basic {auth}", "User-Agent": "test - 1"},
                    ) as response:
                        body = await response.text()
                except aiohttp.ClientError:
                    body, status = "", 0
                else:
                    status = response.status
                if status == 200 and body.split() in (["good", address], ["nochg", address]):
                    acked[name] = address
                    count += 1
                    if count >= kill_at and not killed:
                        killed = True
                        assert callable(kill)
                        kill()
                    break
                retried += 1
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{name}: {address} never acknowledged")

    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(client(session, i, n) for i, n in enumerate(names)))
    return count, retried


def test_three_instances_behind_haproxy_survive_a_kill_9(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """A burst over three instances, one killed mid-burst: nothing acknowledged is lost.

    Every acknowledged update is answered by the survivors' DNS, and by the killed
    instance once it is back; no instance's SOA serial ever goes backwards.
    """
    data = tmp_path / "data0"
    result = start_admin(data, pg_url)
    assert result == 0
    secrets = {
        f"{name}.": secret
        for name, secret in add_hosts(
            data, [f"h{n}.{ZONE}" for n in range(HOSTS)], database=pg_url
        ).items()
    }
    servers = _instances(tmp_path, pg_url, 3)
    watch = SerialWatch(ZONE + ".", {f"i{n}": s.dns for n, s in enumerate(servers)})
    try:
        watch.start()
        victim = servers[2]
        acked: dict[str, str] = {}
        with haproxy(tmp_path, [s.http for s in servers]) as front:

            def kill() -> None:
                os.killpg(victim.proc.pid, signal.SIGKILL)

            started = time.monotonic()
            count, retried = asyncio.run(
                _burst(front, secrets, acked, HOSTS * UPDATES_PER_HOST // 3, kill)
            )
            took = time.monotonic() - started
        assert victim.proc.wait(10) == -signal.SIGKILL
        assert count == HOSTS * UPDATES_PER_HOST
        assert len(acked) == HOSTS
        survivors = servers[:2]
        converged = wait_until(served_everywhere(survivors, acked), CONVERGE_DEADLINE)
        assert converged is not None, "the survivors do not answer every acknowledged update"
        stop_server(victim)
        restarted = start_server(victim.data, "--limits", "off", "--database", pg_url)
        servers[2] = restarted
        watch.targets["i2"] = restarted.dns
        # Served at once after the restart: it loaded the store before reporting ready.
        assert served_everywhere([restarted], acked)()
        # Each instance served many serials, and every one moved forward.
        watch.stop()
        assert not watch.backwards, watch.backwards
        assert all(len(watch.seen.get(f"i{n}", [])) > 2 for n in range(3)), watch.seen
        print(
            f"\nburst: {count} acknowledged updates over 3 instances in {took:.2f} s"
            f" ({retried} retried after the kill); survivors converged"
            f" {converged:.3f} s after the burst; serials seen per instance:"
            f" {[len(watch.seen[f'i{n}']) for n in range(3)]}"
        )
        _ack_to_everywhere(servers, secrets)
    finally:
        watch.stop()
        for srv in servers:
            stop_server(srv)


def _ack_to_everywhere(servers: list[ServerProc], secrets: dict[str, str]) -> None:
    """Acknowledged by one instance -> answered by every instance: the delay, measured."""
    delays: list[float] = []
    names = sorted(secrets)[:12]
    for n, name in enumerate(names):
        via = servers[n % len(servers)]
        address = f"203.0.113.{n + 1}"
        status, body, _ = get(
            via.http,
            f"/nic/update?hostname={name.rstrip('.')}&myip={address}",
            auth=(name.rstrip("."), secrets[name]),
        )
        assert (status, body) == (200, f"good {address}\n")
        delay = wait_until(
            lambda name=name, address=address: all(
                a_record(s.dns, name) == address for s in servers
            ),
            CONVERGE_DEADLINE,
        )
        assert delay is not None, f"{name} {address} not answered by every instance"
        delays.append(delay)
    print(
        f"ack -> answered by all 3 instances: median {statistics.median(delays) * 1000:.1f} ms,"
        f" max {max(delays) * 1000:.1f} ms over {len(delays)} updates"
    )


def start_admin(data: Path, url: str) -> int:
    from tests.helpers import run_homeport

    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data), "--database", url)
    assert result.returncode == 0, result.stderr
    return result.returncode


def test_an_instance_listens_again_after_its_listener_is_killed(
    pg_socket: Path,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """pg_terminate_backend on the LISTEN connection: it is opened again, and updates flow."""
    start_admin(tmp_path / "data0", pg_url)
    name = f"l.{ZONE}"
    secret = add_hosts(tmp_path / "data0", [name], database=pg_url)[name]
    dbname = pg_url.split("/")[3].split("?")[0]
    servers = _instances(tmp_path, pg_url, 2)
    listeners = (
        f"SELECT pid FROM pg_stat_activity WHERE datname = '{dbname}'"  # noqa: S608 - ours
        " AND application_name = 'homeport-listen'"
    )
    try:
        before = set(psql(pg_socket, listeners).split())
        assert len(before) == 2, before
        psql(pg_socket, f"SELECT pg_terminate_backend(pid) FROM ({listeners}) AS l")  # noqa: S608
        # Both instances listen again, on new sessions.
        assert wait_until(
            lambda: len(set(psql(pg_socket, listeners).split()) - before) == 2, CONVERGE_DEADLINE
        ), psql(pg_socket, listeners)
        for n, (via, other) in enumerate([(servers[0], servers[1]), (servers[1], servers[0])]):
            address = f"192.0.2.{n + 20}"
            status, body, _ = get(
                via.http, f"/nic/update?hostname={name}&myip={address}", auth=(name, secret)
            )
            assert (status, body) == (200, f"good {address}\n")
            delay = wait_until(
                lambda o=other, a=address: a_record(o.dns, name + ".") == a, CONVERGE_DEADLINE
            )
            assert delay is not None
            print(
                f"\nafter re-LISTEN: update served by the other instance in {delay * 1000:.0f} ms"
            )
    finally:
        for srv in servers:
            stop_server(srv)


def test_a_challenge_written_through_one_instance_is_served_by_the_other(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """ACME DNS-01 behind a load balancer: the CA may ask any instance's DNS, so a value
    presented through one instance (and its cleanup through another) reaches them all."""
    start_admin(tmp_path / "data0", pg_url)
    name = f"c.{ZONE}"
    secret = add_hosts(tmp_path / "data0", [name], database=pg_url)[name]
    challenge = f"_acme-challenge.{name}"
    servers = _instances(tmp_path, pg_url, 2)
    try:
        a, b = servers
        for value in ("token-for-base", "token-for-wildcard"):
            status, _ = http(
                a, "POST", "/present", {"fqdn": challenge + ".", "value": value},
                auth=(name, secret),
            )  # fmt: skip
            assert status == 200
        both = ["token-for-base", "token-for-wildcard"]
        assert txt(a, challenge) == both  # answered only once served here
        assert wait_until(lambda: txt(b, challenge) == both, CONVERGE_DEADLINE), txt(b, challenge)
        # The cleanup goes to the other instance (the balancer's choice): one value goes.
        status, _ = http(
            b, "POST", "/cleanup", {"fqdn": challenge + ".", "value": "token-for-base"},
            auth=(name, secret),
        )  # fmt: skip
        assert status == 200
        assert txt(b, challenge) == ["token-for-wildcard"]
        assert wait_until(lambda: txt(a, challenge) == ["token-for-wildcard"], CONVERGE_DEADLINE), (
            txt(a, challenge)
        )
    finally:
        for srv in servers:
            stop_server(srv)


def test_an_update_decided_from_a_stale_host_is_decided_again(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """Instance A last saw 192.0.2.1; B then stored .2; A is asked for .1 again.

    In-process, with A deaf to the feed (no NOTIFY, no poll), so A's memory is surely
    stale: A must store .1 (a change, served by A) rather than answer nochg while the
    database keeps .2.
    """
    asyncio.run(_stale(tmp_path, pg_url))


async def _stale(tmp_path: Path, url: str) -> None:
    from ipaddress import IPv4Address

    from homeport.core.zone import Catalog
    from homeport.server import auth
    from homeport.server.admin import add_zone as _add_zone
    from homeport.server.service import DdnsService, UpdateIntent
    from homeport.server.store import AuditEntry, HostRow, Store

    name = f"s.{ZONE}."
    admin = await Store.open(tmp_path, announce=True, database=url)
    await _add_zone(admin, ZONE + ".", [], 60)
    row = HostRow(name, ZONE + ".", None, auth.sha256_hex("x"), created=time.time())
    await admin.add_host(row, AuditEntry("test", "host add", name, ""))
    await admin.close()
    services = []
    for _ in range(2):
        store = await Store.open(tmp_path, database=url)
        await store.claim_server()
        services.append(DdnsService(store, Catalog()))
    a, b = services

    async def deaf() -> None:
        return None

    try:
        for svc in services:
            await svc.start()
        a._watch = deaf  # type: ignore[method-assign]

        def intent(address: str) -> UpdateIntent:
            return UpdateIntent(fqdn=name, actor="t", source="t", ipv4=IPv4Address(address))

        assert (await a.update(intent("192.0.2.1"))).changed
        assert (await b.update(intent("192.0.2.2"))).changed
        outcome = await a.update(intent("192.0.2.1"))
        assert outcome.changed
        assert outcome.host is not None
        assert outcome.host.ipv4 == "192.0.2.1"
        stored = await a.store.host(name)
        assert stored is not None
        assert stored.ipv4 == "192.0.2.1"
        # A serves what it stored, under the serial the database gave that commit.
        zone = await a.store.zone(ZONE + ".")
        assert a.catalog.serial(ZONE + ".") == zone.soa.serial
    finally:
        for svc in services:
            await svc.stop()
            await svc.store.close()


def _peer_failures(srv: ServerProc) -> float:
    _, body, _ = get(srv.http, "/metrics")
    found = re.search(r"^homeport_auth_failures_from_peers (\S+)$", body, re.M)
    return float(found.group(1)) if found else -1.0


def test_failed_logins_are_shared_by_the_instances(
    pg_url: str,
    tmp_path: Path,
) -> None:
    """A guesser who spent its budget on one instance has none left on the other.

    Without sharing, instance B would verify (and answer `badauth` to) another ten
    guesses of its own from the same source.
    """
    start_admin(tmp_path / "data0", pg_url)
    name = f"g.{ZONE}"
    secret = add_hosts(tmp_path / "data0", [name], database=pg_url)[name]
    a, b = (
        start_server(tmp_path / f"data{n}", "--database", pg_url) for n in range(2)
    )  # limits on (the defaults)
    try:
        path = f"/nic/update?hostname={name}&myip=192.0.2.1"
        answers = [get(a.http, path, auth=(name, f"wrong{i}"))[1] for i in range(FAILED_AUTH_BURST)]
        assert answers == ["badauth\n"] * FAILED_AUTH_BURST
        assert get(a.http, path, auth=(name, "wrong"))[1] == "abuse\n"
        assert wait_until(lambda: _peer_failures(b) >= FAILED_AUTH_BURST, CONVERGE_DEADLINE)
        assert get(b.http, path, auth=(name, "wrong-on-b"))[1] == "abuse\n"
        # The right secret is never refused because of others' failures.
        assert get(b.http, path, auth=(name, secret))[:2] == (200, "good 192.0.2.1\n")
        # Only budget keys travel: no secret, right or wrong, is in the table.
        stored = psql_rows(pg_url, "SELECT name, source FROM auth_failures")
        assert "wrong" not in stored
        assert secret not in stored
    finally:
        stop_server(a)
        stop_server(b)


def psql_rows(url: str, sql: str) -> str:
    """``sql``'s rows as text, through psql on the test database's URL."""
    from tests.server.pg import pg_bin

    return subprocess.run(
        [str(pg_bin() / "psql"), "-X", "-q", "-A", "-t", "-d", url, "-c", sql],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
