#!/usr/bin/env python3
"""homeport's relay vs OpenSSH ``ssh -R`` through sshd vs the direct path, in one lab run.

Runs in the namespace lab (root), cgnat topology: the home network sits behind the carrier's
NAT, the relay is the real ``homeport server`` in ``inet`` and the tunnel client the real
``homeport agent`` in ``home`` (uvloop, the default loop of both). The same home service (a
small threaded HTTP server handing out N bytes, in ``home``) is reached by a visitor in
``inet`` three ways:

- ``relay``: by name through the relay's Host-routed HTTP listener (one TLS data connection
  per visitor, from the agent's pool of spares);
- ``ssh -R``: OpenSSH's client in ``home`` holds ``-R 0.0.0.0:PORT:home:PORT`` on OpenSSH's
  sshd in ``inet`` (``GatewayPorts yes``): the reverse SSH tunnel of the seed's advice;
- ``direct``: a port forwarded by hand through the carrier NAT and the router (nft DNAT on
  both): what the path itself costs, the baseline the "added" latency is taken against.

Per path: one 1 GiB transfer (MB/s; median of ``--bulk-rounds``), ``--rounds`` x 100
concurrent 100 KB requests, a new connection each (requests/s, and the latency of each
request, p50/p99), and ``--seq`` sequential 100 KB requests, one at a time (latency
p50/p99: "added" is the path's percentile minus the direct path's).

    /work/main/.venv/bin/python bench/relay.py [--rounds 5] [--seq 300] [--profile]   # root

``--profile`` runs the relay server under cProfile and prints where its time went.
Prints a table and writes the ``## relay`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.lab import relayhome  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## relay"
SERVICE_PORT = 9100  # the home service
SSH_PORT = 2200  # OpenSSH's sshd in inet
SSH_FORWARD = 19100  # sshd's public end of `ssh -R`
DIRECT_PORT = 9100  # forwarded by hand through the carrier NAT and the router
GIB = 1 << 30
SMALL = 100 * 1024
CONCURRENCY = 100
# Goals of issue #13: throughput >= OpenSSH's; p99 added latency <= 2 ms.
P99_ADDED_GOAL_MS = 2.0

SERVICE = r"""
import socket, sys, threading
port, address = int(sys.argv[1]), sys.argv[2]
BLOCK = memoryview(bytes(range(256)) * 4096)  # 1 MiB
def serve(conn):
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            piece = conn.recv(65536)
            if not piece:
                return
            head += piece
        size = int(head.split(b" ", 2)[1].lstrip(b"/"))
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        while size:
            n = min(size, len(BLOCK))
            conn.sendall(BLOCK[:n])
            size -= n
sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((address, port))
sock.listen(512)
print("ready", flush=True)
while True:
    conn, _ = sock.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"""

CLIENT = r"""
import asyncio, json, socket, sys, time
mode, host, port, name, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
REQUEST = f"GET /{size} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode()

def head_and_rest(data):
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    status = data[:data.find(b"\r\n")]
    if b" 200 " not in status:
        raise RuntimeError(f"answer {status[:60]!r}")
    return data[end + 4:]

def one_blocking():
    started = time.perf_counter()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(REQUEST)
        data = b""
        body = None
        while body is None:
            piece = sock.recv(65536)
            if not piece:
                raise RuntimeError("closed before the head")
            data += piece
            body = head_and_rest(data)
        got = len(body)
        buf = bytearray(1 << 20)
        while got < size:
            n = sock.recv_into(buf)
            if not n:
                raise RuntimeError(f"closed after {got} of {size} bytes")
            got += n
    return time.perf_counter() - started

async def one_async():
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(REQUEST)
        head = await reader.readuntil(b"\r\n\r\n")
        if b" 200 " not in head[:40]:
            raise RuntimeError(f"answer {head[:60]!r}")
        await reader.readexactly(size)
    finally:
        writer.close()
    return time.perf_counter() - started

async def concurrent(count, width):
    gate = asyncio.Semaphore(width)
    async def guarded():
        async with gate:
            return await one_async()
    started = time.perf_counter()
    latencies = await asyncio.gather(*(guarded() for _ in range(count)))
    return time.perf_counter() - started, latencies

if mode == "bulk":
    print(json.dumps({"seconds": one_blocking()}))
elif mode == "seq":
    print(json.dumps({"latencies": [one_blocking() for _ in range(int(sys.argv[6]))]}))
else:
    try:
        import uvloop
        run = uvloop.run
    except ImportError:
        run = asyncio.run
    wall, latencies = run(concurrent(int(sys.argv[6]), int(sys.argv[7])))
    print(json.dumps({"seconds": wall, "latencies": latencies}))
"""


def client(lab: Lab, *args: str) -> dict[str, object]:
    done = lab.exec("inet", sys.executable, "-c", CLIENT, *args, check=False, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"client {args[:2]} failed: {done.stderr.strip()[-600:]}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


def start_service(lab: Lab) -> None:
    proc = lab.popen(
        "home",
        sys.executable,
        "-c",
        SERVICE,
        str(SERVICE_PORT),
        lab.home_ip,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    if b"ready" not in proc.stdout.readline():
        raise RuntimeError("the home service did not start")


def open_direct_path(lab: Lab) -> None:
    """Forward DIRECT_PORT by hand: carrier NAT -> router -> home (what a DMZ host plus a
    port forward would give, were the carrier to allow it)."""
    isp_out = lab.ifname("b")
    lab.exec(
        "isp",
        *("nft", "add", "rule", "ip", "nat", "prerouting", "iifname", isp_out),
        *("tcp", "dport", str(DIRECT_PORT), "dnat", "to", lab.router_wan_ip),
    )
    lab.exec(
        "router",
        *("nft", "add", "rule", "inet", "filter", "prerouting_miniupnpd"),
        *("ip", "daddr", lab.router_wan_ip, "tcp", "dport", str(DIRECT_PORT)),
        *("dnat", "ip", "to", f"{lab.home_ip}:{SERVICE_PORT}"),
    )
    lab.exec(
        "router",
        *("nft", "add", "rule", "inet", "filter", "miniupnpd"),
        *("ip", "daddr", lab.home_ip, "tcp", "dport", str(SERVICE_PORT), "accept"),
    )


def open_ssh_path(lab: Lab) -> None:
    key, public = relayhome.ssh_keypair(lab, "bench")
    relayhome.Sshd.start(lab, lab.inet_ip, SSH_PORT, [public])
    lab.popen(
        "home",
        *relayhome.ssh_reverse_argv(
            key,
            "root",
            lab.inet_ip,
            SSH_PORT,
            f"0.0.0.0:{SSH_FORWARD}",
            f"{lab.home_ip}:{SERVICE_PORT}",
        ),
    )
    lab.wait_tcp("inet", lab.inet_ip, SSH_FORWARD, timeout=20)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(lab: Lab, target: tuple[str, int, str], args: argparse.Namespace) -> dict[str, float]:
    host, port, name = target[0], str(target[1]), target[2]
    client(lab, "seq", host, port, name, str(SMALL), "20")  # warm up (spares, caches)
    bulk = [
        float(str(client(lab, "bulk", host, port, name, str(GIB))["seconds"]))
        for _ in range(args.bulk_rounds)
    ]
    walls: list[float] = []
    loaded: list[float] = []
    for _ in range(args.rounds):
        got = client(lab, "conc", host, port, name, str(SMALL), str(CONCURRENCY), str(CONCURRENCY))
        walls.append(float(str(got["seconds"])))
        loaded += [float(v) for v in got["latencies"]]  # type: ignore[attr-defined]
    seq = [float(v) for v in client(lab, "seq", host, port, name, str(SMALL), str(args.seq))["latencies"]]  # type: ignore[attr-defined]  # fmt: skip
    return {
        "bulk_mbs": GIB / statistics.median(bulk) / 1e6,
        "conc_rps": CONCURRENCY * args.rounds / sum(walls),
        "conc_mbs": CONCURRENCY * args.rounds * SMALL / sum(walls) / 1e6,
        "conc_p50_ms": percentile(loaded, 0.5) * 1e3,
        "conc_p99_ms": percentile(loaded, 0.99) * 1e3,
        "seq_p50_ms": percentile(seq, 0.5) * 1e3,
        "seq_p99_ms": percentile(seq, 0.99) * 1e3,
    }
