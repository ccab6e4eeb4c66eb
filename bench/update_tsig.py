#!/usr/bin/env python3
"""RFC 2136 UPDATE round trips per second over TCP with TSIG: homeport vs BIND 9.18.

Both servers run on 127.0.0.1 in the same run with a zone of the same shape and an
hmac-sha256 key. CLIENTS processes each hold one TCP connection and send signed UPDATEs
one at a time (a round trip each: what an ACME client does), alternately adding and
deleting their own TXT value at the same ``_acme-challenge`` name; every answer's TSIG
is checked (dnspython). Only NOERROR answers count.

homeport acknowledges an UPDATE after it is committed (SQLite, synchronous=FULL;
concurrent UPDATEs share a commit) and served; BIND after writing its journal. The
client processes (dnspython, one loopback source address each) share the machine's
cores with the servers, so a server that needs more CPU per UPDATE also leaves less to
its clients.

    .venv/bin/python bench/update_tsig.py [--seconds 10] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.tsig  # noqa: E402
import dns.update  # noqa: E402
from tests.helpers import HOMEPORT, homeport_env, run_homeport  # noqa: E402
from tests.providers.dns_peers import (  # noqa: E402
    NAMED,
    free_port,
    running,
    secret,
    write_bind_config,
)
from tests.providers.dns_peers import zone_text as bind_zone_text  # noqa: E402

ZONE_HP = "dyn.example.net"
ZONE_BIND = "dyn.homeport.test"


def worker(
    host: str, port: int, zone: str, name: str, key: tuple[str, str, str], seconds: float, idx: int
) -> int:
    tsig = dns.tsig.Key(key[0], key[1], key[2])
    value = chr(ord("a") + idx) * 43
    done = 0
    # Each client from its own loopback address: homeport holds at most 10 TCP
    # connections per source address (io/dns_tcp.py), like a real client farm would not hit.
    with socket.create_connection((host, port), source_address=(f"127.0.1.{idx + 1}", 0)) as sock:
        deadline = time.monotonic() + seconds
        add = True
        while time.monotonic() < deadline:
            msg = dns.update.UpdateMessage(zone)
            if add:
                msg.add(name, 60, "TXT", value)
            else:
                msg.delete(name, "TXT", value)
            msg.use_tsig(tsig)
            resp = dns.query.tcp(msg, host, port=port, sock=sock, timeout=10)
            if resp.rcode() == dns.rcode.NOERROR:
                done += 1
            add = not add
    return done


def measure(
    port: int, zone: str, name: str, key: tuple[str, str, str], seconds: float, clients: int
) -> float:
    with multiprocessing.Pool(clients) as pool:
        start = time.monotonic()
        counts = pool.starmap(
            worker, [("127.0.0.1", port, zone, name, key, seconds, i) for i in range(clients)]
        )
        elapsed = time.monotonic() - start
    return sum(counts) / max(elapsed, seconds)


def run_homeport_server(tmp: Path, seconds: float, clients: int) -> float:
    data = tmp / "hp"
    result = run_homeport("server", "zone", "add", ZONE_HP, "--data", str(data))
    assert result.returncode == 0, result.stderr
    host = f"home.{ZONE_HP}"
    assert run_homeport("server", "host", "add", host, "--data", str(data)).returncode == 0
    key_out = run_homeport(
        "server", "host", "tsig", host, "--algorithm", "hmac-sha256", "--json", "--data", str(data)
    )
    key = json.loads(key_out.stdout)
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
            "127.0.0.1:0",
            "--limits",
            "off",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=homeport_env(),
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ready "):
                port = int(json.loads(line[6:])["dns"][0].rsplit(":", 1)[1])
                break
        else:
            raise RuntimeError("homeport did not start")
        return measure(
            port,
            ZONE_HP + ".",
            f"_acme-challenge.{host}.",
            (key["name"], key["secret"], key["wire_algorithm"]),
            seconds,
            clients,
        )
    finally:
        proc.terminate()
        proc.wait(10)


def run_bind(tmp: Path, seconds: float, clients: int) -> float:
    directory = tmp / "bind"
    directory.mkdir()
    port = free_port()
    key_secret = secret("bench")
    body = (
        f'key "bench" {{ algorithm hmac-sha256; secret "{key_secret}"; }};\n'
        f'zone "{ZONE_BIND}" {{\n    type primary;\n    file "{directory}/zone.db";\n'
        f"    update-policy {{ grant bench name _acme-challenge.home.{ZONE_BIND}. TXT; }};\n}};\n"
    )
    config = write_bind_config(directory, port, body=body, zone=bind_zone_text())
    command = [NAMED, "-g", "-4", "-n", "1", "-c", str(config)]
    with running(command, port, directory / "named.stderr"):
        return measure(
            port,
            ZONE_BIND + ".",
            f"_acme-challenge.home.{ZONE_BIND}.",
            ("bench.", key_secret, "hmac-sha256."),
            seconds,
            clients,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("named runs as root here (as in tests/providers/test_rfc2136_bind.py)")
    hp: list[float] = []
    bind: list[float] = []
    with tempfile.TemporaryDirectory(prefix="update-tsig-") as tmp:
        for i in range(args.rounds):  # alternate, so machine noise hits both alike
            round_dir = Path(tmp) / f"r{i}"
            round_dir.mkdir()
            hp.append(run_homeport_server(round_dir, args.seconds, args.clients))
            bind.append(run_bind(round_dir, args.seconds, args.clients))
    hp_med, bind_med = sorted(hp)[len(hp) // 2], sorted(bind)[len(bind) // 2]
    print(
        f"UPDATE round trips/s over TCP with TSIG (hmac-sha256), {args.clients} clients, "
        f"{args.rounds} alternating rounds of {args.seconds:.0f} s"
    )
    print("| server | median/s | rounds |")
    print("|---|---:|---|")
    print(f"| homeport | {hp_med:,.0f} | {', '.join(f'{x:.0f}' for x in hp)} |")
    print(f"| BIND 9.18 | {bind_med:,.0f} | {', '.join(f'{x:.0f}' for x in bind)} |")
    print(f"homeport / BIND: {hp_med / bind_med:.2f}x")


if __name__ == "__main__":
    main()
