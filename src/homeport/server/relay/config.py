"""``[relay]`` in the server's TOML: the relay is off unless asked for.

Checked whole at load: ports in range, the tcp range well formed, no public listener
on a port another relay listener or one of the server's own listeners already uses,
and the public address visitors are sent to (DNS answers it for relayed hosts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Final

import pydantic

from homeport.core.hostport import parse_hostport

# The relay's own port for agents: unprivileged and unassigned by IANA; 7443 is what the
# spec's examples use (an alternative HTTPS port, so middleboxes let TLS through).
DEFAULT_LISTEN: Final = "0.0.0.0:7443"
# Raw TCP tunnels get ports from here: a thousand hosts' worth, above the registered
# services most firewalls know, below the ephemeral range (Linux: 32768-60999).
DEFAULT_TCP_PORTS: Final = "20000-20999"
# rathole and frp keep a pool of idle data connections so a visitor never waits for a
# TLS handshake to the home; four covers a burst of page loads (browsers open ~6).
DEFAULT_SPARES: Final = 4
# Heartbeats every 30 s (NAT mappings on carrier-grade NAT time out after 60 s of TCP
# silence at the earliest, RFC 5382 REQ-5 allows 2 h 4 min); dead after 4/3 of it.
DEFAULT_HEARTBEAT: Final = 30.0
# Per host: tunnels, concurrent visitors (a small site's page load opens ~6 connections;
# 256 is many visitors at once), and bytes per second (0: unlimited).
DEFAULT_MAX_TUNNELS: Final = 8
DEFAULT_MAX_CONNECTIONS: Final = 256

Port = Annotated[int, pydantic.Field(ge=1, le=65535)]


def _listen(value: str) -> str:
    parse_hostport(value)
    return value


def _port_range(value: str) -> str:
    low, sep, high = value.partition("-")
    try:
        first, last = int(low), int(high if sep else low)
    except ValueError:
        raise ValueError(f"tcp_ports must be FIRST-LAST, e.g. {DEFAULT_TCP_PORTS}") from None
    if not 1 <= first <= last <= 65535:
        raise ValueError("tcp_ports must lie within 1-65535, first <= last")
    return value


Listen = Annotated[str, pydantic.AfterValidator(_listen)]
PortRange = Annotated[str, pydantic.AfterValidator(_port_range)]


class RelayConfig(pydantic.BaseModel):
    """The relay (issue #13): public listeners that forward to hosts' tunnel sessions."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    listen: Listen = DEFAULT_LISTEN  # agents' TLS 1.3 control and data connections
    public_ipv4: str = ""  # where visitors reach the relay; DNS answers it for relayed hosts
    public_ipv6: str = ""
    http_ports: list[Port] = [80]
    tls_ports: list[Port] = [443]
    tcp_ports: PortRange = DEFAULT_TCP_PORTS
    bind: str = "0.0.0.0"  # the address the public listeners bind
    cert: Path | None = None  # PEM; unset: a self-signed ECDSA cert made once in the data dir
    key: Path | None = None
    ssh_listen: str = ""  # accept stock `ssh -R` here (empty: off)
    max_tunnels_per_host: int = pydantic.Field(default=DEFAULT_MAX_TUNNELS, ge=1, le=64)
    max_connections_per_host: int = pydantic.Field(default=DEFAULT_MAX_CONNECTIONS, ge=1)
    max_bytes_per_second_per_host: int = pydantic.Field(default=0, ge=0)
    spares: int = pydantic.Field(default=DEFAULT_SPARES, ge=0, le=64)
    heartbeat: float = pydantic.Field(default=DEFAULT_HEARTBEAT, ge=0.5, le=3600)

    @pydantic.field_validator("public_ipv4")
    @classmethod
    def _v4(cls, value: str) -> str:
        if value:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"not an IPv4 address: {value!r}") from None
        return value

    @pydantic.field_validator("public_ipv6")
    @classmethod
    def _v6(cls, value: str) -> str:
        if value:
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                raise ValueError(f"not an IPv6 address: {value!r}") from None
        return value

    @pydantic.field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"not an IP address: {value!r}") from None
        return value

    @pydantic.field_validator("ssh_listen")
    @classmethod
    def _ssh(cls, value: str) -> str:
        return _listen(value) if value else value

    @pydantic.model_validator(mode="after")
    def _whole(self) -> RelayConfig:
        if not self.enabled:
            return self
        if not self.public_ipv4:
            raise ValueError("public_ipv4 is required when the relay is enabled")
        if (self.cert is None) != (self.key is None):
            raise ValueError("cert and key go together (or neither: self-signed)")
        low, high = self.tcp_range
        claimed: dict[int, str] = {}
        public = [(p, "http_ports") for p in self.http_ports]
        public += [(p, "tls_ports") for p in self.tls_ports]
        for port, name in public:
            if port in claimed:
                raise ValueError(f"port {port} is in both {claimed[port]} and {name}")
            if low <= port <= high:
                raise ValueError(f"{name} port {port} lies in tcp_ports {self.tcp_ports}")
            claimed[port] = name
        own = [("listen", self.listen)] + (
            [("ssh_listen", self.ssh_listen)] * bool(self.ssh_listen)
        )
        for name, listen in own:
            host, port = parse_hostport(listen)
            if overlaps(host, self.bind) and (port in claimed or low <= port <= high):
                raise ValueError(f"{name} port {port} is also a public relay port")
        return self

    @property
    def tcp_range(self) -> tuple[int, int]:
        low, _, high = self.tcp_ports.partition("-")
        return int(low), int(high or low)

    def clashes(self, listeners: Iterable[tuple[str, str]]) -> list[str]:
        """The server's own listeners ((option, HOST:PORT)) on a port the relay also binds."""
        if not self.enabled:
            return []
        low, high = self.tcp_range
        ports = {*self.http_ports, *self.tls_ports}
        mine = [parse_hostport(self.listen)]
        if self.ssh_listen:
            mine.append(parse_hostport(self.ssh_listen))
        problems = []
        for option, listen in listeners:
            host, port = parse_hostport(listen)
            if port == 0:
                continue  # the kernel picks a free one
            public = overlaps(host, self.bind) and (port in ports or low <= port <= high)
            if public or any(p == port and overlaps(host, h) for h, p in mine):
                problems.append(f"{option} {listen} uses a port the relay listens on")
        return problems


def overlaps(a: str, b: str) -> bool:
    """Whether two bind addresses can clash: the same, or either is a wildcard."""
    wild = {"0.0.0.0", "::", ""}
    return a == b or a in wild or b in wild
