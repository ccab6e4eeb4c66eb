"""The agent's configuration: one model for the native TOML file and ddclient.conf.

TOML schema (every key optional unless marked; full example in docs/agent-config.md)::

    [agent]
    interval = "5m"        # poll period (seconds or "30s", "5m", "1h", "25d")
    refresh = "25d"        # forced re-send of an unchanged address
    retry_min = "5m"       # first backoff after dnserr / 5xx / network error
    retry_max = "6h"       # backoff ceiling (911 waits >= 30 minutes regardless)
    timeout = "10s"        # per request
    debounce = "2s"        # wait after a local address change before detecting
    event_gap = "30s"      # after 3 event cycles at once, at most one per this
    state_dir = "/var/lib/homeport"
    netlink = true         # react at once to local address changes (Linux)

    [ipv4]                 # and [ipv6]: detection of each family
    enabled = true         # ipv4 default true; ipv6 default: true if it has sources
    require = 2            # k of n sources must agree (default: majority)
    allow_private = false  # accept RFC 1918 / CGNAT / ULA answers
    [[ipv4.source]]        # type = web | dns | interface | cmd | stun | static | router
    type = "web"
    url = "https://checkip.dyndns.com/"
    skip = "IP Address"

    [[provider]]           # one account; repeat per account
    protocol = "dyndns2"   # required; any registered provider
    hosts = ["home.example.org"]   # required
    ipv4 = true            # publish A / AAAA
    ipv6 = true
    server = "members.dyndns.org"  # the provider's own settings ...
    login = "me"
    password_env = "DYNDNS_PASSWORD"   # ... any of them as X_env / X_file / X_credential

    [hooks]
    command = "/usr/local/bin/on-ip-change"   # env HOMEPORT_HOST, HOMEPORT_IPV4, ...
    advertise_file = "/run/homeport/advertise.json"
    advertise_ports = [443]
    webhook = "https://hooks.example.org/homeport"

    [metrics]
    listen = "127.0.0.1:9475"   # Prometheus /metrics and /status (JSON)
    doctor = "15m"         # run `homeport doctor` this often, export its verdicts
                           # (default "0s": never; else at least 1m, the probe's rate
                           # limit; needs a [[mapping]] or [hooks] advertise_ports
                           # to check, and the config in a file named *.toml)
    doctor_dns = "203.0.113.1:53"   # the zone's DNS server for the doctor (--dns)

    [[certificate]]        # a certificate kept renewed through ACME DNS-01 (docs/cert.md)
    name = "home.example.org"      # required; with wildcard = true also *.NAME
    provider = "label"     # the [[provider]] that sets TXT (default: the one listing name)
    directory = "/var/lib/homeport/certs"   # NAME/fullchain.pem, NAME/privkey.pem
    acme = "letsencrypt"   # or "letsencrypt-staging", or a directory URL
    hook = "systemctl reload caddy"         # run after the files changed

    [[mapping]]            # a router port mapping the daemon keeps alive (UPnP/NAT-PMP/PCP)
    protocol = "tcp"
    internal_port = 443
    external_port = 443    # default: internal_port (the router may grant another)
    lease = "1h"           # asked for; renewed at half of what the router grants
    method = "auto"        # auto | pcp | natpmp | upnp
    keep = false           # true: leave it on the router when the agent stops

    [[tunnel]]             # reach the service through a homeport relay (CGNAT; docs/tunnel.md)
    relay = "relay.example.net:7443"   # required: the relay's control address
    host = "home.example.org"          # required; its secret: `secret` (or secret_env, ...)
                                       # else the homeport [[provider]]'s password for it
    fingerprint = "sha256:..."         # pin the relay's certificate; else CA checks (`ca`)
    local = "127.0.0.1:888"            # required: the service at home
    kind = "http"          # http (by Host) | tls (by SNI, passthrough) | tcp
    port = 888             # required: http/tls: the relay's listener; tcp: public port (0: any)
    proxy_protocol = false # the relay sends a PROXY v2 header before the visitor's bytes
    mode = "always"        # or "auto": only while no direct mapping of the port can work

Errors are collected, not raised one at a time: :class:`ConfigError` carries one
line per problem, each with ``file:line`` where the key is.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pydantic

from homeport.agent import credentials, sources
from homeport.agent.files import read_text
from homeport.agent.schema import (
    AgentSection,
    CertificateSection,
    Duration,
    FamilySection,
    HooksSection,
    MappingSection,
    MetricsSection,
    ProviderSection,
    RawConfig,
    TunnelSection,
    local_address,
    parse_duration,
    relay_address,
)
from homeport.agent.tomllines import line_of
from homeport.core import hoststate
from homeport.core.consensus import default_require
from homeport.errors import ConfigError
from homeport.providers.base import ProviderSettings

__all__ = [
    "AgentConfig",
    "AgentSection",
    "CertificateSection",
    "Duration",
    "FamilyConfig",
    "HooksSection",
    "MappingSection",
    "MetricsSection",
    "ProviderEntry",
    "TunnelEntry",
    "build",
    "load",
    "load_toml",
    "parse_duration",
]


@dataclass(frozen=True)
class FamilyConfig:
    family: Literal[4, 6]
    enabled: bool
    sources: tuple[sources.SourceSettings, ...]
    require: int
    allow_private: bool


@dataclass(frozen=True)
class ProviderEntry:
    label: str
    protocol: str
    settings: ProviderSettings
    hosts: tuple[str, ...]
    ipv4: bool
    ipv6: bool
    host_hashes: Mapping[str, str]  # per host: digest of its config (secrets hashed, never kept)


@dataclass(frozen=True)
class TunnelEntry:
    """One validated [[tunnel]]; ``secret`` resolved (never in repr, logs or plans)."""

    index: int
    relay: tuple[str, int]
    host: str
    secret: str = field(repr=False)
    fingerprint: str
    ca: str
    local: tuple[str, int]
    kind: Literal["http", "tls", "tcp"]
    port: int
    proxy: bool
    mode: Literal["always", "auto"]


@dataclass(frozen=True)
class AgentConfig:
    origin: str
    agent: AgentSection
    ipv4: FamilyConfig
    ipv6: FamilyConfig
    providers: tuple[ProviderEntry, ...]
    hooks: HooksSection
    metrics: MetricsSection | None
    mappings: tuple[MappingSection, ...]
    warnings: tuple[str, ...] = ()
    certificates: tuple[CertificateSection, ...] = ()
    tunnels: tuple[TunnelEntry, ...] = ()

    @property
    def policy(self) -> hoststate.Policy:
        a = self.agent
        return hoststate.Policy(refresh=a.refresh, retry_min=a.retry_min, retry_max=a.retry_max)

    def family(self, family: Literal[4, 6]) -> FamilyConfig:
        return self.ipv4 if family == 4 else self.ipv6


@dataclass
class _Problems:
    origin: str
    lines: Mapping[tuple[str | int, ...], int]
    items: list[str] = field(default_factory=list)

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in loc).replace(".[", "[")
        line = line_of(self.lines, loc)
        prefix = f"{self.origin}:{line}" if line else self.origin
        self.items.append(f"{prefix}: {where}: {message}" if where else f"{prefix}: {message}")

    def add_validation(self, base: tuple[str | int, ...], exc: pydantic.ValidationError) -> None:
        for error in exc.errors(include_url=False, include_input=False):
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and "[" in p))
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown setting"
            self.add((*base, *loc), message)


def host_hash(protocol: str, hostname: str, settings: ProviderSettings) -> str:
    """A digest of everything that defines one host's updates, secrets included.

    Stored in the state file so a changed password re-enables a host stopped by
    badauth; a digest, so the state file never holds a secret.
    """
    data = settings.model_dump(mode="python")
    for name, value in data.items():
        if isinstance(value, pydantic.SecretStr):
            data[name] = value.get_secret_value()
    blob = json.dumps([protocol.lower(), hostname, data], sort_keys=True, default=str)
    return hashlib.sha256(b"homeport-host-v1\0" + blob.encode()).hexdigest()[:32]


def build(
    data: Mapping[str, Any],
    *,
    origin: str,
    lines: Mapping[tuple[str | int, ...], int] | None = None,
    env: Mapping[str, str] | None = None,
    warnings: tuple[str, ...] = (),
    need_providers: bool = True,
) -> AgentConfig:
    """Validate parsed config data; ConfigError with one line per problem."""
    problems = _Problems(origin, lines or {})
    rest = dict(data)
    # Providers are checked one by one, so a bad [agent] key does not hide their problems.
    provider_items = rest.pop("provider", [])
    # Certificates too: their secrets (eab_hmac_key_env, ...) are expanded before validation.
    certificate_items = rest.pop("certificate", [])
    # Tunnels too (secret_env, ...), and their secret may come from a provider.
    tunnel_items = rest.pop("tunnel", [])
    # Each section alone, so one bad section does not hide the others' problems.
    valid: dict[str, Any] = {}
    for name, value in rest.items():
        if name not in RawConfig.model_fields:
            problems.add((name,), "unknown section")
            continue
        try:
            RawConfig.model_validate({name: value})
        except pydantic.ValidationError as exc:
            problems.add_validation((), exc)
            continue
        valid[name] = value
    raw = RawConfig.model_validate(valid)
    if not isinstance(provider_items, list):
        problems.add(("provider",), "must be an array of tables: [[provider]]")
        provider_items = []
    entries: list[ProviderEntry] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(provider_items):
        try:
            section = ProviderSection.model_validate(item)
        except pydantic.ValidationError as exc:
            problems.add_validation(("provider", index), exc)
            continue
        for host in section.hosts:
            if host in seen:
                # One state per host name: two providers for one name would fight over it.
                problems.add(
                    ("provider", index, "hosts"), f"{host} is already in provider[{seen[host]}]"
                )
            seen.setdefault(host, index)
        entry = _provider(index, section, problems, env)
        if entry is not None:
            entries.append(entry)
    # An agent that only keeps tunnels (the name is updated elsewhere) is fine.
    if need_providers and not provider_items and not tunnel_items:
        problems.add((), "no [[provider]] configured: nothing to update")
    certificates = _certificates(certificate_items, entries, problems, env)
    tunnels = _tunnels(tunnel_items, entries, raw.mapping, problems, env)
    ipv4 = _family(4, raw.ipv4, problems)
    ipv6 = _family(6, raw.ipv6, problems)
    # A section that failed validation is missing from raw: do not also say it is empty.
    _doctor(raw, problems, sections_valid=not ({"hooks", "mapping"} & (set(rest) - set(valid))))
    if problems.items:
        raise ConfigError(_summary(origin, problems.items), tuple(problems.items))
    if any(m.internal_host for m in raw.mapping):
        warnings += (
            f"{origin}: [[mapping]] internal_host is ignored: a mapping always points at this "
            "host (routers refuse mappings for other LAN addresses)",
        )
    return AgentConfig(
        origin,
        raw.agent,
        ipv4,
        ipv6,
        tuple(entries),
        raw.hooks,
        raw.metrics,
        tuple(raw.mapping),
        warnings,
        certificates,
        tunnels,
    )


def _certificates(
    items: Any,
    entries: list[ProviderEntry],
    problems: _Problems,
    env: Mapping[str, str] | None,
) -> tuple[CertificateSection, ...]:
    """``[[certificate]]`` entries, each naming a provider that exists (homeport.cert)."""
    if not isinstance(items, list):
        problems.add(("certificate",), "must be an array of tables: [[certificate]]")
        return ()
    if items:
        from homeport.cert import require_extra

        try:
            require_extra()
        except ConfigError as exc:
            problems.add(("certificate",), exc.message)
            return ()
    found: list[CertificateSection] = []
    for index, item in enumerate(items):
        loc: tuple[str | int, ...] = ("certificate", index)
        if not isinstance(item, dict):
            problems.add(loc, "must be a table")
            continue
        expanded, secret_problems = credentials.expand(
            item, set(CertificateSection.model_fields), env
        )
        for key, message in secret_problems.items():
            problems.add((*loc, key), message)
        try:
            section = CertificateSection.model_validate(expanded)
        except pydantic.ValidationError as exc:
            problems.add_validation(loc, exc)
            continue
        if certificate_provider(section, entries) is None:
            wanted = f"label {section.provider!r}" if section.provider else section.name
            problems.add(
                (*loc, "provider" if section.provider else "name"),
                f"no [[provider]] with {wanted}: say which provider sets its TXT records",
            )
            continue
        found.append(section)
    return tuple(found)


def _tunnels(
    items: Any,
    entries: list[ProviderEntry],
    mappings: Sequence[MappingSection],
    problems: _Problems,
    env: Mapping[str, str] | None,
) -> tuple[TunnelEntry, ...]:
    """``[[tunnel]]`` entries with their secrets resolved (homeport.agent.tunnel)."""
    if not isinstance(items, list):
        problems.add(("tunnel",), "must be an array of tables: [[tunnel]]")
        return ()
    found: list[TunnelEntry] = []
    for index, item in enumerate(items):
        loc: tuple[str | int, ...] = ("tunnel", index)
        if not isinstance(item, dict):
            problems.add(loc, "must be a table")
            continue
        expanded, secret_problems = credentials.expand(item, {"secret"}, env)
        for key, message in secret_problems.items():
            problems.add((*loc, key), message)
        try:
            section = TunnelSection.model_validate(expanded)
        except pydantic.ValidationError as exc:
            problems.add_validation(loc, exc)
            continue
        secret = _tunnel_secret(section, entries)
        if secret is None:
            if not secret_problems:
                problems.add(
                    (*loc, "host"),
                    f"no secret for {section.host}: give `secret` (or secret_env, secret_file) "
                    'or a protocol = "homeport" [[provider]] that logs in as it',
                )
            continue
        local = local_address(section.local)
        if section.mode == "auto" and not any(m.internal_port == local[1] for m in mappings):
            problems.add(
                (*loc, "mode"),
                f'"auto" needs a [[mapping]] with internal_port = {local[1]}: it relays only '
                "while the router cannot map that port",
            )
            continue
        found.append(
            TunnelEntry(
                index,
                relay_address(section.relay),
                section.host,
                secret,
                section.fingerprint,
                section.ca,
                local,
                section.kind,
                section.port,
                section.proxy_protocol,
                section.mode,
            )
        )
    _same_session(found, problems)
    return tuple(found)


def _tunnel_secret(section: TunnelSection, entries: Sequence[ProviderEntry]) -> str | None:
    if section.secret is not None:
        return section.secret.get_secret_value()
    for entry in entries:
        if entry.protocol.lower() != "homeport" or section.host not in entry.hosts:
            continue
        login = str(getattr(entry.settings, "login", "")).lower().rstrip(".")
        password = getattr(entry.settings, "password", None)
        if login == section.host and isinstance(password, pydantic.SecretStr):
            return password.get_secret_value()
    return None


def _same_session(found: Sequence[TunnelEntry], problems: _Problems) -> None:
    """A relay keeps one session per host (a new hello replaces the old): tunnels of one
    host at one relay share it, so they must agree on how to reach it, and not claim one
    entry point twice."""
    first: dict[tuple[tuple[str, int], str], TunnelEntry] = {}
    claimed: dict[tuple[tuple[str, int], str, str, int], int] = {}
    for entry in found:
        key = (entry.relay, entry.host)
        other = first.setdefault(key, entry)
        loc: tuple[str | int, ...] = ("tunnel", entry.index)
        if (other.secret, other.fingerprint, other.ca) != (
            entry.secret,
            entry.fingerprint,
            entry.ca,
        ):
            problems.add(
                loc,
                f"tunnel[{other.index}] reaches the same relay as {entry.host} with another "
                "secret, fingerprint or ca: one session per host, so they must agree",
            )
        claim = (entry.relay, entry.host, entry.kind, entry.port)
        if entry.port and claim in claimed:
            problems.add(
                (*loc, "port"), f"{entry.kind} {entry.port} is already tunnel[{claimed[claim]}]'s"
            )
        claimed.setdefault(claim, entry.index)


def certificate_provider(
    section: CertificateSection, entries: Sequence[ProviderEntry]
) -> ProviderEntry | None:
    """The [[provider]] that sets ``section``'s TXT records: by label, else by host name."""
    if section.provider:
        return next((e for e in entries if e.label == section.provider), None)
    return next((e for e in entries if section.name in e.hosts), None)


def _summary(origin: str, items: list[str]) -> str:
    count = len(items)
    first = items[0] if items else ""
    return first if count == 1 else f"{origin}: {count} problems; first: {first}"


def _doctor(raw: RawConfig, problems: _Problems, *, sections_valid: bool) -> None:
    """``[metrics] doctor`` needs something to check (its results go to ``listen``, which
    has a default)."""
    metrics = raw.metrics
    if metrics is None or not metrics.doctor:
        return
    if sections_valid and not raw.mapping and not raw.hooks.advertise_ports:
        problems.add(
            ("metrics", "doctor"),
            "has no port to check: add a [[mapping]] or [hooks] advertise_ports",
        )


def _family(family: Literal[4, 6], section: FamilySection, problems: _Problems) -> FamilyConfig:
    key = f"ipv{family}"
    given = section.source
    entries = (
        given
        if given is not None
        else list(sources.DEFAULT_IPV4 if family == 4 else sources.DEFAULT_IPV6)
    )
    parsed: list[sources.SourceSettings] = []
    for index, entry in enumerate(entries):
        loc: tuple[str | int, ...] = (key, "source", index)
        try:
            cls = sources.settings_class(str(entry.get("type", "")))
            parsed.append(cls.model_validate(entry))
        except ConfigError as exc:
            problems.add((*loc, "type"), exc.message)
        except pydantic.ValidationError as exc:
            problems.add_validation(loc, exc)
    enabled = section.enabled if section.enabled is not None else (family == 4 or bool(given))
    if given is None:
        require = section.require or sources.DEFAULT_REQUIRE
    else:
        require = section.require or default_require(len(parsed) or 1)
    if enabled and given is not None and not given:
        problems.add((key, "source"), "is empty: add a source or set enabled = false")
    if enabled and parsed and require > len(parsed):
        problems.add(
            (key, "require"), f"{require} sources must agree but only {len(parsed)} are configured"
        )
    return FamilyConfig(family, enabled, tuple(parsed), require, section.allow_private)


def _provider(
    index: int, section: ProviderSection, problems: _Problems, env: Mapping[str, str] | None
) -> ProviderEntry | None:
    from homeport import providers

    loc: tuple[str | int, ...] = ("provider", index)
    try:
        cls = providers.get(section.protocol)
    except ConfigError as exc:
        problems.add((*loc, "protocol"), exc.message)
        return None
    extra = dict(section.model_extra or {})
    expanded, secret_problems = credentials.expand(extra, set(cls.Settings.model_fields), env)
    for key, message in secret_problems.items():
        problems.add((*loc, key), message)
    if secret_problems:
        return None
    try:
        settings = cls.Settings.model_validate(expanded)
    except pydantic.ValidationError as exc:
        problems.add_validation(loc, exc)
        return None
    hosts = tuple(section.hosts)
    hashes = {h: host_hash(section.protocol, h, settings) for h in hosts}
    label = section.label or f"{section.protocol}#{index}"
    return ProviderEntry(
        label, section.protocol, settings, hosts, section.ipv4, section.ipv6, hashes
    )


def load_toml(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    need_providers: bool = True,
    text: str | None = None,
) -> AgentConfig:
    """Read and validate a native TOML config file (``text``: its contents, already read)."""
    import tomllib

    from homeport.agent.tomllines import key_lines

    origin = str(path)
    if text is None:
        text = read_text(origin)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line N, column M)": keep it, it is the line the user needs.
        raise ConfigError(f"{origin}: not valid TOML: {exc}") from None
    return build(data, origin=origin, lines=key_lines(text), env=env, need_providers=need_providers)


def load(
    path: str | os.PathLike[str],
    *,
    ddclient: bool | None = None,
    env: Mapping[str, str] | None = None,
    need_providers: bool = True,
    text: str | None = None,
) -> AgentConfig:
    """Load ``path`` as TOML, or as ddclient.conf when asked or when it looks like one."""
    if ddclient is None:
        ddclient = not str(path).endswith(".toml")
    if ddclient:
        from homeport.agent import ddclient_conf

        config: AgentConfig = ddclient_conf.load(
            path, env=env, need_providers=need_providers, text=text
        )
        return config
    return load_toml(path, env=env, need_providers=need_providers, text=text)
