"""The TOML schema of the agent's config, as pydantic models (see homeport.agent.config).

Each section is its own model so :func:`homeport.agent.config.build` can check
them one by one and report every problem; providers and sources are checked
against their own registries' ``Settings``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pydantic

from homeport.core import hoststate

# ddclient's default poll is 300 s; most checkip services ask for no more than one call a minute.
DEFAULT_INTERVAL = 300.0
DEFAULT_TIMEOUT = 10.0  # a checkip or update request that takes longer has failed
# Address changes come in bursts (DAD, RA, DHCP renew): wait for the burst to settle.
DEFAULT_DEBOUNCE = 2.0
MIN_INTERVAL = 30.0  # below this we would be the abusive client providers block
# [metrics] doctor: a doctor run asks the homeport server's probe once per port and
# family (twice for TLS); the server allows 6 probes per minute per host
# (homeport.server.probe.DEFAULT_RATE_PER_MINUTE), so runs closer than a minute apart
# would be answered 429 and report the rate limit instead of the network.
MIN_DOCTOR_INTERVAL = 60.0

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
# What `homeport doctor --dns` takes: an IPv4 address or a bracketed IPv6 one, a port.
_ADDRESS_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+)(:\d{1,5})?$")
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?$"
)


def parse_duration(value: Any) -> Any:
    """Seconds from 300, "300", "5m", "1h30m", "25d" (ddclient's units)."""
    if isinstance(value, bool):
        raise ValueError('must be a duration such as 300, "5m" or "25d"')
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        parts = _DURATION.findall(text)
        if text and "".join(n + u for n, u in parts).lower() == text.lower():
            return sum(float(n) * _UNITS[(u or "s").lower()] for n, u in parts)
    raise ValueError('must be a duration such as 300, "5m" or "25d"')


Duration = Annotated[float, pydantic.BeforeValidator(parse_duration), pydantic.Field(gt=0)]


class _Section(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class AgentSection(_Section):
    interval: Duration = DEFAULT_INTERVAL
    refresh: Duration = hoststate.DEFAULT_REFRESH
    retry_min: Duration = hoststate.DEFAULT_RETRY_MIN
    retry_max: Duration = hoststate.DEFAULT_RETRY_MAX
    timeout: Duration = DEFAULT_TIMEOUT
    debounce: Duration = DEFAULT_DEBOUNCE
    # After a burst of 3 event-driven cycles, at most one per event_gap: the checkip services
    # ask for about one request a minute, and a flapping interface must not become a poll
    # every 2 s (core.eventbudget).
    event_gap: Annotated[float, pydantic.BeforeValidator(parse_duration), pydantic.Field(ge=0)] = (
        30.0
    )
    state_dir: str | None = None
    netlink: bool = True

    @pydantic.field_validator("interval")
    @classmethod
    def _not_abusive(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise ValueError(f"must be at least {MIN_INTERVAL:.0f} seconds")
        return value


class FamilySection(_Section):
    enabled: bool | None = None
    require: int | None = pydantic.Field(default=None, ge=1)
    allow_private: bool = False
    source: list[dict[str, Any]] | None = None


class ProviderSection(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="allow", frozen=True)

    protocol: str
    hosts: list[str] = pydantic.Field(min_length=1)
    ipv4: bool = True
    ipv6: bool = True
    label: str = ""

    @pydantic.field_validator("hosts")
    @classmethod
    def _hostnames(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _HOSTNAME.match(name):
                raise ValueError(f"{name[:80]!r} is not a host name")
        return [name.lower().rstrip(".") for name in value]


class HooksSection(_Section):
    command: str | None = None
    command_timeout: Duration = 30.0
    advertise_file: str | None = None
    advertise_name: str | None = None
    advertise_ports: list[Annotated[int, pydantic.Field(ge=1, le=65535)]] = []
    webhook: str | None = pydantic.Field(default=None, pattern=r"^https?://")


class MetricsSection(_Section):
    """``doctor``: how often the daemon runs ``homeport doctor`` for its metrics (0: never).

    ``doctor_dns``: the DNS server the doctor asks about the zone (``--dns``), for a
    homeport server whose URL is a name or whose DNS is not on port 53.
    """

    listen: str = pydantic.Field(default="127.0.0.1:9475", pattern=r"^\[?[0-9A-Fa-f.:]+\]?:\d+$")
    doctor: Annotated[float, pydantic.BeforeValidator(parse_duration), pydantic.Field(ge=0)] = 0.0
    doctor_dns: str | None = None

    @pydantic.field_validator("doctor")
    @classmethod
    def _not_flooding_the_probe(cls, value: float) -> float:
        if 0 < value < MIN_DOCTOR_INTERVAL:
            raise ValueError(f"must be 0 (off) or at least {MIN_DOCTOR_INTERVAL:.0f} seconds")
        return value

    @pydantic.field_validator("doctor_dns")
    @classmethod
    def _address_and_port(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS_PORT.match(value):
            raise ValueError('must be an IP address and port, e.g. "203.0.113.1:53" or "[::1]:53"')
        return value


class MappingSection(_Section):
    """A router port mapping the agent keeps alive (homeport.agent.mapping_keeper_process).

    ``keep``: leave the mapping on the router when the agent stops (default: remove it).
    ``internal_host`` is accepted for old configs but mappings always point at this host:
    routers refuse a mapping for another LAN address (miniupnpd secure_mode, UPnP 718).
    """

    protocol: Literal["tcp", "udp"] = "tcp"
    internal_port: int = pydantic.Field(ge=1, le=65535)
    external_port: int | None = pydantic.Field(default=None, ge=1, le=65535)
    internal_host: str | None = None
    description: str = "homeport"
    lease: Duration = 3600.0
    method: Literal["auto", "pcp", "natpmp", "upnp"] = "auto"
    keep: bool = False


class CertificateSection(pydantic.BaseModel):
    """A certificate the agent keeps renewed (homeport.cert; docs/cert.md).

    ``provider``: the label of the [[provider]] whose account sets the TXT records; default:
    the one whose ``hosts`` list ``name``. ``directory``: where NAME/fullchain.pem and
    NAME/privkey.pem go (default: STATE_DIR/certs). ``acme``: the CA's directory URL or
    ``letsencrypt`` / ``letsencrypt-staging``. ``hook``: a command run after new files
    are in place (``systemctl reload caddy``). Secrets (``eab_hmac_key``) may be given as
    ``_env`` / ``_file`` / ``_credential`` like a provider's.
    """

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    name: str
    wildcard: bool = True
    provider: str | None = None
    directory: str | None = None
    acme: str = "letsencrypt"
    ca_bundle: str | None = None
    email: str | None = None
    eab_kid: str | None = None
    eab_hmac_key: pydantic.SecretStr | None = None
    key_type: Literal["ec256", "ec384"] = "ec256"
    hook: str | None = None
    hook_timeout: Duration = 60.0
    dns: str | None = pydantic.Field(default=None, pattern=r"^(\[[0-9A-Fa-f:.]+\]|[^\s:]+):\d+$")

    @pydantic.field_validator("name")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not _HOSTNAME.match(value) or value.startswith("*"):
            raise ValueError(f"{value[:80]!r} is not a host name (the wildcard is `wildcard`)")
        return value.lower().rstrip(".")


# `fingerprint = "sha256:..."`: what `homeport server relay fingerprint` prints (the
# SHA-256 of the relay certificate's DER), colons between bytes allowed.
_FINGERPRINT = re.compile(r"^sha256:([0-9a-f]{2}:?){31}[0-9a-f]{2}$", re.IGNORECASE)


def relay_address(value: str) -> tuple[str, int]:
    """``relay.example.net:7443``, ``203.0.113.1:7443``, ``[2001:db8::1]:7443``."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    else:
        host, _, port = text.rpartition(":")
        if ":" in host:
            raise ValueError("IPv6 addresses need brackets, e.g. [2001:db8::1]:7443")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be HOST:PORT, e.g. relay.example.net:7443")
    if not host.startswith("[") and ":" not in host and not _HOSTNAME.match(host):
        raise ValueError(f"{host[:80]!r} is not a host name or address")
    return host, int(port)


def local_address(value: str) -> tuple[str, int]:
    """The home service: an address to connect to and its port (``127.0.0.1:888``)."""
    from homeport.core.hostport import parse_hostport
    from homeport.errors import ConfigError

    try:
        host, port = parse_hostport(value)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    if port == 0 or host in ("0.0.0.0", "::") or not value.strip().rpartition(":")[0]:
        raise ValueError("must be ADDRESS:PORT of the service, e.g. 127.0.0.1:888")
    return host, port


def pinned_fingerprint(value: str) -> str:
    if value and not _FINGERPRINT.match(value):
        raise ValueError(
            'must be "sha256:" and 64 hex digits (what `homeport server relay fingerprint` prints)'
        )
    return value


class TunnelSection(_Section):
    """A tunnel to a homeport relay (homeport.agent.tunnel; relay-spec "Client side").

    ``secret``: the host's secret; default: the password of the ``protocol = "homeport"``
    [[provider]] that lists ``host`` (and logs in as it). Like a provider's, it may be
    given as ``secret_env`` / ``secret_file`` / ``secret_credential``.
    ``port``: http/tls: the relay's public listener port; tcp: the public port wanted (0:
    any). ``mode = "auto"``: only while the router cannot map ``local``'s port directly
    (needs the [[mapping]] of that port).
    """

    relay: Annotated[str, pydantic.AfterValidator(lambda v: (relay_address(v), v)[1])]
    host: str
    secret: pydantic.SecretStr | None = None
    fingerprint: Annotated[str, pydantic.AfterValidator(pinned_fingerprint)] = ""
    ca: str = ""
    local: Annotated[str, pydantic.AfterValidator(lambda v: (local_address(v), v)[1])]
    kind: Literal["http", "tls", "tcp"] = "http"
    port: int = pydantic.Field(ge=0, le=65535)
    proxy_protocol: bool = False
    mode: Literal["always", "auto"] = "always"

    @pydantic.field_validator("host")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not _HOSTNAME.match(value) or value.startswith("*"):
            raise ValueError(f"{value[:80]!r} is not a host name")
        return value.lower().rstrip(".")

    @pydantic.model_validator(mode="after")
    def _port_for_kind(self) -> TunnelSection:
        if self.port == 0 and self.kind != "tcp":
            raise ValueError('port 0 (any public port) is for kind = "tcp" only')
        return self


class RawConfig(_Section):
    agent: AgentSection = AgentSection()
    ipv4: FamilySection = FamilySection()
    ipv6: FamilySection = FamilySection()
    hooks: HooksSection = HooksSection()
    metrics: MetricsSection | None = None
    mapping: list[MappingSection] = []
    certificate: list[CertificateSection] = []
    tunnel: list[TunnelSection] = []
