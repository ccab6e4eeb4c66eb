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
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.e2e.labserver import LabServer, start_lab_server  # noqa: E402
from tests.lab import relayhome  # noqa: E402
from tests.lab.netlab import Lab  # noqa: E402

RESULTS = ROOT / "bench" / "RESULTS.md"
SECTION = "## relay"
DEFAULT_SPARES = 4  # server/relay/config.py DEFAULT_SPARES
SERVICE_PORT = 9100  # the home service
SSH_PORT = 2200  # OpenSSH's sshd in inet
SSH_FORWARD = 19100  # sshd's public end of `ssh -R`
DIRECT_PORT = 9100  # forwarded by hand through the carrier NAT and the router
GIB = 1 << 30
SMALL = 100 * 1024
CONCURRENCY = 100
# Goals of issue #13: throughput >= OpenSSH's; p99 added latency <= 2 ms.
P99_ADDED_GOAL_MS = 2.0
CPU: dict[tuple[str, str], dict[str, float]] = {}  # (path, phase) -> label -> CPU seconds

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
mode, host, name = sys.argv[1], sys.argv[2], sys.argv[4]
port, size = int(sys.argv[3]), int(sys.argv[5])
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


def floats(values: object) -> list[float]:
    assert isinstance(values, list)
    return [float(v) for v in values]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


CLK_TCK = os.sysconf("SC_CLK_TCK")
LABELS = (  # what a process in the lab is, by its command line
    ("homeport server", "relay server"),
    ("homeport tunnel", "homeport tunnel"),
    ("sshd", "sshd"),
    ("ssh ", "ssh client"),
    ("BLOCK = ", "home service"),
    ("REQUEST = ", "visitor"),
)


def cpu_seconds(lab: Lab) -> dict[tuple[int, str], float]:
    """CPU time (user + system) so far of each process in inet and home, by (pid, label)."""
    found: dict[tuple[int, str], float] = {}
    for role in ("inet", "home"):
        pids = subprocess.run(
            ["ip", "netns", "pids", lab.ns[role]], capture_output=True, text=True, check=False
        ).stdout.split()
        for pid in pids:
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue  # gone meanwhile
            label = next((name for key, name in LABELS if key in cmdline), None)
            if label is not None:
                found[(int(pid), label)] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return found


def cpu_spent(before: dict[tuple[int, str], float], lab: Lab) -> dict[str, float]:
    """CPU seconds by label since ``before`` (the visitor client, which runs and exits in
    between, reports its own)."""
    spent: dict[str, float] = {}
    for key, value in cpu_seconds(lab).items():
        spent[key[1]] = spent.get(key[1], 0.0) + value - before.get(key, 0.0)
    return spent


SEQ_CHUNK = 50  # sequential requests per turn of a path


def measure(
    lab: Lab, targets: dict[str, tuple[str, int, str]], args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """Every phase, the paths taking turns round by round: the machine's other load (two
    cores shared with other work) falls on all of them alike, not on whichever ran last."""
    bulk: dict[str, list[float]] = {path: [] for path in targets}
    walls: dict[str, list[float]] = {path: [] for path in targets}
    loaded: dict[str, list[float]] = {path: [] for path in targets}
    seq: dict[str, list[float]] = {path: [] for path in targets}

    def turn(path: str, phase: str, *argv: str) -> dict[str, object]:
        host, port, name = targets[path]
        before = cpu_seconds(lab)
        got = client(lab, argv[0], host, str(port), name, *argv[1:])
        for label, seconds in cpu_spent(before, lab).items():
            spent = CPU.setdefault((path, phase), {})
            spent[label] = spent.get(label, 0.0) + seconds
        return got

    for path in targets:
        turn(path, "warm-up", "seq", str(SMALL), "20")  # spares, caches
    for _ in range(args.bulk_rounds):
        for path in targets:
            bulk[path].append(float(str(turn(path, "bulk", "bulk", str(GIB))["seconds"])))
    for _ in range(args.rounds):
        for path in targets:
            got = turn(path, "conc", "conc", str(SMALL), str(CONCURRENCY), str(CONCURRENCY))
            walls[path].append(float(str(got["seconds"])))
            loaded[path] += floats(got["latencies"])
    for _ in range(max(1, args.seq // SEQ_CHUNK)):
        for path in targets:
            seq[path] += floats(turn(path, "seq", "seq", str(SMALL), str(SEQ_CHUNK))["latencies"])
    return {
        path: {
            "bulk_mbs": GIB / statistics.median(bulk[path]) / 1e6,
            "conc_rps": CONCURRENCY * args.rounds / sum(walls[path]),
            "conc_mbs": CONCURRENCY * args.rounds * SMALL / sum(walls[path]) / 1e6,
            "conc_p50_ms": percentile(loaded[path], 0.5) * 1e3,
            "conc_p99_ms": percentile(loaded[path], 0.99) * 1e3,
            "seq_p50_ms": percentile(seq[path], 0.5) * 1e3,
            "seq_p99_ms": percentile(seq[path], 0.99) * 1e3,
        }
        for path in targets
    }


RELAY_PORT = 7443  # agents' control and data connections
HOST = "myhome.dyn.example.net"


def relay_config(lab: Lab, spares: int) -> str:
    return f"""
[relay]
enabled = true
listen = "{lab.inet_ip}:{RELAY_PORT}"
public_ipv4 = "{lab.inet_ip}"
bind = "{lab.inet_ip}"
http_ports = [80, 888]
tls_ports = [443]
tcp_ports = "20000-20099"
spares = {spares}
"""


def start_relay(lab: Lab, profile: Path | None, spares: int) -> LabServer:
    server = start_lab_server(lab, more=relay_config(lab, spares))
    if profile is not None:
        # The same server again, under cProfile (written when it stops cleanly).
        server.argv = (*server.argv[:1], "-m", "cProfile", "-o", str(profile), *server.argv[1:])
        server.restart()
    return server


def open_relay_path(lab: Lab, server: LabServer, profile: Path | None) -> subprocess.Popen[bytes]:
    """`homeport tunnel NAME:888` in home, pinned to the relay's certificate."""
    pin = server.admin("relay", "fingerprint")
    if pin.returncode != 0:
        raise RuntimeError(f"relay fingerprint: {pin.stderr.strip()}")
    profiler = ["-m", "cProfile", "-o", str(profile)] if profile is not None else []
    tunnel = lab.popen(
        "home",
        sys.executable,
        *profiler,
        *("-m", "homeport", "tunnel", f"{HOST}:888"),
        *("--relay", f"{lab.inet_ip}:{RELAY_PORT}"),
        *("--local", f"{lab.home_ip}:{SERVICE_PORT}"),
        *("--secret-file", str(server.secret_file()), "--fingerprint", pin.stdout.strip()),
        stdout=subprocess.PIPE,
        stderr=(lab.workdir / "tunnel.log").open("ab"),
    )
    assert tunnel.stdout is not None
    ready = tunnel.stdout.readline()
    if not ready.startswith(b"{"):
        raise RuntimeError(f"homeport tunnel did not come up: {ready!r}")
    return tunnel


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of 100 concurrent requests")
    parser.add_argument("--seq", type=int, default=300, help="sequential requests")
    parser.add_argument("--bulk-rounds", type=int, default=3, help="1 GiB transfers per path")
    parser.add_argument("--paths", default="direct,ssh,relay")
    parser.add_argument("--profile", action="store_true", help="cProfile the relay server")
    parser.add_argument(
        "--spares", type=int, default=DEFAULT_SPARES, help="the relay's `spares` setting"
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    paths = args.paths.split(",")
    lab = Lab.up("cgnat")
    profile = lab.workdir / "relay.prof" if args.profile else None
    try:
        start_service(lab)
        targets = {
            "direct": (lab.public_ip, DIRECT_PORT, HOST),
            "ssh": (lab.inet_ip, SSH_FORWARD, HOST),
            "relay": (lab.inet_ip, 888, HOST),
        }
        server = tunnel = None
        if "direct" in paths:
            open_direct_path(lab)
        if "ssh" in paths:
            open_ssh_path(lab)
        if "relay" in paths:
            server = start_relay(lab, profile, args.spares)
            tunnel = open_relay_path(
                lab, server, lab.workdir / "tunnel.prof" if profile is not None else None
            )
        figures = measure(lab, {path: targets[path] for path in paths}, args)
        for path in paths:
            print(path, json.dumps({k: round(v, 2) for k, v in figures[path].items()}), flush=True)
        if server is not None and tunnel is not None and profile is not None:
            stop(tunnel)
            stop(server.proc)
            print("=== the relay server (cProfile)")
            show_profile(profile)
            print("=== homeport tunnel (cProfile)")
            show_profile(lab.workdir / "tunnel.prof")
    finally:
        lab.down()
    text = report(figures, args)
    print(text)
    if not args.no_write and set(paths) == {"direct", "ssh", "relay"}:
        write_section(section(args.spares), text)


def show_profile(path: Path) -> None:
    import pstats

    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(20)


def report(figures: dict[str, dict[str, float]], args: argparse.Namespace) -> str:
    rows = [
        ("1 GiB transfer, MB/s", "bulk_mbs", "{:.0f}"),
        ("100 x 100 KB concurrent, requests/s", "conc_rps", "{:.0f}"),
        ("100 x 100 KB concurrent, MB/s", "conc_mbs", "{:.0f}"),
        ("concurrent latency p50, ms", "conc_p50_ms", "{:.1f}"),
        ("concurrent latency p99, ms", "conc_p99_ms", "{:.1f}"),
        ("sequential 100 KB latency p50, ms", "seq_p50_ms", "{:.2f}"),
        ("sequential 100 KB latency p99, ms", "seq_p99_ms", "{:.2f}"),
    ]
    names = [p for p in ("relay", "ssh", "direct") if p in figures]
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        section(args.spares),
        "",
        f"`.venv/bin/python bench/relay.py --rounds {args.rounds} --seq {args.seq} "
        f"--bulk-rounds {args.bulk_rounds} --spares {args.spares}` (as root; {now}): "
        "cgnat lab, visitor in inet, home service in home; relay = homeport server's relay + "
        "`homeport tunnel` (uvloop, TLS 1.3), ssh = OpenSSH 9.2 `ssh -R` through sshd, direct = "
        "a port forwarded by hand through the carrier NAT and the router. 2 shared cores.",
        "",
        "| | " + " | ".join(names) + " | relay/ssh | relay/direct |",
        "|---|" + "---:|" * (len(names) + 2),
    ]
    for label, key, fmt in rows:
        cells = [fmt.format(figures[n][key]) for n in names]
        ratio_ssh = ratio_direct = ""
        if "relay" in figures and "ssh" in figures:
            ratio_ssh = f"{figures['relay'][key] / figures['ssh'][key]:.2f}x"
        if "relay" in figures and "direct" in figures:
            ratio_direct = f"{figures['relay'][key] / figures['direct'][key]:.2f}x"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio_ssh} | {ratio_direct} |")
    if "direct" in figures:
        lines.append("")
        for name in names:
            if name == "direct":
                continue
            added50 = figures[name]["seq_p50_ms"] - figures["direct"]["seq_p50_ms"]
            added99 = figures[name]["seq_p99_ms"] - figures["direct"]["seq_p99_ms"]
            lines.append(
                f"- {name}: added latency per sequential 100 KB request p50 {added50:+.2f} ms, "
                f"p99 {added99:+.2f} ms"
            )
    if "relay" in figures and "ssh" in figures and "direct" in figures:
        bulk_ok = figures["relay"]["bulk_mbs"] >= figures["ssh"]["bulk_mbs"]
        conc_ok = figures["relay"]["conc_rps"] >= figures["ssh"]["conc_rps"]
        added99 = figures["relay"]["seq_p99_ms"] - figures["direct"]["seq_p99_ms"]
        lines += [
            "",
            f"Goals: throughput >= OpenSSH's: 1 GiB {'met' if bulk_ok else 'MISSED'}, "
            f"concurrent {'met' if conc_ok else 'MISSED'}; p99 added <= "
            f"{P99_ADDED_GOAL_MS:.0f} ms: {'met' if added99 <= P99_ADDED_GOAL_MS else 'MISSED'} "
            f"({added99:+.2f} ms).",
        ]
    lines += ["", *cpu_table(names, args)]
    lines.append("")
    return "\n".join(lines)


def cpu_table(names: list[str], args: argparse.Namespace) -> list[str]:
    """Where the time goes: CPU seconds of each process during each phase, per path."""
    labels = sorted({label for spent in CPU.values() for label in spent})
    columns = [(n, phase) for phase in ("bulk", "conc") for n in names if (n, phase) in CPU]
    if not columns:
        return []
    lines = [
        f"CPU seconds by process (bulk: {args.bulk_rounds} x 1 GiB; conc: {args.rounds} x "
        f"{CONCURRENCY} x 100 KB; the visitors' own CPU is not counted):",
        "",
        "| process | " + " | ".join(f"{n} {phase}" for n, phase in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for label in labels:
        cells = [f"{CPU[column].get(label, 0.0):.2f}" for column in columns]
        if any(cell != "0.00" for cell in cells):
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def section(spares: int) -> str:
    return SECTION if spares == DEFAULT_SPARES else f"{SECTION} (spares = {spares})"


def write_section(title: str, text: str) -> None:
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if title + "\n" in old:
        head, _, rest = old.partition(title + "\n")
        tail = rest.split("\n## ", 1)
        old = head.rstrip("\n") + "\n\n" + (("## " + tail[1]) if len(tail) > 1 else "")
    RESULTS.write_text(old.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
