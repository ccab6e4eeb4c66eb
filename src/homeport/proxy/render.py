"""Caddy, nginx and haproxy configs (and systemd units) as text: pure, no I/O.

The seed's setup, generated: TLS ends at the proxy with the certificate
``homeport cert`` keeps in ``CERT_DIR/NAME/`` (``fullchain.pem``, ``privkey.pem``), and
each public port forwards to one local service, plain HTTP (``http://``) or HTTP/2
without TLS (``h2c://``, what a gRPC server speaks). The proxy never obtains
certificates itself (Caddy's automatic HTTPS is switched off): homeport does, through
DNS-01, with no port 80 open; the renewal hook reloads the proxy.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from homeport.errors import UsageError

KINDS = ("caddy", "nginx", "haproxy")
SCHEMES = ("http", "h2c")
_SERVICE = re.compile(
    r"^(?P<port>\d{1,5})=(?P<scheme>[a-z0-9]+)://(?P<host>[^/\s:]+|\[[0-9a-fA-F:.]+\]):(?P<upstream>\d{1,5})/?$"
)
_NAME = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9-]{2,63}$"
)
# What Debian's packages install (caddy, haproxy, nginx-light) and the unit files use.
BINARIES = {"caddy": "/usr/bin/caddy", "haproxy": "/usr/sbin/haproxy", "nginx": "/usr/sbin/nginx"}
# Proxy timeouts (haproxy insists on them): long enough for a gRPC stream to sit idle.
CONNECT_TIMEOUT = "5s"
IDLE_TIMEOUT = "1h"


@dataclass(frozen=True)
class Service:
    """Public TLS ``port`` -> ``scheme://host:upstream`` on this machine."""

    port: int
    scheme: str
    host: str
    upstream: int

    @property
    def target(self) -> str:
        return f"{self.host}:{self.upstream}"


@dataclass(frozen=True)
class Site:
    name: str
    cert_dir: PurePosixPath  # the directory holding NAME/
    services: tuple[Service, ...]
    bind: str | None = None  # listen address; None: all
    admin: str | None = None  # Caddy's admin endpoint; None: Caddy's default, "off": none

    @property
    def fullchain(self) -> str:
        return str(self.cert_dir / self.name / "fullchain.pem")

    @property
    def privkey(self) -> str:
        return str(self.cert_dir / self.name / "privkey.pem")


def parse_service(text: str) -> Service:
    """``443=http://127.0.0.1:888`` or ``8443=h2c://127.0.0.1:8000``; UsageError otherwise."""
    match = _SERVICE.match(text.strip())
    if match is None:
        raise UsageError(
            f"--service {text[:80]!r}: expected PORT=http://HOST:PORT or PORT=h2c://HOST:PORT"
        )
    port, upstream = int(match["port"]), int(match["upstream"])
    if not (0 < port < 65536 and 0 < upstream < 65536):
        raise UsageError(f"--service {text[:80]!r}: ports are 1-65535")
    if match["scheme"] not in SCHEMES:
        raise UsageError(f"--service {text[:80]!r}: scheme must be one of {', '.join(SCHEMES)}")
    return Service(port, match["scheme"], match["host"], upstream)


def site(
    name: str,
    cert_dir: str,
    services: Sequence[str],
    *,
    bind: str | None = None,
    admin: str | None = None,
) -> Site:
    if not _NAME.match(name):
        raise UsageError(f"--name {name[:80]!r} is not a host name")
    if not services:
        raise UsageError("give at least one --service PORT=http://HOST:PORT")
    parsed = tuple(parse_service(s) for s in services)
    ports = [s.port for s in parsed]
    if len(set(ports)) != len(ports):
        raise UsageError("two --service entries share one public port")
    directory = PurePosixPath(cert_dir)
    if not directory.is_absolute():
        raise UsageError("--cert-dir must be an absolute path (the proxy runs elsewhere)")
    return Site(name.lower(), directory, parsed, bind, admin)


def caddy(s: Site) -> str:
    lines = [
        f"# Caddy: TLS for {s.name} with homeport's certificate (homeport proxy caddy).",
        "# Certificates come from `homeport cert` (DNS-01); Caddy obtains none itself.",
        "{",
        "\tauto_https off",
    ]
    if s.admin:
        lines.append(f"\tadmin {s.admin}")
    lines.append("}")
    for service in s.services:
        lines += [
            "",
            f"https://{s.name}:{service.port} {{",
            *([f"\tbind {s.bind}"] if s.bind else []),
            f"\ttls {s.fullchain} {s.privkey}",
            f"\treverse_proxy {service.scheme}://{service.target}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def nginx(s: Site) -> str:
    lines = [
        f"# nginx: TLS for {s.name} with homeport's certificate (homeport proxy nginx).",
        "# h2c upstreams are gRPC (grpc_pass); plain ones are HTTP/1.1 (proxy_pass).",
    ]
    for service in s.services:
        listen = f"{s.bind}:{service.port}" if s.bind else str(service.port)
        if service.scheme == "h2c":
            location = [f"\t\tgrpc_pass grpc://{service.target};"]
        else:
            location = [
                f"\t\tproxy_pass http://{service.target};",
                "\t\tproxy_set_header Host $host;",
                "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                "\t\tproxy_set_header X-Forwarded-Proto https;",
            ]
        lines += [
            "",
            "server {",
            f"\tlisten {listen} ssl http2;",
            f"\tserver_name {s.name};",
            f"\tssl_certificate {s.fullchain};",
            f"\tssl_certificate_key {s.privkey};",
            "\tlocation / {",
            *location,
            "\t}",
            "}",
        ]
    return "\n".join(lines) + "\n"


def haproxy(s: Site) -> str:
    """haproxy wants the key beside the chain: ``fullchain.pem.key`` (homeport writes it
    as a link to ``privkey.pem``; haproxy 2.2+ loads ``<crt>.key`` by default)."""
    lines = [
        f"# haproxy: TLS for {s.name} with homeport's certificate (homeport proxy haproxy).",
        "global",
        "\tlog stderr format short local0",
        "",
        "defaults",
        "\tmode http",
        "\tlog global",
        f"\ttimeout connect {CONNECT_TIMEOUT}",
        f"\ttimeout client {IDLE_TIMEOUT}",
        f"\ttimeout server {IDLE_TIMEOUT}",
    ]
    for service in s.services:
        label = f"port{service.port}"
        proto = " proto h2" if service.scheme == "h2c" else ""
        lines += [
            "",
            f"frontend {label}",
            f"\tbind {s.bind or ''}:{service.port} ssl crt {s.fullchain} alpn h2,http/1.1",
            f"\tdefault_backend {label}",
            "",
            f"backend {label}",
            f"\tserver local {service.target}{proto}",
        ]
    return "\n".join(lines) + "\n"


RENDERERS = {"caddy": caddy, "nginx": nginx, "haproxy": haproxy}
CONFIG_PATHS = {
    "caddy": "/etc/homeport/Caddyfile",
    "nginx": "/etc/nginx/conf.d/homeport.conf",
    "haproxy": "/etc/homeport/haproxy.cfg",
}


def systemd_unit(kind: str, s: Site, config_path: str | None = None) -> str:
    """A unit that runs the proxy on the generated config; reload = new certificate."""
    path = config_path or CONFIG_PATHS[kind]
    binary = BINARIES[kind]
    quoted = shlex.quote(path)
    start, reload = {
        "caddy": (
            f"{binary} run --environ --adapter caddyfile --config {quoted}",
            f"{binary} reload --adapter caddyfile --config {quoted}",
        ),
        "nginx": (f"{binary} -g 'daemon off;'", f"{binary} -s reload"),
        "haproxy": (f"{binary} -Ws -f {quoted}", "/bin/kill -USR2 $MAINPID"),
    }[kind]
    return (
        "\n".join(
            [
                f"# /etc/systemd/system/homeport-{kind}.service",
                "[Unit]",
                f"Description={kind} TLS proxy for {s.name} (certificate from homeport cert)",
                "Wants=network-online.target",
                "After=network-online.target homeport-agent.service",
                "",
                "[Service]",
                f"ExecStart={start}",
                f"ExecReload={reload}",
                "Restart=on-failure",
                *(["Type=notify"] if kind in ("caddy", "haproxy") else []),
                "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "",
                "[Install]",
                "WantedBy=multi-user.target",
                "",
                "# In /etc/homeport/agent.toml, so each renewal reloads the proxy:",
                "# [[certificate]]",
                f'# name = "{s.name}"',
                f'# directory = "{s.cert_dir}"',
                f'# hook = "systemctl reload homeport-{kind}"',
            ]
        )
        + "\n"
    )
