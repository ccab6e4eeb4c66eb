"""The relay's lab: the services at home, OpenSSH's sshd on the internet, and the faults.

Everything a relay test or benchmark needs besides the relay itself (which is the homeport
server in ``inet``, tests/e2e/labserver.py):

- :func:`make_cert`: a self-signed certificate for the host name, made in the lab's own
  directory and given only to the home service (the point of SNI passthrough: the relay
  never holds the key);
- :func:`start_haproxy`: haproxy at home with ``accept-proxy``; it answers every request
  with the visitor address it was told by the PROXY v2 header, and logs it;
- :func:`start_sha_server` / :func:`sha_visit`: the raw TCP service whose every byte is
  hashed (tests/lab/sha_server.py, sha_client.py);
- :class:`Sshd`: OpenSSH's sshd in ``inet`` (key auth only, ``GatewayPorts yes``), the
  ``ssh -R`` baseline the benchmark compares with; :func:`ssh_keypair`,
  :func:`ssh_reverse_argv`;
- faults: :func:`kill_connections` (``ss -K``), :func:`drop_packets` (nft), and
  :func:`move_carrier_addresses` (the ISP gives the home network new WAN addresses).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.lab.netlab import HERE, Lab, LabError

SSHD = Path("/usr/sbin/sshd")
SSHD_PRIVSEP = Path("/run/sshd")  # sshd refuses to start without its privilege separation dir
SSH_OPTIONS = (
    *("-F", "/dev/null"),  # not root's own ~/.ssh/config
    *("-o", "BatchMode=yes"),
    *("-o", "IdentitiesOnly=yes"),
    *("-o", "StrictHostKeyChecking=no"),
    *("-o", "UserKnownHostsFile=/dev/null"),
    *("-o", "ExitOnForwardFailure=yes"),
    *("-o", "ServerAliveInterval=5"),
)


def make_cert(lab: Lab, name: str) -> tuple[Path, Path]:
    """(cert, key) PEM files for ``name``: self-signed ECDSA P-256, a day long."""
    cert, key = lab.workdir / f"{name}.crt", lab.workdir / f"{name}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-days", "1", "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


def start_tls_web_server(
    lab: Lab, address: str, port: int, directory: Path, cert: Path, key: Path
) -> subprocess.Popen[bytes]:
    """An HTTPS site at home: TLS ends here, with the home's own certificate."""
    return lab._start_ready(
        "home", "web_server.py", str(port), address, str(directory), str(cert), str(key)
    )


def haproxy_config(address: str, port: int) -> str:
    """A front end that needs a PROXY v2 header (``accept-proxy``) and answers with the
    visitor it names: what a home service behind the relay learns about its visitors."""
    return f"""
global
    log stdout format raw local0
    maxconn 512
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend proxied
    bind {address}:{port} accept-proxy
    log-format "visitor %ci:%cp"
    http-request return status 200 content-type text/plain lf-string "visitor %[src]:%[src_port]\\n"
"""


def start_haproxy(lab: Lab, address: str, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    """haproxy at home on address:port; (process, its log file)."""
    if shutil.which("haproxy") is None:
        raise LabError("haproxy is not installed (scripts/debian-test-packages.txt)")
    conf = lab.workdir / "haproxy.cfg"
    conf.write_text(haproxy_config(address, port))
    check = lab.exec("home", "haproxy", "-c", "-f", str(conf), check=False)
    if check.returncode != 0:
        raise LabError(f"haproxy config refused: {check.stdout}{check.stderr}")
    log = lab.workdir / "haproxy.log"
    with log.open("wb") as out:
        proc = lab.popen("home", "haproxy", "-db", "-f", str(conf), stdout=out, stderr=out)
    lab.wait_tcp("home", address, port)
    return proc, log


def start_sha_server(lab: Lab, address: str, port: int, name: str) -> subprocess.Popen[bytes]:
    """tests/lab/sha_server.py at home, answering as ``name``."""
    return lab._start_ready("home", "sha_server.py", str(port), address, name)


def sha_visit(
    lab: Lab,
    host: str,
    port: int,
    name: str,
    command: str = "get",
    size: int = 65536,
    *,
    role: str = "inet",
    until: float = 0.0,
    timeout: float = 10.0,
    source: str = "",
) -> dict[str, object]:
    """Run tests/lab/sha_client.py as a visitor in ``role``; its JSON verdict."""
    argv = [sys.executable, str(HERE / "sha_client.py"), host, str(port), name, command]
    argv += [str(size), "--until", str(until), "--timeout", str(timeout)]
    if source:
        argv += ["--source", source]
    done = lab.exec(role, *argv, check=False, timeout=until + timeout * 3 + 60)
    if done.returncode != 0:
        raise LabError(f"sha_client failed: {done.stderr.strip()}")
    result: dict[str, object] = json.loads(done.stdout)
    return result


# -- OpenSSH ---------------------------------------------------------------------------------


def ssh_keypair(lab: Lab, name: str) -> tuple[Path, str]:
    """(private key file, public key line): an ed25519 key without passphrase."""
    key = lab.workdir / f"ssh-{name}"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return key, key.with_suffix(".pub").read_text().strip()


@dataclass
class Sshd:
    """OpenSSH's sshd in ``inet`` on address:port, root login by key only, remote
    forwards open to the world (``GatewayPorts yes``): the reverse-SSH-tunnel VPS of the
    seed's advice."""

    lab: Lab
    address: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, lab: Lab, address: str, port: int, authorized: list[str]) -> Sshd:
        if not SSHD.exists():
            raise LabError(
                "sshd is not installed (openssh-server: scripts/debian-test-packages.txt)"
            )
        SSHD_PRIVSEP.mkdir(mode=0o755, exist_ok=True)
        home = lab.workdir / "sshd"
        home.mkdir(exist_ok=True)
        host_key = home / "host_ed25519"
        if not host_key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                check=True,
                capture_output=True,
                timeout=30,
            )
        (home / "authorized_keys").write_text("".join(f"{line}\n" for line in authorized))
        conf = home / "sshd_config"
        conf.write_text(
            f"Port {port}\nListenAddress {address}\nHostKey {host_key}\n"
            f"PidFile {home / 'sshd.pid'}\nAuthorizedKeysFile {home / 'authorized_keys'}\n"
            "PubkeyAuthentication yes\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n"
            # The lab's temp dir is not the user's home: skip the ownership checks on it.
            "StrictModes no\n"
            "GatewayPorts yes\nAllowTcpForwarding remote\nX11Forwarding no\n"
            "PermitTTY no\nPrintMotd no\nUseDNS no\nMaxStartups 100\n"
        )
        log = home / "sshd.log"
        with log.open("wb") as out:
            proc = lab.popen("inet", str(SSHD), "-D", "-e", "-f", str(conf), stdout=out, stderr=out)
        lab.wait_tcp("inet", address, port)
        return cls(lab, address, port, proc, log)


def ssh_reverse_argv(
    key: Path,
    user: str,
    server: str,
    port: int,
    remote: str,
    local: str,
    *,
    log_level: str = "ERROR",
) -> list[str]:
    """``ssh -N -R remote:local user@server -p port`` with the lab's batch options
    (``log_level`` INFO: OpenSSH says which port a ``-R 0:...`` got)."""
    return ["ssh", *SSH_OPTIONS, "-o", f"LogLevel={log_level}", "-i", str(key), "-N",
            "-R", f"{remote}:{local}", "-p", str(port), f"{user}@{server}"]  # fmt: skip


# -- faults ----------------------------------------------------------------------------------


def kill_connections(lab: Lab, role: str, address: str, port: int) -> str:
    """Destroy every TCP connection in ``role`` to address:port (``ss -K``, the kernel
    aborts them as a NAT box's timeout or a crashed peer would); ``ss``'s listing of them."""
    return lab.exec(
        role, "ss", "-K", "-t", "-n", "dst", address, "dport", "=", str(port), check=False
    ).stdout


@contextlib.contextmanager
def drop_packets(lab: Lab, role: str) -> Iterator[None]:
    """Drop every forwarded packet in ``role`` (a router or the ISP) while inside: a dead
    link without any signal (no RST, no ICMP), the way a line drops out."""
    table = f"hplabdrop{lab.suffix}"
    lab.exec(
        role,
        "nft",
        "-f",
        "-",
        input=f"table inet {table} {{\n  chain forward {{ type filter hook forward priority -300;"
        " policy drop; }\n}\n",
    )
    try:
        yield
    finally:
        lab.exec(role, "nft", "delete", "table", "inet", table)


def move_carrier_addresses(lab: Lab, router_wan: str, public: str) -> None:
    """The ISP hands the home network new addresses (cgnat and dmz: a redial): the router's
    carrier-side WAN address and the carrier NAT's public address both change. The kernel's
    masquerade forgets every connection that used the old addresses (nf_nat_masquerade),
    so established connections through them are dead without a word."""
    if lab.topology == "single":
        raise LabError("move_carrier_addresses is for the cgnat and dmz topologies")
    wan, isp_out = lab.wan_if, lab.ifname("b")
    lab.exec("router", "sysctl", "-qw", f"net.ipv4.conf.{wan}.promote_secondaries=1")
    lab.exec("router", "ip", "addr", "add", f"{router_wan}/24", "dev", wan)
    lab.exec("router", "ip", "addr", "del", f"{lab.router_wan_ip}/24", "dev", wan)
    lab.exec("router", "ip", "route", "replace", "default", "via", lab.isp_lan_ip)
    lab.exec("isp", "sysctl", "-qw", f"net.ipv4.conf.{isp_out}.promote_secondaries=1")
    lab.exec("isp", "ip", "addr", "add", f"{public}/24", "dev", isp_out)
    lab.exec("isp", "ip", "addr", "del", f"{lab.public_ip}/24", "dev", isp_out)
    lab.exec("isp", "ip", "route", "replace", "default", "via", lab.inet_ip)
    if lab.topology == "dmz":
        lab.exec("isp", "nft", "flush", "chain", "ip", "nat", "prerouting")
        lab.exec(
            "isp",
            *("nft", "add", "rule", "ip", "nat", "prerouting", "iifname", isp_out),
            *("ip", "daddr", public, "dnat", "to", router_wan),
        )
    lab.router_wan_ip, lab.public_ip = router_wan, public
