#!/usr/bin/env python3
"""dnsperf against homeport's DNS and NSD (and Knot, and naive dnspython), same zone, same run.

Builds a deterministic 100,000-name zone file, serves it with NSD (1 server
process, RRL off), Knot (1 UDP worker), homeport (``start_dns(rrl=False)`` in its
own process, uvloop if installed) and a naive per-query dnspython loop, all on
127.0.0.1, then runs dnsperf against each in alternating rounds (NSD, homeport,
Knot, naive, NSD, homeport, ...). Queries: names from the zone plus 10% names
that do not exist (NXDOMAIN), type A, in three loads:

- replayed: dnsperf loops over a 200,000-query file, so most queries repeat byte
  for byte and homeport's packet cache answers them;
- unique: every query once (``-n 1`` over a file of ``--unique`` queries whose
  names have random 0x20 case, as resolvers send them), so the cache never hits;
- tcp: the replayed file over TCP (``-m tcp``), 4 connections with queries
  pipelined (RFC 7766 §6.2.1.1).

Prints the qps of each, homeport/NSD per load, and homeport's peak RSS with the
zone loaded (VmHWM); writes them into bench/RESULTS.md under "## dns_qps".

    /work/main/.venv/bin/python bench/dns_qps.py [--seconds 10] [--rounds 3] [--names 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]  # the peers' configs are the test suite's (tests/providers/dns_peers)

from tests.providers.dns_peers import nsd_command  # noqa: E402

ORIGIN = "bench.example."
SEED = 20201001
# Same for every server: 4 client sockets, up to 200 queries in flight, 2 s timeout,
# 4 MB socket buffers (servers that answer in batches overflow the default ones).
DNSPERF_LOAD = ("-c", "4", "-q", "200", "-t", "2", "-b", "4096")
# Alternation order within each round, per load; the query mix is the same on every run.
# The naive and cache-off servers only matter for the replayed load.
LOADS = {
    "replayed": ("nsd", "homeport", "knot", "nocache", "rrl", "cookie", "naive"),
    "unique": ("nsd", "homeport", "knot", "rrl"),
    "tcp": ("nsd", "homeport", "knot"),
}
SERVERS = LOADS["replayed"]
# "rrl" and "cookie" run homeport with RRL on at a rate no query reaches, to measure
# its bookkeeping; "cookie" sends every query with an RFC 7873 client cookie.
RRL_UNREACHED = "1e9"
CLIENT_COOKIE = "10:0123456789abcdef"


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)


def write_zone(path: Path, names: int) -> list[str]:
    lines = [
        f"$ORIGIN {ORIGIN}",
        "$TTL 60",
        "@ 3600 IN SOA ns1 hostmaster 1 3600 600 86400 60",
        "@ IN NS ns1",
        "ns1 IN A 127.0.0.1",
    ]
    hosts = []
    for i in range(names):
        host = f"host{i}"
        hosts.append(host)
        lines.append(f"{host} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        if i % 4 == 0:
            lines.append(f"{host} IN AAAA 2001:db8::{i >> 16:x}:{i & 0xFFFF:x}")
    path.write_text("\n".join(lines) + "\n")
    return hosts


def write_queries(path: Path, hosts: list[str], count: int = 200_000) -> None:
    rng = random.Random(SEED)
    out = []
    for i in range(count):
        if i % 10 == 9:  # 10% NXDOMAIN
            out.append(f"nx{rng.randrange(10**9)}.{ORIGIN} A")
        else:
            out.append(f"{rng.choice(hosts)}.{ORIGIN} A")
    path.write_text("\n".join(out) + "\n")


def write_unique_queries(path: Path, hosts: list[str], count: int) -> None:
    """``count`` queries no two of which are the same bytes: 0x20 random case."""
    rng = random.Random(SEED + 1)
    seen: set[str] = set()
    out = []
    while len(out) < count:
        if len(out) % 10 == 9:
            name = f"nx{rng.randrange(10**12)}.{ORIGIN}"
        else:
            name = f"{rng.choice(hosts)}.{ORIGIN}"
        bits = rng.getrandbits(len(name))
        name = "".join(c.upper() if bits >> i & 1 else c for i, c in enumerate(name))
        if name not in seen:
            seen.add(name)
            out.append(f"{name} A")
    path.write_text("\n".join(out) + "\n")


def wait_udp(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120) -> None:
    """Wait until the server answers an SOA query on UDP."""
    query = (
        b"\x12\x34\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00"
        + b"".join(bytes([len(p)]) + p.encode() for p in ORIGIN.rstrip(".").split("."))
        + b"\x00\x00\x06\x00\x01"
    )
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}: {err[-2000:]}")
            sock.sendto(query, ("127.0.0.1", port))
            with contextlib.suppress(OSError):
                if sock.recv(4096)[:2] == b"\x12\x34":
                    return
            time.sleep(0.1)
    raise RuntimeError("server did not answer")


@contextlib.contextmanager
def running(
    cmd: list[str], port: int, log: Path, env: dict[str, str] | None = None
) -> Iterator[int]:
    """Run a server (its output to ``log``, never a pipe that could fill and stall it)."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        wait_udp(port, proc, log)
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def nsd_cmd(tmp: Path, zone: Path, port: int) -> list[str]:
    return nsd_command(tmp, port, ORIGIN, zone, "verbosity: 0")


def knot_cmd(tmp: Path, zone: Path, port: int) -> list[str]:
    conf = tmp / "knot.conf"
    (tmp / "knot").mkdir()
    conf.write_text(
        f"""server:
    listen: 127.0.0.1@{port}
    rundir: "{tmp}/knot"
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
control:
    listen: "{tmp}/knot/knot.sock"
database:
    storage: "{tmp}/knot"
log:
  - target: stderr
    any: error
zone:
  - domain: {ORIGIN}
    file: "{zone}"
    storage: "{tmp}/knot"
    zonefile-sync: -1
    journal-content: none
"""
    )
    return ["knotd", "-c", str(conf)]


def homeport_cmd(zone: Path, port: int, *flags: str) -> list[str]:
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "dns_bench_runner.py"),
        "--zone",
        str(zone),
        "--origin",
        ORIGIN,
        "--listen",
        f"127.0.0.1:{port}",
    ]
    return [*cmd, *flags]


def dnsperf(port: int, queries: Path, seconds: float, load: str = "replayed", *extra: str) -> float:
    mode = {
        "replayed": ("-l", str(seconds)),
        "unique": ("-n", "1"),  # through the file once: no query twice
        "tcp": ("-l", str(seconds), "-m", "tcp"),
    }[load]
    out = subprocess.run(
        [
            *("dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)),
            *mode,
            *DNSPERF_LOAD,
            *extra,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    if not match:
        raise RuntimeError(f"no qps in dnsperf output:\n{out}")
    if lost and int(lost.group(1)):
        print(f"    (port {port}: {lost.group(1)} queries lost)")
    return float(match.group(1))


def vm_hwm_mb(pid: int) -> float:
    """Peak RSS of a process or, if larger, of one of its children (NSD's server child)."""
    peaks = []
    for proc in [pid, *_children(pid)]:
        for line in Path(f"/proc/{proc}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=float("nan"))


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def write_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"## dns_qps\n\n{text.strip()}\n"
    pattern = re.compile(r"^## dns_qps\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: section + "\n", old) if pattern.search(old) else None
    if new is None:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="DNS qps: homeport vs NSD (and Knot, naive)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of one dnsperf run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--names", type=int, default=100_000, help="names in the zone")
    parser.add_argument(
        "--unique", type=int, default=1_500_000, help="queries in the unique (0x20) file"
    )
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    for tool in ("nsd", "knotd", "dnsperf"):
        if shutil.which(tool) is None:
            sys.exit(f"dns_qps: {tool} is not installed (see scripts/debian-test-packages.txt)")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory(prefix="homeport-dnsqps-") as tmpdir:
        tmp = Path(tmpdir)
        zone, queries = tmp / "zone.db", tmp / "queries.txt"
        hosts = write_zone(zone, args.names)
        write_queries(queries, hosts)
        unique = tmp / "unique.txt"
        write_unique_queries(unique, hosts, args.unique)
        files = {"replayed": queries, "unique": unique, "tcp": queries}
        ports = {name: free_port() for name in SERVERS}
        with contextlib.ExitStack() as stack:

            def start(name: str, cmd: list[str], env_: dict[str, str] | None = None) -> int:
                pid: int = stack.enter_context(running(cmd, ports[name], tmp / f"{name}.log", env_))
                return pid

            nsd_pid = start("nsd", nsd_cmd(tmp, zone, ports["nsd"]))
            t0 = time.monotonic()
            hp_pid = start("homeport", homeport_cmd(zone, ports["homeport"]), env)
            load_s = time.monotonic() - t0
            knot_pid = start("knot", knot_cmd(tmp, zone, ports["knot"]))
            start("nocache", homeport_cmd(zone, ports["nocache"], "--no-packet-cache"), env)
            for name in ("rrl", "cookie"):
                start(name, homeport_cmd(zone, ports[name], "--rrl-rate", RRL_UNREACHED), env)
            start("naive", homeport_cmd(zone, ports["naive"], "--naive"), env)
            results: dict[tuple[str, str], list[float]] = {
                (load, name): [] for load, names in LOADS.items() for name in names
            }
            for rnd in range(args.rounds):
                for load, names in LOADS.items():
                    for name in names:
                        extra = ("-E", CLIENT_COOKIE) if name == "cookie" else ()
                        qps = dnsperf(ports[name], files[load], args.seconds, load, *extra)
                        results[load, name].append(qps)
                        print(f"round {rnd + 1} {load:8} {name:9} {qps:10.0f} qps", flush=True)
            rss = vm_hwm_mb(hp_pid)
            peer_rss = f"NSD {vm_hwm_mb(nsd_pid):.0f} MB, Knot {vm_hwm_mb(knot_pid):.0f} MB"
    med = {key: statistics.median(v) for key, v in results.items()}

    def vs(load: str, name: str, peer: str = "nsd") -> float:
        return med[load, name] / med[load, peer]

    lines = [
        f"zone: {args.names:,} names (+25% AAAA), queries: type A, 10% NXDOMAIN; "
        f"dnsperf {' '.join(DNSPERF_LOAD)}, {args.rounds} alternating rounds "
        f"of {args.seconds:g} s (unique: {args.unique:,} queries once); "
        "all on 127.0.0.1, 2-core machine shared with other jobs (noisy).",
        "",
        "| load | server | median qps | / NSD | rounds |",
        "|---|---|---:|---:|---|",
    ]
    labels = {
        "nsd": "NSD 4.6 (server-count 1, RRL off)",
        "homeport": "homeport (as shipped: pre-rendered + packet cache, RRL off)",
        "nocache": "homeport, packet cache off (pre-rendered answers only)",
        "knot": "Knot 3.2 (udp-workers 1)",
        "rrl": "homeport with RRL on (rate never reached: its bookkeeping only)",
        "cookie": "homeport with RRL on, every query with a client cookie (-E 10:...)",
        "naive": "naive dnspython per query",
    }
    for load, names in LOADS.items():
        for name in names:
            rounds = ", ".join(f"{q:.0f}" for q in results[load, name])
            lines.append(
                f"| {load} | {labels[name]} | {med[load, name]:,.0f} | "
                f"{vs(load, name):.2f}x | {rounds} |"
            )
    lines += [
        "",
        f"homeport / NSD: replayed **{vs('replayed', 'homeport'):.2f}x** (target >= 0.75x, "
        f"aim 0.9x), every query unique **{vs('unique', 'homeport'):.2f}x**, "
        f"TCP **{vs('tcp', 'homeport'):.2f}x**; replayed without the packet cache "
        f"{vs('replayed', 'nocache'):.2f}x; homeport / Knot = "
        f"{vs('replayed', 'homeport', 'knot'):.2f}x (replayed), "
        f"{vs('unique', 'homeport', 'knot'):.2f}x (unique), "
        f"{vs('tcp', 'homeport', 'knot'):.2f}x (TCP); "
        f"homeport / naive = {vs('replayed', 'homeport', 'naive'):.1f}x; "
        f"with RRL on {vs('replayed', 'rrl'):.2f}x (replayed), {vs('unique', 'rrl'):.2f}x "
        f"(unique); with RRL and client cookies {vs('replayed', 'cookie'):.2f}x (replayed)",
        f"homeport peak RSS with the zone loaded (VmHWM): {rss:.0f} MB ({peer_rss}); "
        f"start to first answer (python start, parse, load, render): {load_s:.1f} s",
        "",
        "replayed: dnsperf loops over the 200,000-query file, so after the first pass "
        "most queries repeat byte for byte (but the ID) and hit homeport's packet cache; "
        '"packet cache off" is the pre-rendered path alone. unique: no query repeats '
        "(random 0x20 case, as resolvers send), so the cache only costs. tcp: the "
        "replayed file over 4 TCP connections with pipelining (no UDP packet cache on "
        "TCP).",
        "",
        f"command: `/work/main/.venv/bin/python bench/dns_qps.py --seconds {args.seconds:g} "
        f"--rounds {args.rounds} --unique {args.unique}`",
    ]
    text = "\n".join(lines)
    print()
    print(text)
    if not args.no_write:
        write_results(text)


if __name__ == "__main__":
    main()
