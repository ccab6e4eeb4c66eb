#!/usr/bin/env python3
"""Durable updates/s and DNS queries/s with 1 and with 3 server instances on one PostgreSQL.

A throwaway PostgreSQL cluster (tests/server/pg.py: unix socket, default fsync and
synchronous_commit), HOSTS hosts, then for each instance count (1, then 3, same run):
``homeport server run`` processes with data directories of their own behind
Debian's haproxy (round-robin, as tests/server/test_pg_multi.py), driven by wrk
with bench/update_rate.py's script (every request changes one host's address, so
every ``good`` was committed before it was answered). The instances' own /metrics
count the ``good`` answers. CPU seconds of the PostgreSQL processes, of the
homeport processes, and of haproxy + wrk are read from /proc before and after, so
the cost of one update is split between PostgreSQL and Python. Then dnsperf runs
against every instance at once (one dnsperf per instance, same seconds) and the
queries/s are summed. Finally an estimate for 10 instances on machines of their own.

    .venv/bin/python bench/multi_instance.py [--seconds 10] [--connections 64] [--hosts 1000]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server  # noqa: E402
from tests.server.multi import haproxy  # noqa: E402
from tests.server.pg import pg_cluster, psql  # noqa: E402
from tests.server.pg import url as pg_url  # noqa: E402
from update_rate import LUA  # noqa: E402

ZONE = "dyn.example.net"
TICKS = os.sysconf("SC_CLK_TCK")
# dnsperf load per instance (as bench/dns_qps.py: 4 sockets, 200 outstanding).
DNSPERF_LOAD = ("-c", "4", "-q", "200", "-t", "2")
# Cores a PostgreSQL server of its own would have in the estimate (a modest machine).
PG_CORES_ESTIMATE = 8
# The scale the issue asks to estimate.
ESTIMATE_INSTANCES = 10


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime (and reaped children's) of ``pids`` that still exist."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])
    return total / TICKS


def children_of(root: int) -> list[int]:
    """``root`` and every live process below it."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                parent[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
    found = [root]
    for pid in found:
        found.extend(p for p, pp in parent.items() if pp == pid)
    return found


def metric(srv: ServerProc, name: str) -> float:
    out = subprocess.run(
        ["curl", "-s", f"{srv.url}/metrics"], capture_output=True, text=True, check=True
    ).stdout
    found = re.search(name + r" ([\d.e+]+)", out)
    return float(found.group(1)) if found else 0.0


GOOD = r'homeport_updates_total\{api="dyndns2",result="good"\}'


@dataclass(frozen=True)
class Run:
    instances: int
    updates_per_s: float
    requests_per_s: float
    p99: str
    pg_cpu_per_update_ms: float
    py_cpu_per_update_ms: float
    other_cpu_per_update_ms: float
    dns_qps: float
    dns_qps_each: list[float]


@contextlib.contextmanager
def instances(tmp: Path, url: str, count: int) -> Iterator[list[ServerProc]]:
    servers: list[ServerProc] = []
    try:
        for n in range(count):
            servers.append(
                start_server(
                    tmp / f"data{count}-{n}",
                    "--limits",
                    "off",
                    "--database",
                    url,
                    "--log-level",
                    "warning",
                )
            )
        yield servers
    finally:
        for srv in servers:
            stop_server(srv)


def dnsperf_all(servers: list[ServerProc], queries: Path, seconds: int) -> list[float]:
    procs = [
        subprocess.Popen(
            [
                *("dnsperf", "-s", srv.dns[0], "-p", str(srv.dns[1]), "-d", str(queries)),
                *("-l", str(seconds)),
                *DNSPERF_LOAD,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for srv in servers
    ]
    rates = []
    for proc in procs:
        out, _ = proc.communicate(timeout=seconds + 60)
        found = re.search(r"Queries per second:\s+([\d.]+)", out)
        rates.append(float(found.group(1)) if found else 0.0)
    return rates


def measure(
    args: argparse.Namespace, tmp: Path, url: str, postmaster: int, count: int, script: Path
) -> Run:
    with instances(tmp, url, count) as servers, haproxy(tmp, [s.http for s in servers]) as front:
        pg_pids = children_of(postmaster)
        py_pids = [p for s in servers for p in children_of(s.proc.pid)]
        goods0 = sum(metric(s, GOOD) for s in servers)
        pg0, py0 = cpu_seconds(pg_pids), cpu_seconds(py_pids)
        wall0 = time.monotonic()
        wrk = subprocess.Popen(
            [
                *("wrk", "-t1", f"-c{args.connections}", f"-d{args.seconds}s"),
                *("-s", str(script), "--latency", f"http://{front[0]}:{front[1]}/"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        out, _ = wrk.communicate()
        wall = time.monotonic() - wall0
        pg1, py1 = cpu_seconds(children_of(postmaster)), cpu_seconds(py_pids)
        goods = sum(metric(s, GOOD) for s in servers) - goods0
        requests = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p99 = re.search(r"99%\s+(\S+)", out)
        queries = tmp / "queries.txt"
        queries.write_text("".join(f"h{i}.{ZONE} A\n" for i in range(args.hosts)))
        qps = dnsperf_all(servers, queries, args.dns_seconds)
    return Run(
        instances=count,
        updates_per_s=goods / args.seconds,
        requests_per_s=requests,
        p99=p99.group(1) if p99 else "?",
        pg_cpu_per_update_ms=(pg1 - pg0) / goods * 1000,
        py_cpu_per_update_ms=(py1 - py0) / goods * 1000,
        other_cpu_per_update_ms=max(0.0, 2 * wall - (pg1 - pg0) - (py1 - py0)) / goods * 1000,
        dns_qps=sum(qps),
        dns_qps_each=qps,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--dns-seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--hosts", type=int, default=1000)
    args = parser.parse_args()
    os.environ.pop("HOMEPORT_DATABASE", None)
    runs: list[Run] = []
    with pg_cluster() as socket_dir, tempfile.TemporaryDirectory(prefix="hp-multi-") as tmpdir:
        tmp = Path(tmpdir)
        postmaster = int((socket_dir / "data" / "postmaster.pid").read_text().split()[0])
        for count in (1, 3):
            db = f"homeport_bench_{count}"
            psql(socket_dir, f"CREATE DATABASE {db}")
            url = pg_url(socket_dir, db)
            data = tmp / f"admin{count}"
            subprocess.run(
                [sys.executable, "-m", "homeport", "server", "zone", "add", ZONE,
                 "--allow-private", "--data", str(data), "--database", url],
                check=True,
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
            )  # fmt: skip
            secrets = add_hosts(data, [f"h{i}.{ZONE}" for i in range(args.hosts)], url)
            entries = ",".join(
                '{{"{}","Basic {}"}}'.format(n, base64.b64encode(f"{n}:{s}".encode()).decode())
                for n, s in secrets.items()
            )
            script = tmp / f"update{count}.lua"
            script.write_text(LUA % entries)
            run = measure(args, tmp, url, postmaster, count, script)
            runs.append(run)
            print(run, flush=True)
    report(args, runs)


def report(args: argparse.Namespace, runs: list[Run]) -> None:
    one, three = runs
    print()
    print(
        f"wrk {args.connections} connections x {args.seconds} s through haproxy,"
        f" {args.hosts} hosts;"
        f" dnsperf {' '.join(DNSPERF_LOAD)} x {args.dns_seconds} s per instance, all at once"
    )
    print("| | 1 instance | 3 instances | 3 / 1 |")
    print("|---|---:|---:|---:|")
    rows = [
        ("durable updates/s (`good`, /metrics)", "updates_per_s", "{:,.0f}"),
        ("wrk requests/s", "requests_per_s", "{:,.0f}"),
        ("PostgreSQL CPU ms per update", "pg_cpu_per_update_ms", "{:.3f}"),
        ("homeport (Python) CPU ms per update", "py_cpu_per_update_ms", "{:.3f}"),
        ("rest of the 2 cores (haproxy, wrk, idle) ms per update", "other_cpu_per_update_ms",
         "{:.3f}"),
        ("DNS queries/s summed over the instances", "dns_qps", "{:,.0f}"),
    ]  # fmt: skip
    for label, attr, fmt in rows:
        a, b = getattr(one, attr), getattr(three, attr)
        print(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {b / a if a else 0:.2f} |")
    print(f"| wrk p99 | {one.p99} | {three.p99} | |")
    print(f"DNS per instance with 3: {', '.join(f'{q:,.0f}' for q in three.dns_qps_each)}")
    # The estimate. Each update costs CPU where it is handled (a) and, through the feed,
    # at every instance (b per instance: reading the others' updates back). Two measured
    # points (1 and 3 instances) fit cost(N) = a + b*N, for Python and for PostgreSQL;
    # each instance is one event loop (one core of its machine).
    py1, py3 = one.py_cpu_per_update_ms / 1000, three.py_cpu_per_update_ms / 1000
    pg1, pg3 = one.pg_cpu_per_update_ms / 1000, three.pg_cpu_per_update_ms / 1000
    py_b, pg_b = max(0.0, (py3 - py1) / 2), max(0.0, (pg3 - pg1) / 2)
    py_a, pg_a = py1 - py_b, pg1 - pg_b
    n = ESTIMATE_INSTANCES
    py_n, pg_n = py_a + py_b * n, pg_a + pg_b * n
    python_bound = n / py_n if py_n > 0 else 0.0
    pg_bound = PG_CORES_ESTIMATE / pg_n if pg_n > 0 else 0.0
    print()
    print(
        f"model: Python {py_a * 1000:.3f} ms per update + {py_b * 1000:.3f} ms per instance;"
        f" PostgreSQL {pg_a * 1000:.3f} ms + {pg_b * 1000:.3f} ms per instance"
    )
    print(
        f"estimate, {n} instances on machines of their own: Python-bound at"
        f" {python_bound:,.0f} updates/s ({py_n * 1000:.3f} CPU ms per update over {n} cores);"
        f" PostgreSQL needs {pg_n * 1000:.3f} CPU ms per update, so {PG_CORES_ESTIMATE} cores"
        f" saturate at {pg_bound:,.0f} updates/s (1 core: {pg_bound / PG_CORES_ESTIMATE:,.0f})"
    )


if __name__ == "__main__":
    main()
