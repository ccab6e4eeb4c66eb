"""A real ``homeport server`` inside the lab's ``inet`` namespace (the provider on the internet)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import homeport_env
from tests.lab.netlab import Lab

ZONE = "dyn.example.net"
HOST = "myhome.dyn.example.net"
HTTP_PORT = 8245
# The lab's addresses are documentation (TEST-NET-3, 2001:db8::/32), CGNAT and RFC 1918
# ranges, which the server's probe refuses unless they are named as lab networks.
LAB_NETWORKS = ["203.0.113.0/24", "100.64.0.0/10", "192.168.0.0/16", "2001:db8::/32"]


@dataclass
class LabServer:
    lab: Lab
    data: Path
    proc: subprocess.Popen[bytes]
    secrets: dict[str, str]
    argv: tuple[str, ...] = ()  # how it was started, for restart()

    @property
    def url(self) -> str:
        return f"http://{self.lab.inet_ip}:{HTTP_PORT}"

    @property
    def url6(self) -> str:
        return f"http://[{self.lab.inet_ip6}]:{HTTP_PORT}"

    def admin(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homeport", "server", *args, "--data", str(self.data)],
            capture_output=True,
            text=True,
            timeout=60,
            env=homeport_env(),
            input=input,
        )

    def dig(self, name: str, rdtype: str = "A") -> list[str]:
        result = self.lab.exec(
            "inet", "dig", f"@{self.lab.inet_ip}", name, rdtype, "+short", "+norec", "+time=2"
        )
        return sorted(line for line in result.stdout.splitlines() if line)

    def restart(self, *, while_down: Callable[[], None] | None = None) -> None:
        """Stop the server (SIGTERM, a clean stop) and start it again on the same data;
        ``while_down`` runs in between."""
        self.proc.terminate()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if while_down is not None:
            while_down()
        self.proc = _launch(self.lab, self.argv)

    def log(self) -> str:
        return (self.lab.workdir / "server.log").read_text(errors="replace")

    def secret_file(self, host: str = HOST) -> Path:
        path = self.lab.workdir / f"secret-{host}"
        path.write_text(self.secrets[host])
        path.chmod(0o600)
        return path


def start_lab_server(
    lab: Lab,
    hosts: tuple[str, ...] = (HOST,),
    probe: str = "",
    more: str = "",
    limits: str = "off",
) -> LabServer:
    """Zone dyn.example.net served from inet (NS ns1 with glue = inet's address) on :53 and
    :8245, IPv4 and (in the single topology) IPv6; ``probe``: more lines of its [probe]
    section (it always allows the lab's networks); ``more``: more sections of its TOML;
    ``limits``: "on" for the throttles (failed logins) a test is about."""
    data = lab.workdir / "server-data"
    env = homeport_env()
    base = [sys.executable, "-m", "homeport", "server"]
    subprocess.run(
        [*base, "zone", "add", ZONE, "--ns", f"ns1.{ZONE}={lab.inet_ip}", "--data", str(data)],
        check=True,
        capture_output=True,
        env=env,
    )
    secrets = {}
    for host in hosts:
        out = subprocess.run(
            [*base, "host", "add", host, "--json", "--data", str(data)],
            check=True,
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        secrets[host] = json.loads(out)["secret"]
    listen = ["--http", f"0.0.0.0:{HTTP_PORT}", "--dns", "0.0.0.0:53"]
    if lab.topology == "single":
        listen += ["--http", f"[::]:{HTTP_PORT}", "--dns", "[::]:53"]
    path = lab.workdir / "server.toml"
    path.write_text(f"[probe]\nlab_networks = {json.dumps(LAB_NETWORKS)}\n{probe}\n{more}")
    listen += ["--config", str(path)]
    argv = (*base, "run", "--data", str(data), "--limits", limits, *listen)
    return LabServer(lab, data, _launch(lab, argv), secrets, argv)


def _launch(lab: Lab, argv: tuple[str, ...]) -> subprocess.Popen[bytes]:
    """Start the server; its log goes to server.log in the lab's directory (for failures)."""
    with (lab.workdir / "server.log").open("ab") as log:
        proc = lab.popen("inet", *argv, stdout=subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(b"ready "):
        raise RuntimeError(f"lab server did not start: {line!r}")
    return proc
