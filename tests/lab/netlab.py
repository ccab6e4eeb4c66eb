"""The namespace lab: a home network behind a real router, as a Python API.

Topologies (addresses are the same in every run; each run has its own namespaces, so runs in
parallel never meet)::

    single  home 192.168.77.10 -- router (LAN .77.1 | WAN 203.0.113.2, NAT + miniupnpd) -- inet
            IPv6: home 2001:db8:77::10 -- router (no NAT, filtered) -- inet 2001:db8:113::1
    cgnat   home -- router (WAN 100.64.0.2) -- isp (100.64.0.1 | 203.0.113.2, masquerade) -- inet
    dmz     like cgnat, but the isp forwards everything for 203.0.113.2 to 100.64.0.2
            (a modem's "DMZ host"): double NAT that still works

``inet`` holds 203.0.113.1 and .3 and runs the lab's STUN server (miniupnpd refuses reserved WAN
addresses, 203.0.113/24 included, unless STUN with CHANGE-REQUEST from two addresses says the
path is open). Usage::

    lab = Lab.up("single")
    try:
        lab.exec("home", "ip", "addr")
        server = lab.start_tcp_server("home", lab.home_ip, 8080)
        assert lab.probe_tcp("inet", lab.public_ip, 8080) is None   # nothing mapped yet
    finally:
        lab.down()

Everything (processes, namespaces, veths, the miniupnpd lease file) goes in ``down()``.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import homeport_env
from tests.lab import configs

HERE = Path(__file__).resolve().parent
TOPOLOGIES = ("single", "cgnat", "dmz")
ROLES = ("home", "router", "isp", "inet")
HTTP_PORT = 5000  # miniupnpd's UPnP HTTP port inside the router namespace (per-lab, no clash)
NATPMP_PORT = 5351  # RFC 6886 §3 / RFC 6887 §19.1
BANNER = b"hello from home\n"
START_TIMEOUT = 10.0
NETNS_ETC = Path("/etc/netns")  # ip-netns(8): files here are bind-mounted over /etc by exec


class LabError(RuntimeError):
    """The lab could not be built (missing root, missing peer, miniupnpd did not start)."""


def _run(cmd: Sequence[str], *, input: str | None = None, check: bool = True) -> str:
    proc = subprocess.run(list(cmd), input=input, capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Lab:
    """One running topology. Addresses are attributes; namespaces are named by role."""

    topology: str
    workdir: Path
    suffix: str
    min_lifetime: int
    ns: dict[str, str] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    miniupnpd: subprocess.Popen[bytes] | None = None

    home_ip: str = "192.168.77.10"
    router_lan_ip: str = "192.168.77.1"
    router_wan_ip: str = "203.0.113.2"
    public_ip: str = "203.0.113.2"  # what the world sees: the router (single) or the isp
    inet_ip: str = "203.0.113.1"
    stun_alt_ip: str = "203.0.113.3"
    isp_lan_ip: str = "100.64.0.1"
    home_ip6: str = "2001:db8:77::10"
    router_lan_ip6: str = "2001:db8:77::1"
    router_wan_ip6: str = "2001:db8:113::2"
    inet_ip6: str = "2001:db8:113::1"

    # -- names ---------------------------------------------------------------------------
    def ifname(self, which: str) -> str:
        """Interface names carry the run's suffix too (IFNAMSIZ: at most 15 characters)."""
        return f"hp{self.suffix}{which}"

    @property
    def home_if(self) -> str:
        return self.ifname("h")

    @property
    def lan_if(self) -> str:
        return self.ifname("l")

    @property
    def wan_if(self) -> str:
        return self.ifname("w")

    @property
    def lease_file(self) -> Path:
        return self.workdir / "upnp.leases"

    @property
    def upnp_url(self) -> str:
        return f"http://{self.router_lan_ip}:{HTTP_PORT}/rootDesc.xml"

    # -- life cycle ------------------------------------------------------------------------
    @classmethod
    def up(cls, topology: str = "single", *, min_lifetime: int = 2) -> Lab:
        """Build ``topology`` and start STUN and miniupnpd; ``down()`` undoes all of it."""
        if topology not in TOPOLOGIES:
            raise ValueError(f"unknown topology {topology!r}")
        if os.geteuid() != 0:
            raise LabError("the namespace lab needs root")
        for tool in ("ip", "nft", "miniupnpd"):
            if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
                raise LabError(f"{tool} is not installed (scripts/debian-test-packages.txt)")
        suffix = secrets.token_hex(3)
        lab = cls(
            topology=topology,
            workdir=Path(tempfile.mkdtemp(prefix=f"homeport-lab-{suffix}-")),
            suffix=suffix,
            min_lifetime=min_lifetime,
        )
        try:
            lab._build()
        except BaseException:
            lab.down()
            raise
        return lab

    def down(self) -> None:
        """Kill every process, delete every namespace (and with it every veth) and the files."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        self.procs.clear()
        for name in self.ns.values():
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
            shutil.rmtree(NETNS_ETC / name, ignore_errors=True)
        self.ns.clear()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # -- running things ----------------------------------------------------------------------
    def _argv(self, role: str, cmd: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns[role], *cmd]

    def exec(
        self,
        role: str,
        *cmd: str,
        check: bool = True,
        timeout: float = 60,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` inside namespace ``role`` and wait for it."""
        proc = subprocess.run(
            self._argv(role, cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            input=input,
            env=homeport_env(),
        )
        if check and proc.returncode != 0:
            raise LabError(f"[{role}] {' '.join(cmd)} -> {proc.returncode}: {proc.stderr.strip()}")
        return proc

    def popen(self, role: str, *cmd: str, **kwargs: object) -> subprocess.Popen[bytes]:
        """Start ``cmd`` inside namespace ``role``; it is killed by ``down()``."""
        kwargs.setdefault("env", homeport_env())
        proc: subprocess.Popen[bytes] = subprocess.Popen(self._argv(role, cmd), **kwargs)  # type: ignore[call-overload]
        self.procs.append(proc)
        return proc

    def homeport(
        self, role: str, *args: str, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run this checkout's ``homeport`` CLI inside namespace ``role``."""
        env = homeport_env({"HOMEPORT_STATE_DIR": str(self.workdir / f"state-{role}")})
        return subprocess.run(
            self._argv(role, [sys.executable, "-m", "homeport", *args]),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )

    def python(self, role: str, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.exec(role, sys.executable, "-c", code, *args, check=False)

    def start_tcp_server(self, role: str, *addresses: str, port: int) -> subprocess.Popen[bytes]:
        """A server that answers every TCP connection with :data:`BANNER` (v4 and v6)."""
        return self._start_ready(role, "banner_server.py", str(port), *addresses)

    def start_web_server(
        self, role: str, address: str, port: int, directory: Path
    ) -> subprocess.Popen[bytes]:
        """An HTTP server for ``directory`` on address:port (a home web site)."""
        return self._start_ready(role, "web_server.py", str(port), address, str(directory))

    def _start_ready(self, role: str, script: str, *args: str) -> subprocess.Popen[bytes]:
        """One of the lab's own servers; it prints "ready" once it listens."""
        proc = self.popen(
            role,
            sys.executable,
            str(HERE / script),
            *args,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if b"ready" not in line:
            raise LabError(f"{script} did not start: {line!r}")
        return proc

    def use_resolver(self, role: str, nameserver: str) -> None:
        """Programs run in ``role`` (glibc, curl) resolve names through ``nameserver``."""
        etc = NETNS_ETC / self.ns[role]
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {nameserver}\noptions timeout:2 attempts:1\n")

    def probe_tcp(self, role: str, host: str, port: int, timeout: float = 2.0) -> bytes | None:
        """Connect from ``role`` to host:port: the first bytes read (b"" if the server says
        nothing), or None when it cannot connect."""
        # Connected but silent (an HTTP server waiting for a request) reads as b"".
        code = (
            "import socket,sys\n"
            "try:\n"
            f"    s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout={timeout})\n"
            "except OSError:\n"
            "    sys.exit(3)\n"
            "try:\n"
            "    sys.stdout.write(s.recv(100).decode())\n"
            "except OSError:\n"
            "    pass\n"
        )
        proc = self.python(role, code, host, str(port))
        return proc.stdout.encode() if proc.returncode == 0 else None

    def wait_tcp(self, role: str, host: str, port: int, timeout: float = 10.0) -> None:
        """Wait until host:port accepts connections from ``role`` (a server coming up)."""
        deadline = time.monotonic() + timeout
        while self.probe_tcp(role, host, port, timeout=0.5) is None:
            if time.monotonic() > deadline:
                raise LabError(f"{host}:{port} not reachable from {role} after {timeout} s")
            time.sleep(0.1)

    # -- router operations -------------------------------------------------------------------
    def restart_miniupnpd(
        self, *, keep_leases: bool = False, while_down: Callable[[], None] | None = None
    ) -> None:
        """Stop miniupnpd, forget its mappings (a reboot) unless ``keep_leases``, start it.

        ``while_down`` runs between the two, when nothing can put a mapping back: the place to
        check that the reboot really lost them (after the start, an agent may already have
        re-created them, which is the point).
        """
        self.stop_miniupnpd()
        if not keep_leases:
            self.lease_file.unlink(missing_ok=True)
            for chain in ("miniupnpd", "prerouting_miniupnpd", "postrouting_miniupnpd"):
                self.exec("router", "nft", "flush", "chain", "inet", "filter", chain, check=False)
        if while_down is not None:
            while_down()
        self._start_miniupnpd()

    def stop_miniupnpd(self) -> None:
        proc = self.miniupnpd
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.miniupnpd = None

    def set_router_wan_address(self, new_ip: str) -> None:
        """Give the router a new WAN address (an ISP re-assignment) and tell miniupnpd.

        Only for ``single``: there the WAN address is also the public one.
        """
        if self.topology != "single":
            raise LabError("set_router_wan_address is for the single topology")
        old = self.router_wan_ip
        # With promote_secondaries the new address survives the old one's removal, so the
        # interface is never without an address (miniupnpd re-runs STUN on the netlink event).
        self._sysctl("router", f"net.ipv4.conf.{self.wan_if}.promote_secondaries=1")
        self.exec("router", "ip", "addr", "add", f"{new_ip}/24", "dev", self.wan_if)
        self.exec("router", "ip", "addr", "del", f"{old}/24", "dev", self.wan_if)
        self.exec("router", "ip", "route", "replace", "default", "via", self.inet_ip)
        self.router_wan_ip = self.public_ip = new_ip
        # miniupnpd re-runs STUN and notifies (GENA, NAT-PMP, PCP) on SIGUSR1.
        if self.miniupnpd is not None:
            self.miniupnpd.send_signal(signal.SIGUSR1)

    def router_rules(self) -> str:
        return self.exec("router", "nft", "list", "table", "inet", "filter").stdout

    def miniupnpd_log(self) -> str:
        path = self.workdir / "miniupnpd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- building ----------------------------------------------------------------------------
    def _build(self) -> None:
        roles = ("home", "router", "inet") if self.topology == "single" else ROLES
        for role in roles:
            name = f"hp-{self.suffix}-{role}"
            _run(["ip", "netns", "add", name])
            self.ns[role] = name
            _run(["ip", "-n", name, "link", "set", "lo", "up"])
        n = self.ns
        nft_in = {role: ["ip", "netns", "exec", n[role], "nft", "-f", "-"] for role in roles}
        self._veth("home", self.home_if, "router", self.lan_if)
        self._addr("home", self.home_if, f"{self.home_ip}/24")
        self._ip("home", "route", "add", "default", "via", self.router_lan_ip)
        self._addr("router", self.lan_if, f"{self.router_lan_ip}/24")
        self._sysctl("router", "net.ipv4.ip_forward=1")
        inet_if = self.ifname("i")
        if self.topology == "single":
            self._veth("router", self.wan_if, "inet", inet_if)
            self._addr("router", self.wan_if, f"{self.router_wan_ip}/24")
            self._ip("router", "route", "add", "default", "via", self.inet_ip)
        else:
            self.router_wan_ip = "100.64.0.2"
            isp_in, isp_out = self.ifname("a"), self.ifname("b")
            self._veth("router", self.wan_if, "isp", isp_in)
            self._veth("isp", isp_out, "inet", inet_if)
            self._addr("router", self.wan_if, f"{self.router_wan_ip}/24")
            self._ip("router", "route", "add", "default", "via", self.isp_lan_ip)
            self._addr("isp", isp_in, f"{self.isp_lan_ip}/24")
            self._addr("isp", isp_out, f"{self.public_ip}/24")
            self._ip("isp", "route", "add", "default", "via", self.inet_ip)
            self._sysctl("isp", "net.ipv4.ip_forward=1")
            ruleset = configs.isp_ruleset(
                isp_out, self.public_ip, self.router_wan_ip, dmz=self.topology == "dmz"
            )
            _run(nft_in["isp"], input=ruleset)
        self._addr("inet", inet_if, f"{self.inet_ip}/24")
        self._addr("inet", inet_if, f"{self.stun_alt_ip}/24")
        _run(nft_in["router"], input=configs.router_ruleset(self.lan_if, self.wan_if))
        if self.topology == "single":
            # IPv6 without NAT, for WANIPv6FirewallControl pinholes. Addresses before miniupnpd
            # starts: it reads them once. nodad: usable at once, no 1 s duplicate detection.
            self._sysctl("router", "net.ipv6.conf.all.forwarding=1")
            self._addr("home", self.home_if, f"{self.home_ip6}/64", v6=True)
            self._ip("home", "-6", "route", "add", "default", "via", self.router_lan_ip6)
            self._addr("router", self.lan_if, f"{self.router_lan_ip6}/64", v6=True)
            self._addr("router", self.wan_if, f"{self.router_wan_ip6}/64", v6=True)
            self._addr("inet", inet_if, f"{self.inet_ip6}/64", v6=True)
            self._ip("inet", "-6", "route", "add", "2001:db8:77::/64", "via", self.router_wan_ip6)
        stun = self.popen(
            "inet",
            sys.executable,
            str(HERE / "stun_server.py"),
            self.inet_ip,
            self.stun_alt_ip,
            stdout=subprocess.PIPE,
        )
        assert stun.stdout is not None
        if b"ready" not in stun.stdout.readline():
            raise LabError("STUN server did not start")
        self._start_miniupnpd()

    def _start_miniupnpd(self) -> None:
        conf = self.workdir / "miniupnpd.conf"
        conf.write_text(
            configs.miniupnpd_conf(
                wan_if=self.wan_if,
                lan_if=self.lan_if,
                stun_host=self.inet_ip,
                http_port=HTTP_PORT,
                ipv6=self.topology == "single",
                min_lifetime=self.min_lifetime,
                lease_file=str(self.lease_file),
                lan_net="192.168.77.0/24",
            )
        )
        log_path = self.workdir / "miniupnpd.log"
        log = log_path.open("ab")
        mark = log_path.stat().st_size
        self.miniupnpd = self.popen(
            "router",
            "/usr/sbin/miniupnpd",
            "-f",
            str(conf),
            "-P",
            str(self.workdir / "miniupnpd.pid"),
            "-d",
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            text = log_path.read_bytes()[mark:].decode(errors="replace")
            if "HTTP listening" in text and ("NAT-PMP" in text or "PCP" in text):
                return
            if self.miniupnpd.poll() is not None:
                break
            time.sleep(0.02)
        raise LabError(f"miniupnpd did not start:\n{self.miniupnpd_log()}")

    def _ip(self, role: str, *args: str) -> None:
        _run(["ip", "-n", self.ns[role], *args])

    def _addr(self, role: str, dev: str, cidr: str, *, v6: bool = False) -> None:
        extra = ["nodad"] if v6 else []
        self._ip(role, "addr", "add", cidr, "dev", dev, *extra)

    def _sysctl(self, role: str, setting: str) -> None:
        _run(["ip", "netns", "exec", self.ns[role], "sysctl", "-qw", setting])

    def _veth(self, role_a: str, name_a: str, role_b: str, name_b: str) -> None:
        _run(
            [
                *("ip", "link", "add", name_a, "netns", self.ns[role_a], "type", "veth"),
                *("peer", "name", name_b, "netns", self.ns[role_b]),
            ]
        )
        self._ip(role_a, "link", "set", name_a, "up")
        self._ip(role_b, "link", "set", name_b, "up")
