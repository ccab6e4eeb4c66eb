"""Start a real DNS primary (BIND, Knot) on 127.0.0.1 for RFC 2136 tests, and query it with dig."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

STARTUP_LIMIT = 20.0  # seconds for a server to load its zone on a busy 2-core machine
ZONE = "dyn.homeport.test"


def secret(seed: str) -> str:
    """A deterministic base64 TSIG secret."""
    return base64.b64encode(f"{seed}-0123456789abcdef0123456789".encode()).decode()


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (DNS servers need both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


def zone_text() -> str:
    return (
        f"$TTL 300\n"
        f"@ IN SOA ns1.{ZONE}. hostmaster.{ZONE}. 1 3600 600 86400 60\n"
        f"@ IN NS ns1.{ZONE}.\n"
        f"ns1 IN A 127.0.0.1\n"
        f"home IN A 192.0.2.1\n"
    )


def dig(port: int, name: str, rdtype: str) -> list[str]:
    out = subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+short", "+norecurse", "+time=2", name, rdtype],
        capture_output=True,
        text=True,
        timeout=15,
        check=True,
    )
    return sorted(out.stdout.split())


@contextmanager
def running(command: Sequence[str], port: int, log: Path) -> Iterator[None]:
    """Run ``command`` until the zone answers on ``port``; stop it afterwards, failure or not."""
    with log.open("wb") as stderr:
        process = subprocess.Popen(list(command), stdout=stderr, stderr=stderr)
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while dig_quietly(port) != ["127.0.0.1"]:
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{command[0]} did not serve the zone: {log.read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def dig_quietly(port: int) -> list[str]:
    try:
        return dig(port, f"ns1.{ZONE}", "A")
    except subprocess.SubprocessError:
        return []


NAMED = "/usr/sbin/named"
ALGORITHMS = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]


KEYS = {f"key-{alg}": (alg, secret(alg)) for alg in ALGORITHMS}
KEYS["key-readonly"] = ("hmac-sha256", secret("readonly"))


@dataclass(frozen=True)
class Bind:
    port: int
    directory: Path


def write_bind_config(
    directory: Path, port: int, *, body: str | None = None, zone: str | None = None
) -> Path:
    """named.conf for BIND in ``directory`` on 127.0.0.1:``port``, and its zone file.

    ``body``: the keys and zone statements (default: ``KEYS``, each but the read-only one
    allowed to update ``ZONE``); ``zone``: the zone file's text (default: ``zone_text()``).
    """
    if body is None:
        keys = "".join(
            f'key "{name}" {{ algorithm {alg}; secret "{sec}"; }};\n'
            for name, (alg, sec) in KEYS.items()
        )
        updaters = " ".join(f'key "{name}";' for name in KEYS if name != "key-readonly")
        body = (
            f'{keys}\nzone "{ZONE}" {{\n    type primary;\n    file "{directory}/zone.db";\n'
            f"    allow-update {{ {updaters} }};\n}};\n"
        )
    (directory / "zone.db").write_text(zone_text() if zone is None else zone)
    (directory / "bind.keys").write_text("")  # no trust anchors: never read /etc/bind's
    config = directory / "named.conf"
    config.write_text(
        f"""options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    bindkeys-file "{directory}/bind.keys";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
{body}"""
    )
    return config


def nsd_command(
    tmp: Path,
    port: int,
    origin: str,
    zone_file: Path,
    *options: str,
    key: tuple[str, str, str] | None = None,
    zone_options: Sequence[str] = (),
) -> list[str]:
    """NSD serving ``origin`` from ``zone_file`` on 127.0.0.1:``port``, everything in ``tmp``.

    ``options``: further ``server:`` lines (e.g. ``minimal-responses: yes``); ``key``: a TSIG
    key (name, algorithm, base64 secret) that ``zone_options`` such as ``provide-xfr`` may
    name. Username and chroot empty: NSD stays the user that started it, in ``tmp``; no RRL,
    no control socket.
    """
    extra = "".join(f"    {line}\n" for line in options)
    keys = (
        f'key:\n    name: {key[0]}\n    algorithm: {key[1]}\n    secret: "{key[2]}"\n'
        if key is not None
        else ""
    )
    zone_extra = "".join(f"    {line}\n" for line in zone_options)
    conf = tmp / "nsd.conf"
    conf.write_text(
        f"""server:
    server-count: 1
    ip-address: 127.0.0.1
    port: {port}
    username: ""
    chroot: ""
    zonesdir: "{tmp}"
    database: ""
    zonelistfile: "{tmp}/zone.list"
    xfrdfile: "{tmp}/xfrd.state"
    xfrdir: "{tmp}"
    pidfile: "{tmp}/nsd.pid"
    logfile: "{tmp}/nsd.log"
    rrl-ratelimit: 0
{extra}remote-control:
    control-enable: no
{keys}zone:
    name: {origin}
    zonefile: "{zone_file}"
{zone_extra}"""
    )
    return ["nsd", "-d", "-c", str(conf)]
