"""``homeport server`` configuration: TOML on disk, command-line flags on top.

Every default is safe for a first run: loopback addresses and unprivileged
ports. Serving the world (``0.0.0.0:53``, ``:80``, ``:443``, ``:8245``) is a
deliberate change in the config file.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic

from homeport.core.hostport import parse_hostport
from homeport.errors import ConfigError
from homeport.server.relay.config import RelayConfig

# dyndns2 clients speak HTTP on 80/443 and, past transparent proxies, on 8245
# (Dyn's and No-IP's update docs); 8245 is unprivileged, so it is the safe default on loopback.
DEFAULT_HTTP = "127.0.0.1:8245"
# An unprivileged port for the embedded DNS server; 53 needs root or CAP_NET_BIND_SERVICE.
DEFAULT_DNS = "127.0.0.1:8053"
# Record TTL 60 s, so a changed address is seen within a minute.
DEFAULT_TTL = 60
# SOA minimum (negative-caching TTL, RFC 2308 §4) short: a new host
# name must not stay NXDOMAIN in resolvers' caches for long.
DEFAULT_SOA_MINIMUM = 60
# RFC 1912 §2.2 recommended ranges for secondaries.
DEFAULT_REFRESH = 3600
DEFAULT_RETRY = 600
DEFAULT_EXPIRE = 1209600
DEFAULT_SOA_TTL = 3600


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/homeport-server")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "homeport-server"


class LimitsConfig(pydantic.BaseModel):
    """Throttles (docs/architecture.md, security defaults). ``enabled = false`` (or
    ``--limits off``) for benchmarks."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Update requests per host: a healthy client sends one per address change;
    # 20/min with a burst of 10 is far above that and far below a runaway loop.
    host_requests_per_minute: float = 20
    host_burst: int = 10
    # Failed logins per source (an IPv4 address, an IPv6 /failed_auth_ipv6_prefix) and,
    # separately, per name tried. Each failure is counted before its credential is
    # verified; once a budget is spent, a wrong host secret or token gets 429 `abuse` and
    # a password is not checked at all (429 `911`, retry later). A correct host secret or
    # token is never refused because of others' failures (NAT, CGNAT); an account that
    # logged in from a source before has a budget of its own there.
    failed_auth_per_minute: float = 6
    failed_auth_burst: int = 10
    # RFC 6177: a site gets a /48../64; one address per subscriber would give an
    # attacker 2**64 fresh budgets. 56 if your users get /56s and misbehave.
    failed_auth_ipv6_prefix: int = pydantic.Field(default=64, ge=32, le=128)
    failed_auth_per_name_per_minute: float = 6
    failed_auth_per_name_burst: int = 10
    # argon2 (account passwords) costs ~0.2 s of CPU and 64 MiB per verify: at most
    # `password_workers` at once, `password_queue` more waiting, the rest answered at
    # once with 503 `911` (retry later) without verifying. Applies with limits off too.
    password_workers: int = pydantic.Field(default=2, ge=1, le=64)
    password_queue: int = pydantic.Field(default=16, ge=0, le=10000)
    # Token-API requests per token (DuckDNS-style clients poll every 5 minutes).
    token_requests_per_minute: float = 20
    token_burst: int = 10
    # DNS response-rate limiting (BIND RRL style), per client network.
    dns_rrl: bool = True
    # Seconds an HTTP client has to get its request under way: from connecting, and
    # again after each response (keep-alive). Bytes trickling in do not extend it, so a
    # slowloris client is closed like a silent one. dyndns2 clients send their request
    # at once; nginx allows 60 s for a header (client_header_timeout), Apache's
    # mod_reqtimeout 20-40 s and 5 s between requests (KeepAliveTimeout): 10 s covers
    # a slow mobile uplink and frees an attacker's connection six times sooner than nginx.
    # Applies even with `enabled = false`; also bounds a TLS handshake.
    http_request_timeout: float = pydantic.Field(default=10.0, gt=0, le=300)
    # Open HTTP connections at once per source (an IPv4 address, an IPv6 /64); the next
    # one is closed at once. A dyndns2 client holds one connection for milliseconds, so
    # even a CGNAT address shared by many routers stays far below 32, while ~1,000 from one
    # source would exhaust the server's file descriptors (ulimit -n is 1024 by default).
    # trusted_proxies are exempt (their clients all share their address).
    http_connections_per_source: int = pydantic.Field(default=32, ge=1)


class ProbeConfig(pydantic.BaseModel):
    """The reachability probe (POST /probe): connects back only to the requester."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    # Per host and per source address; see homeport.server.probe for the reasons.
    rate_per_minute: float = 6
    burst: int = 6
    timeout: float = pydantic.Field(default=5.0, gt=0, le=30)
    # A CA bundle trusted in addition to the system's when checking TLS certificates
    # (a private CA at home; the tests' own CA).
    extra_ca_file: Path | None = None
    # Non-public networks the probe may connect to: by default it connects only to public
    # unicast addresses that are not the server's own, because a requester seen as
    # 127.0.0.1 or 10.x (a proxy not in trusted_proxies, X-Forwarded-For: unknown) would
    # otherwise aim it at the server's own or its neighbours' services. A test lab or a
    # LAN-only server lists its networks here, e.g. ["127.0.0.0/8", "192.168.0.0/16"].
    lab_networks: list[pydantic.IPvAnyNetwork] = []


class TransferConfig(pydantic.BaseModel):
    """Zone transfers (``[transfer]``); the secondaries themselves are kept in the store."""

    model_config = pydantic.ConfigDict(extra="forbid")

    # Steps of each zone's history kept for IXFR (RFC 1995); a secondary further
    # behind gets an AXFR. See homeport.core.xfr_journal.DEFAULT_JOURNAL_STEPS.
    journal_steps: int = pydantic.Field(default=10_000, ge=1, le=10_000_000)
    # The catalog zone's name (RFC 9432); see homeport.server.xfr.DEFAULT_CATALOG_ZONE.
    catalog_zone: str = "catalog.homeport.invalid."
    # Transfers also only from each secondary's own address (its --address), not
    # only with its key: for secondaries that do not sit behind NAT or a proxy.
    check_source: bool = False


Listen = Annotated[str, pydantic.AfterValidator(lambda v: (parse_hostport(v), v)[1])]


class ServerConfig(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    data: Path = pydantic.Field(default_factory=default_data_dir)
    # None: SQLite in `data`; or postgresql://USER[:PASSWORD]@HOST[:PORT]/DB for several
    # servers' worth of writes (also --database, or HOMEPORT_DATABASE).
    database: str | None = None
    http: list[Listen] = [DEFAULT_HTTP]
    # HTTPS listeners (e.g. ":443") need tls_cert and tls_key (PEM files).
    https: list[Listen] = []
    tls_cert: Path | None = None
    tls_key: Path | None = None
    dns: list[Listen] = [DEFAULT_DNS]
    # Only these peers may tell us the client's address in X-Forwarded-For.
    trusted_proxies: list[pydantic.IPvAnyNetwork] = []
    # Answer `badagent` to requests without a User-Agent (Dyn's rule; off by default
    # because some routers send none).
    require_user_agent: bool = False
    default_ttl: int = pydantic.Field(default=DEFAULT_TTL, ge=0, le=86400)
    # "auto": uvloop when installed (the `speed` extra; the DNS and HTTP hot paths are
    # faster on it), else asyncio's own loop. "uvloop" insists; "asyncio" never uses it.
    event_loop: Literal["auto", "uvloop", "asyncio"] = "auto"
    # /metrics: by default served on every HTTP listener to anyone (counters only: no
    # names, addresses or secrets). With metrics_listen it is served only there; with
    # metrics_token it needs `Authorization: Bearer TOKEN`.
    metrics_listen: list[Listen] = []
    metrics_token: str | None = pydantic.Field(default=None, min_length=16, repr=False)
    limits: LimitsConfig = LimitsConfig()
    probe: ProbeConfig = ProbeConfig()
    transfer: TransferConfig = TransferConfig()
    relay: RelayConfig = RelayConfig()

    @pydantic.model_validator(mode="after")
    def _tls_complete(self) -> ServerConfig:
        if self.https and (self.tls_cert is None or self.tls_key is None):
            raise ValueError("https listeners need tls_cert and tls_key")
        own = [("http", v) for v in self.http] + [("https", v) for v in self.https]
        own += [("dns", v) for v in self.dns] + [("metrics_listen", v) for v in self.metrics_listen]
        clashes = self.relay.clashes(own)
        if clashes:
            raise ValueError("; ".join(clashes))
        return self

    @classmethod
    def from_toml(cls, path: Path, **overrides: Any) -> ServerConfig:
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        section = data.get("server", {})
        for name in ("limits", "probe", "transfer", "relay"):
            if name in data:
                section = {**section, name: data[name]}
        unknown = set(data) - {"server", "limits", "probe", "transfer", "relay"}
        if unknown:
            raise ConfigError(f"{path}: unknown section(s): {', '.join(sorted(unknown))}")
        return cls.build({**section, **overrides}, source=str(path))

    @classmethod
    def build(cls, values: dict[str, Any], source: str = "options") -> ServerConfig:
        try:
            return cls.model_validate(values)
        except pydantic.ValidationError as exc:
            problems = tuple(
                f"{source}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors()
            )
            raise ConfigError("; ".join(problems), problems) from None
