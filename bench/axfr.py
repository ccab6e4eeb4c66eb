#!/usr/bin/env python3
"""Zone transfers: homeport as hidden primary vs NSD, and update -> answered by three secondaries.

1. Outbound AXFR of the 100,000-name zone of ``bench/dns_qps.py`` (its generator,
   imported): a real ``homeport server run`` with the zone imported, and NSD 4.6
   serving the same file, each TSIG-keyed; ``kdig`` pulls the whole zone from
   each in alternating rounds; wall time per transfer, median of the rounds.
2. Update acknowledged -> answered by all three secondaries: BIND 9.18, Knot 3.2
   and NSD 4.6 follow a small zone of homeport's (NOTIFY + IXFR); for each of
   ``--updates`` updates (one at a time, through the dyndns2 API) the time from
   the HTTP acknowledgement until every secondary answers the new address
   (polled over UDP every millisecond); p50/p99 (goal p99 <= 1 s).

Writes the figures into bench/RESULTS.md under "## axfr". ``AXFR_BENCH_TRACE=1`` prints
each update's time per secondary.

    /work/main/.venv/bin/python bench/axfr.py [--names 100000] [--rounds 3] [--updates 200]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.query

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT)]

from dns_qps import ORIGIN, free_port, write_zone  # noqa: E402
from tests.providers.dns_peers import nsd_command  # noqa: E402
from tests.server.secondaries import Key, Peer  # noqa: E402

SMALL_ZONE = "dyn.example.net."
POLL = 0.001  # the latency probe's poll interval


def homeport(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    return subprocess.run(
        [sys.executable, "-m", "homeport", *args],
        capture_output=True,
        text=True,
        env=env,
        check=check,
        timeout=3600,
    )


def start_homeport(data: Path, dns_port: int, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    out = log.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "homeport",
            "server",
            "run",
            "--data",
            str(data),
            "--http",
            "127.0.0.1:0",
            "--dns",
            f"127.0.0.1:{dns_port}",
            "--limits",
            "off",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=out,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready "):
        raise SystemExit(f"homeport did not start: {line}{log.read_text()}")
    return proc, json.loads(line[6:])["http"][0]


def stop(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)


def add_secondary(data: Path, name: str, port: int, dns_port: int) -> Key:
    made = json.loads(
        homeport(
            "server",
            "secondary",
            "add",
            name,
            "--address",
            f"127.0.0.1:{port}",
            "--primary",
            f"127.0.0.1:{dns_port}",
            "--data",
            str(data),
            "--json",
        ).stdout
    )
    return Key(made["key"]["name"], made["key"]["algorithm"], made["key"]["secret"])


def nsd_primary(tmp: Path, zone: Path, port: int, key: Key) -> subprocess.Popen[bytes]:
    command = nsd_command(
        tmp,
        port,
        ORIGIN,
        zone,
        "verbosity: 0",
        key=(key.short, key.algorithm, key.secret),
        zone_options=[f"provide-xfr: 127.0.0.1 {key.short}"],
    )
    return subprocess.Popen(command, start_new_session=True)


def kdig_axfr(port: int, zone: str, key: Key) -> tuple[float, int]:
    """Wall time of one whole AXFR by kdig, and the records it got."""
    start = time.perf_counter()
    result = subprocess.run(
        [
            "kdig",
            "@127.0.0.1",
            "-p",
            str(port),
            zone,
            "AXFR",
            "+noall",
            "+answer",
            "-y",
            f"{key.algorithm}:{key.short}:{key.secret}",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    elapsed = time.perf_counter() - start
    records = sum(1 for line in result.stdout.splitlines() if line and not line.startswith(";"))
    return elapsed, records


def wait_soa(port: int, zone: str, deadline: float = 600) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            dns.query.udp(dns.message.make_query(zone, "SOA"), "127.0.0.1", port=port, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


def bench_axfr(tmp: Path, names: int, rounds: int) -> dict[str, object]:
    zone = tmp / "bench.zone"
    write_zone(zone, names)
    data = tmp / "hp-axfr"
    t0 = time.perf_counter()
    homeport("server", "zone", "add", ORIGIN, "--data", str(data))
    homeport("server", "zone", "import", str(zone), "--zone", ORIGIN, "--data", str(data))
    print(f"imported {names} names in {time.perf_counter() - t0:.1f} s", flush=True)
    hp_port, nsd_port = free_port(), free_port()
    key = add_secondary(data, "bench", free_port(), hp_port)
    proc, _ = start_homeport(data, hp_port, tmp / "hp-axfr.log")
    nsd = nsd_primary(tmp, zone, nsd_port, key)
    times: dict[str, list[float]] = {"homeport": [], "nsd": []}
    counts: dict[str, int] = {}
    try:
        wait_soa(hp_port, ORIGIN)
        wait_soa(nsd_port, ORIGIN)
        for _ in range(rounds):
            for name, port in (("nsd", nsd_port), ("homeport", hp_port)):
                elapsed, records = kdig_axfr(port, ORIGIN, key)
                times[name].append(elapsed)
                counts[name] = records
                print(f"AXFR {name}: {elapsed:.3f} s, {records} records", flush=True)
    finally:
        stop(proc)
        stop(nsd)
    hp, ns = statistics.median(times["homeport"]), statistics.median(times["nsd"])
    return {"homeport_s": hp, "nsd_s": ns, "ratio": hp / ns, "records": counts, "times": times}


def bench_latency(tmp: Path, updates: int) -> dict[str, Any]:
    from tests.server.conftest import add_hosts  # the store-level helper the tests use
    from tests.server.httpget import get

    data = tmp / "hp-lat"
    homeport(
        "server",
        "zone",
        "add",
        SMALL_ZONE,
        "--ns",
        f"ns1.{SMALL_ZONE}=192.0.2.53",
        "--data",
        str(data),
    )
    hosts = [f"h{i}.{SMALL_ZONE}".rstrip(".") for i in range(10)]
    secrets = add_hosts(data, hosts)
    dns_port = free_port()
    peers = []
    for kind in ("bind", "knot", "nsd"):
        port = free_port()
        key = add_secondary(data, kind, port, dns_port)
        (tmp / kind).mkdir()
        peers.append(Peer(kind, tmp / kind, port, key, ("127.0.0.1", dns_port), [SMALL_ZONE]))
    proc, http = start_homeport(data, dns_port, tmp / "hp-lat.log")
    host, _, port_text = http.rpartition(":")
    latencies = []
    per_peer: dict[str, list[float]] = {p.kind: [] for p in peers}
    try:
        for peer in peers:
            peer.start()
        for peer in peers:
            while peer.serial(SMALL_ZONE) is None:
                time.sleep(0.05)
        for i in range(updates):
            name = hosts[i % len(hosts)]
            ip = f"198.51.100.{i % 250 + 1}" if i % 2 else f"192.0.2.{i % 250 + 1}"
            status, body, _ = get(
                (host, int(port_text)),
                f"/nic/update?hostname={name}&myip={ip}",
                auth=(name, secrets[name]),
            )
            acked = time.perf_counter()
            if status != 200 or not body.startswith("good"):
                raise SystemExit(f"update refused: {status} {body}")
            waiting = list(peers)
            while waiting:
                still = [p for p in waiting if not _answers(p.port, name, ip)]
                for p in waiting:
                    if p not in still:
                        per_peer[p.kind].append(time.perf_counter() - acked)
                waiting = still
                if waiting:
                    time.sleep(POLL)
                if time.perf_counter() - acked > 60:
                    raise SystemExit(f"update {i} not answered by {[p.kind for p in waiting]}")
            latencies.append(time.perf_counter() - acked)
            if os.environ.get("AXFR_BENCH_TRACE"):
                print(i, {k: round(v[-1] * 1000) for k, v in per_peer.items()}, flush=True)
    finally:
        for peer in peers:
            peer.stop()
        stop(proc)
    latencies.sort()
    for kind, values in per_peer.items():
        print(f"{kind}: p50 {statistics.median(values) * 1000:.0f} ms", flush=True)
    return {
        "n": len(latencies),
        "p50_s": latencies[len(latencies) // 2],
        "p99_s": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "max_s": latencies[-1],
        "peers": {k: statistics.median(v) for k, v in per_peer.items()},
    }


def _answers(port: int, name: str, ip: str) -> bool:
    try:
        r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=port, timeout=0.5)
    except Exception:
        return False
    return any(rd.to_text() == ip for rrset in r.answer for rd in rrset)


def write_results(text: str) -> None:
    path = ROOT / "bench" / "RESULTS.md"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    section = f"## axfr\n\n{text.strip()}\n"
    pattern = re.compile(r"^## axfr\n.*?(?=^## |\Z)", re.S | re.M)
    new = pattern.sub(lambda _: section + "\n", old) if pattern.search(old) else None
    if new is None:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description="AXFR vs NSD; update -> three secondaries")
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    for tool in ("nsd", "knotd", "named", "kdig"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")
    with tempfile.TemporaryDirectory(prefix="homeport-axfr-") as tmp_text:
        tmp = Path(tmp_text)
        axfr = bench_axfr(tmp, args.names, args.rounds)
        lat = bench_latency(tmp, args.updates)
    cmd = (
        f"python bench/axfr.py --names {args.names} --rounds {args.rounds} --updates {args.updates}"
    )
    text = (
        f"`{cmd}` ({time.strftime('%Y-%m-%d', time.gmtime())}, 2 shared cores, all on loopback)\n\n"
        f"| AXFR of {args.names:,} names by kdig (TSIG) | median of {args.rounds} |\n|---|---|\n"
        f"| homeport | {axfr['homeport_s']:.2f} s |\n| NSD 4.6 | {axfr['nsd_s']:.2f} s |\n"
        f"| homeport / NSD | {axfr['ratio']:.1f}x the time |\n\n"
        f"records received: {axfr['records']}\n\n"
        f"Update acknowledged -> answered by BIND 9.18, Knot 3.2 and NSD 4.6 (NOTIFY + IXFR),"
        f" {lat['n']} updates one at a time: p50 {lat['p50_s'] * 1000:.0f} ms,"
        f" p99 {lat['p99_s'] * 1000:.0f} ms, max {lat['max_s'] * 1000:.0f} ms (goal p99 <= 1 s);"
        " p50 per secondary: "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in lat["peers"].items())
        + ".\n"
    )
    print(text)
    if not args.no_write:
        write_results(text)


if __name__ == "__main__":
    main()
