"""kill -9 during a burst of updates: every acknowledged `good` survives the restart."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import dns.message
import dns.query

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server

CLIENTS = 40
KILL_AFTER = 1.0  # seconds into the burst


def address(client: int, seq: int) -> str:
    return f"10.{client}.{seq // 256}.{seq % 256}"


async def burst(srv: ServerProc, secrets: dict[str, str], acked: dict[str, int]) -> None:
    async def client(index: int, host: str, secret: str) -> None:
        headers = {"Authorization": aiohttp.encode_basic_auth(host, secret)}
        seq = 0
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                seq += 1
                url = f"{srv.url}/nic/update?hostname={host}&myip={address(index, seq)}"
                try:
                    async with session.get(url) as response:
                        body = await response.text()
                except (aiohttp.ClientError, OSError):
                    return  # the server died
                if body.startswith("good"):
                    assert body.split()[1] == address(index, seq)
                    acked[host] = seq

    tasks = [
        asyncio.create_task(client(i, host, secret))
        for i, (host, secret) in enumerate(sorted(secrets.items()))
    ]
    await asyncio.sleep(KILL_AFTER)
    stop_server(srv, signal.SIGKILL)
    await asyncio.wait_for(asyncio.gather(*tasks), 30)


def served_seq(srv: ServerProc, host: str, index: int) -> int:
    response = dns.query.udp(
        dns.message.make_query(host, "A"), srv.dns[0], port=srv.dns[1], timeout=5
    )
    values = [str(rd) for rrset in response.answer for rd in rrset]
    assert len(values) == 1, (host, values)
    parts = [int(p) for p in values[0].split(".")]
    assert parts[1] == index
    return parts[2] * 256 + parts[3]


def test_acknowledged_updates_survive_kill_9(data_dir: Path) -> None:
    assert (
        # The burst publishes 10.<client>.<seq>: a zone that allows private addresses.
        run_homeport(
            "server", "zone", "add", "dyn.example.net", "--allow-private", "--data", str(data_dir)
        ).returncode
        == 0
    )
    hosts = [f"c{i}.dyn.example.net" for i in range(CLIENTS)]
    secrets = add_hosts(data_dir, hosts)
    srv = start_server(data_dir, "--limits", "off")
    acked: dict[str, int] = {}
    try:
        asyncio.run(burst(srv, secrets, acked))
    finally:
        stop_server(srv, signal.SIGKILL)
    assert sum(acked.values()) > CLIENTS * 5, "the burst was too small to mean anything"
    time.sleep(0.1)
    srv = start_server(data_dir, "--limits", "off")
    try:
        for index, host in enumerate(sorted(hosts)):
            if host in acked:
                assert served_seq(srv, host, index) >= acked[host], host
    finally:
        stop_server(srv)
