"""The one exception tree of homeport.

Every error homeport raises on purpose derives from :class:`HomeportError`. The
CLI turns any of them into one line on stderr and the exit code named on the
class; anything else is a bug and keeps its traceback.

Local errors are ours or the user's (bad config, bad input, misuse of an API);
remote errors are a peer's (a provider, a router, a DNS server) misbehaving or
refusing::

    HomeportError
    ├── LocalError                     we, or the user, got something wrong
    │   ├── ConfigError                a config file or option is invalid
    │   ├── UsageError                 a command was called with bad arguments
    │   ├── StoreError                 the server's data directory cannot be used
    │   │   ├── NotFoundError          a zone, host or user does not exist
    │   │   ├── ConflictError          it exists already
    │   │   └── StaleError             another server changed a host since we read it
    │   └── LocalProtocolError         we were about to send something invalid
    └── RemoteError                    a peer failed or said no
        ├── RemoteProtocolError        a peer sent bytes we cannot parse
        ├── TransportError             connect/timeout/reset talking to a peer
        ├── ProviderError              a DNS provider refused an update (.code: dyndns2 code)
        ├── RouterError                a router refused or failed a mapping (.code)
        │   └── NoMappingPossible      CGNAT / double NAT: no mapping can ever work
        ├── RelayRefused               a relay refused a tunnel for good (.code: badauth, ...)
        └── ConsensusError             IP sources failed or disagreed

Foreign exceptions (OSError, aiohttp.ClientError, dns.exception.DNSException,
sqlite3.Error, ...) are translated where they enter: ``raise X(...) from exc``.
Messages never contain a secret, right or wrong.
"""

from __future__ import annotations

# Exit codes follow sysexits(3) where one fits, so scripts can tell them apart.
EXIT_FAILURE = 1
EXIT_USAGE = 64  # EX_USAGE
EXIT_DATAERR = 65  # EX_DATAERR
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a remote service said no or was unreachable
EXIT_SOFTWARE = 70  # EX_SOFTWARE
EXIT_CANTCREAT = 73  # EX_CANTCREAT
EXIT_CONFIG = 78  # EX_CONFIG


class HomeportError(Exception):
    """Root of every error homeport raises on purpose."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class LocalError(HomeportError):
    """We, or the user, got something wrong."""


class ConfigError(LocalError):
    """A config file or option is invalid.

    ``problems`` holds one line per problem (with its file line where known).
    """

    exit_code = EXIT_CONFIG

    def __init__(self, message: str, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class UsageError(LocalError):
    """A command was called with arguments that cannot work."""

    exit_code = EXIT_USAGE


class StoreError(LocalError):
    """The server's data directory cannot be opened or written."""

    exit_code = EXIT_CANTCREAT


class StaleError(StoreError):
    """Another server instance changed a host since this one decided from its state."""


class NotFoundError(StoreError):
    """A zone, host or user named in a command does not exist."""

    exit_code = EXIT_DATAERR


class ConflictError(StoreError):
    """A zone, host or user to be created exists already."""

    exit_code = EXIT_DATAERR


class LocalProtocolError(LocalError):
    """We were about to send something the protocol does not allow."""

    exit_code = EXIT_SOFTWARE


class RemoteError(HomeportError):
    """A peer failed, misbehaved or refused."""

    exit_code = EXIT_UNAVAILABLE


class RemoteProtocolError(RemoteError):
    """A peer sent bytes or text we cannot parse."""


class TransportError(RemoteError):
    """Connecting to, or talking with, a peer failed (refused, timeout, reset)."""


class ProviderError(RemoteError):
    """A DNS provider refused an update; ``code`` is the dyndns2-style code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class RouterError(RemoteError):
    """A router refused or failed a port-mapping request; ``code`` as it sent it."""

    def __init__(self, message: str, code: int | str = "") -> None:
        super().__init__(message)
        self.code = code


class NoMappingPossible(RouterError):
    """Carrier-grade NAT or double NAT: no mapping on this router can be reached."""


class RelayRefused(RemoteError):
    """A relay refused a tunnel for good (``code``: proto.relay.FATAL_CODES, or "certificate"
    when the relay's certificate is not the pinned one): retrying cannot help until the
    config changes, so the tunnel stops (the dyndns2 badauth lesson)."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ConsensusError(RemoteError):
    """The public-IP sources failed or disagreed, so nothing may be published."""
