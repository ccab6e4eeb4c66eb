"""What every DNS provider module implements.

A provider is pure: :meth:`Provider.update` is a generator (the shape of httpx's
``Auth.auth_flow``) that yields :class:`HttpExchange` or :class:`DnsExchange`
requests and receives :class:`HttpReply` or ``dns.message.Message`` answers,
then returns one :class:`UpdateResult` per host. The agent's I/O shell runs the
flow for real; ``--dry-run`` renders the requests without sending them; tests
drive the flow against fakes that follow the provider's documented contract.
"""

from __future__ import annotations

import abc
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

import pydantic

from homeport.core.redact import redact
from homeport.core.update import HostUpdate, UpdateResult
from homeport.errors import ConfigError

if TYPE_CHECKING:
    import dns.message

# Every provider's requests identify us; dyndns2 makes a User-Agent mandatory
# ("Company - Device - Version", Dyn; No-IP asks for program/version and a contact).
USER_AGENT = "homeport - agent - {version}"


@dataclass(frozen=True)
class HttpExchange:
    """One HTTP request a provider wants sent."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    # Values that must never be printed (tokens, passwords, Basic credentials).
    secrets: tuple[str, ...] = field(default=(), repr=False)
    # A plausible success answer, fed back by --dry-run so a multi-step flow
    # (look up a record id, then write it) can render its later requests too.
    # None: a dry run stops after rendering this request.
    example_reply: HttpReply | None = field(default=None, repr=False, compare=False)

    def render(self) -> str:
        """The request as text, every secret replaced by ``[redacted]`` (for --dry-run)."""
        lines = [f"{self.method} {self.url}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        if self.body:
            lines += ["", self.body.decode("utf-8", "replace")]
        return redact("\n".join(lines), self.secrets)


@dataclass(frozen=True)
class HttpReply:
    """What came back for an :class:`HttpExchange`."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


@dataclass(frozen=True)
class DnsExchange:
    """One DNS message (an RFC 2136 UPDATE, a query) to send to ``server``."""

    message: dns.message.Message
    server: str
    port: int = 53
    tcp: bool = True

    def render(self) -> str:
        # TSIG keys live in the message's keyring, never in its text form.
        return f"DNS {'TCP' if self.tcp else 'UDP'} {self.server}:{self.port}\n{self.message}"


Exchange: TypeAlias = HttpExchange | DnsExchange
Reply: TypeAlias = "HttpReply | dns.message.Message"


Flow = Generator[Exchange, Any, list[UpdateResult]]


@dataclass(frozen=True)
class TxtChange:
    """Add (``present``) or delete exactly one TXT value at ``fqdn`` (ACME DNS-01).

    Adding never replaces: a certificate for NAME and ``*.NAME`` puts two values at
    ``_acme-challenge.NAME`` at once (RFC 8555 §8.4), and deleting one leaves the other.
    """

    fqdn: str  # "_acme-challenge.home.example.org", no trailing dot
    value: str
    present: bool

    @property
    def verb(self) -> str:
        return "present" if self.present else "cleanup"


# Providers that can set TXT records today (docs/cert.md lists them for users).
TXT_PROVIDERS = ("homeport", "rfc2136")


class ProviderSettings(pydantic.BaseModel):
    """Base of each provider's settings; secrets are ``pydantic.SecretStr``."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


class Provider(abc.ABC):
    """One DNS provider. Subclasses set ``name`` and ``Settings``."""

    name: ClassVar[str]
    Settings: ClassVar[type[ProviderSettings]]
    # Whether one request can carry several hosts (dyndns2: up to 20).
    max_hosts_per_request: ClassVar[int] = 1

    # ddclient.conf option name -> our Settings field, where they differ
    # (Cloudflare's ``password=`` is our ``token``).
    ddclient_renames: ClassVar[Mapping[str, str]] = {}

    def __init__(self, settings: ProviderSettings, *, version: str = "0") -> None:
        self.settings = settings
        self.user_agent = USER_AGENT.format(version=version)

    @classmethod
    def settings_from_ddclient(cls, options: Mapping[str, str]) -> ProviderSettings:
        """Settings from one ddclient.conf host's options (``server``, ``login``, ...).

        Options this provider does not use (``daemon``, ``use``, ``web``, ...)
        are ignored; a missing or invalid one is a ConfigError naming the
        option, never its value (it may be a secret).
        """
        fields = cls.Settings.model_fields
        renames = {k.replace("_", "-"): v for k, v in cls.ddclient_renames.items()}
        values: dict[str, str] = {}
        for key, value in options.items():
            name = renames.get(key.replace("_", "-"), key).replace("-", "_")
            if name in fields:
                values[name] = value
        return settings_or_config_error(cls.Settings, values, cls.ddclient_renames)

    @abc.abstractmethod
    def update(self, hosts: Sequence[HostUpdate]) -> Flow:
        """Yield the exchanges that publish ``hosts``; return one result per host."""

    def txt_server(self) -> tuple[str, int] | None:
        """(address or name, port) of the DNS server that answers for our TXT records with
        authority, queried directly to see a challenge published; None: unknown."""
        return None

    def txt(self, change: TxtChange) -> Flow:
        """Yield the exchanges that make ``change``; return one result, for ``change.fqdn``.

        Providers that cannot set TXT records keep this default: a ConfigError at once,
        before any ACME order is placed.
        """
        raise ConfigError(
            f"provider {self.name} cannot set TXT records (needed for ACME DNS-01); "
            f"providers that can: {', '.join(TXT_PROVIDERS)}"
        )


def settings_or_config_error(
    model: type[ProviderSettings],
    values: Mapping[str, object],
    renames: Mapping[str, str] | None = None,
) -> ProviderSettings:
    """``model(**values)``; a ConfigError with one line per problem, values never shown."""
    try:
        return model(**values)
    except pydantic.ValidationError as exc:
        back = {ours: theirs for theirs, ours in (renames or {}).items()}
        problems = tuple(
            f"{'.'.join(str(back.get(str(p), p)) for p in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
        raise ConfigError("; ".join(problems), problems) from None
