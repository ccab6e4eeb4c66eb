#!/usr/bin/env python3
"""Dashboard page time: the host list of an account with 1,000 hosts (goal: < 200 ms).

A real `homeport server run` on loopback (SQLite, limits off); one account owning HOSTS
hosts, each with an address, a source and a client; a signed-in session. We GET
/dash/hosts ROUNDS times and read the server's own time per request from its access log
(aiohttp's, from the request's start to the response written), plus the page size and
the client's wall time. One host's page (50 history rows) is measured the same way.

Usage: .venv/bin/python bench/dashboard.py [--hosts N] [--rounds N] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import re
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.helpers import run_homeport  # noqa: E402
from tests.server.conftest import start_server, stop_server  # noqa: E402

from homeport.server import auth  # noqa: E402
from homeport.server.store import AuditEntry, HostRow, HostStats, Store  # noqa: E402

ZONE = "dyn.example.net"
PASSWORD = "bench password 1234"
SESSION_COOKIE = "__Host-homeport-session"
ACCESS = re.compile(r"GET (\S+) 200 ([0-9.]+)ms")


async def seed(data: Path, hosts: int, history: int) -> None:
    store = await Store.open(data, announce=True)
    try:
        now = time.time()
        for i in range(hosts):
            fqdn = f"host{i:04d}.{ZONE}."
            await store.add_host(
                HostRow(
                    fqdn,
                    ZONE + ".",
                    "alice",
                    auth.sha256_hex(auth.new_secret()),
                    ipv4=f"192.0.2.{i % 250 + 1}",
                    ipv6=f"2001:db8::{i:x}",
                    updated=now - i,
                    created=now - 86400,
                    last_source=f"198.51.100.{i % 250 + 1}",
                    last_agent="ddclient/3.10.0",
                ),
                AuditEntry("bench", "host add", fqdn, ""),
            )
        # Request counts (and the last request) per host, as the dashboard reads them.
        await store.add_host_stats(
            [
                HostStats(
                    f"host{i:04d}.{ZONE}.",
                    good=i % 7,
                    nochg=i * 3,
                    fault=i % 2,
                    last_seen=now - i,
                    last_source=f"198.51.100.{i % 250 + 1}",
                    last_agent="ddclient/3.10.0",
                )
                for i in range(hosts)
            ]
        )
        first = f"host0000.{ZONE}."
        for n in range(history):
            await store.commit_host_states(
                [],
                [
                    AuditEntry(
                        "bench",
                        "update",
                        first,
                        f"ipv4=192.0.2.{n % 250 + 1} ipv6=None offline=False",
                        "198.51.100.1",
                        now - 3600 * (history - n),
                    )
                ],
            )
    finally:
        await store.close()


def sign_in(host: str, port: int) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("GET", "/dash/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    body = urllib.parse.urlencode({"csrf": csrf, "name": "alice", "password": PASSWORD})
    conn.request(
        "POST",
        "/dash/login",
        body,
        {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
    )
    response = conn.getresponse()
    response.read()
    assert response.status == 303, response.status
    session = response.getheader("Set-Cookie", "").split(";", 1)[0]
    conn.close()
    return session


def measure(host: str, port: int, session: str, path: str, rounds: int) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    walls = []
    size = 0
    for _ in range(rounds):
        start = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": session})
        response = conn.getresponse()
        body = response.read()
        walls.append((time.perf_counter() - start) * 1000)
        assert response.status == 200, response.status
        size = len(body)
    conn.close()
    return walls, size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        for argv in (
            ("server", "zone", "add", ZONE, "--data", str(data)),
            ("server", "user", "add", "alice", "--password-stdin", "--data", str(data)),
        ):
            result = run_homeport(*argv, input=PASSWORD + "\n")
            assert result.returncode == 0, result.stderr
        asyncio.run(seed(data, args.hosts, 50))
        server = start_server(data, "--limits", "off")
        try:
            session = sign_in(*server.http)
            pages = {
                f"/dash/hosts ({args.hosts} hosts)": "/dash/hosts",
                "/dash/hosts/NAME (50 history rows)": f"/dash/hosts/host0000.{ZONE}",
            }
            rows = []
            for label, path in pages.items():
                before = len(server.output)
                walls, size = measure(*server.http, session, path, args.rounds)
                time.sleep(0.5)  # the access log line follows the response
                server_ms = [
                    float(m.group(2))
                    for line in server.output[before:]
                    if (m := ACCESS.search(line)) and m.group(1) == path
                ]
                # The first request warms Jinja2's template cache: reported apart.
                rows.append((label, server_ms, walls, size))
        finally:
            stop_server(server)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "",
        "## dashboard",
        "",
        f"`.venv/bin/python bench/dashboard.py --hosts {args.hosts} --rounds {args.rounds}`"
        f" ({stamp}; SQLite, uvloop, limits off, 2-core machine shared with other work)",
        "",
        "Server time per request from the server's access log (first request, which compiles",
        "the templates, shown apart); wall time as the client saw it on loopback.",
        "",
        "| page | first ms | median ms | p90 ms | max ms | client median ms | bytes |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, server_ms, walls, size in rows:
        rest = sorted(server_ms[1:])
        p90 = rest[int(0.9 * (len(rest) - 1))]
        lines.append(
            f"| {label} | {server_ms[0]:.0f} | {statistics.median(rest):.1f} | {p90:.1f}"
            f" | {rest[-1]:.1f} | {statistics.median(walls[1:]):.1f} | {size:,} |"
        )
    goal = statistics.median(sorted(rows[0][1][1:]))
    lines += ["", f"Goal: host list < 200 ms server time: {'PASS' if goal < 200 else 'FAIL'}."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
