#!/usr/bin/env python3
"""Durable dyndns2 updates per second from concurrent clients (limits off).

Starts ``homeport server run`` on loopback with a fresh data directory holding
HOSTS hosts, then drives it with wrk (Debian's ``wrk``) through a generated Lua
script: every request changes one host's address (so every answer is a `good`
that was committed with synchronous=FULL before it was sent), rotating over the
hosts. The server's own /metrics count confirms how many updates were `good`.

``--postgres`` measures again, in the same run, with the store in a throwaway
PostgreSQL cluster (tests/server/pg.py: unix socket, default fsync and
synchronous_commit); ``--database URL`` measures one given database instead.

    .venv/bin/python bench/update_rate.py [--seconds 10] [--connections 64] [--hosts 1000]
                                          [--postgres | --database URL]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.server.conftest import add_hosts  # noqa: E402
from tests.server.pg import pg_cluster, psql  # noqa: E402
from tests.server.pg import url as pg_url  # noqa: E402

TARGET = 2000.0  # updates/s the issue asks for on this 2-core machine

LUA = """
local hosts = {%s}
local n = #hosts
local counter = 0
request = function()
  counter = counter + 1
  local h = hosts[(counter %% n) + 1]
  local seq = math.floor(counter / n) + 1
  local ip = string.format("10.%%d.%%d.%%d", (seq / 65536) %% 256, (seq / 256) %% 256, seq %% 256)
  return wrk.format("GET", "/nic/update?hostname=" .. h[1] .. "&myip=" .. ip,
                    {["Authorization"] = h[2], ["User-Agent"] = "homeport-bench - wrk - 1"})
end
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--hosts", type=int, default=1000)
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--postgres", action="store_true", help="also a throwaway PostgreSQL")
    which.add_argument("--database", help="measure this postgresql:// URL instead of SQLite")
    args = parser.parse_args()

    if not args.postgres:
        measure(args, args.database)
        return
    sqlite = measure(args, None)
    print()
    with pg_cluster() as socket_dir:
        psql(socket_dir, "CREATE DATABASE homeport_bench")
        postgres = measure(args, pg_url(socket_dir, "homeport_bench"))
    print()
    print(f"PostgreSQL / SQLite durable updates/s: {postgres / sqlite:.2f}")


def measure(args: argparse.Namespace, database: str | None) -> float:
    """Run one server on ``database`` (None: SQLite) under wrk; print and return good/s."""
    with tempfile.TemporaryDirectory(prefix="homeport-bench-") as tmp:
        data = Path(tmp) / "data"
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        env.pop("HOMEPORT_DATABASE", None)
        if database:
            env["HOMEPORT_DATABASE"] = database
        homeport = [sys.executable, "-m", "homeport"]
        data_args = ["--data", str(data)]
        subprocess.run(
            # The load publishes 10.x addresses: a zone that allows private ones.
            [*homeport, "server", "zone", "add", "dyn.example.net", "--allow-private", *data_args],
            check=True,
            env=env,
            capture_output=True,
        )
        names = [f"h{i}.dyn.example.net" for i in range(args.hosts)]
        secrets = add_hosts(data, names, database)
        proc = subprocess.Popen(
            [
                *homeport,
                "server",
                "run",
                "--data",
                str(data),
                "--http",
                "127.0.0.1:0",
                "--dns",
                "127.0.0.1:0",
                "--limits",
                "off",
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            ready = json.loads(line.removeprefix("ready "))
            http = ready["http"][0]
            entries = ",".join(
                '{{"{}","Basic {}"}}'.format(n, base64.b64encode(f"{n}:{s}".encode()).decode())
                for n, s in secrets.items()
            )
            script = Path(tmp) / "update.lua"
            script.write_text(LUA % entries)
            result = subprocess.run(
                [
                    "wrk",
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "-s",
                    str(script),
                    "--latency",
                    f"http://{http}/",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            metrics = subprocess.run(
                ["curl", "-s", f"http://{http}/metrics"], capture_output=True, text=True, check=True
            ).stdout
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    good = re.search(r'homeport_updates_total\{api="dyndns2",result="good"\} ([\d.e+]+)', metrics)
    other = re.findall(
        r'homeport_updates_total\{api="dyndns2",result="([^"]+)"\} ([\d.e+]+)', metrics
    )
    latency = re.search(r"99%\s+(\S+)", result.stdout)
    goods = float(good.group(1)) if good else 0.0
    store = "PostgreSQL" if database else "SQLite"
    print(
        f"{store} store; wrk: {args.connections} connections, {args.seconds} s, {args.hosts} hosts"
    )
    print(f"requests/s      {rate:10.0f}")
    print(f"good (durable)  {goods:10.0f}  ({goods / args.seconds:.0f}/s)")
    results = {k: float(v) for k, v in other}
    print(f"results         {results}")
    print(f"p99 latency     {latency.group(1) if latency else '?'}")
    verdict = "PASS" if rate >= TARGET else "SHORT"
    print(f"target          {TARGET:10.0f}/s -> {verdict} ({rate / TARGET:.2f}x)")
    return goods / args.seconds


if __name__ == "__main__":
    main()
