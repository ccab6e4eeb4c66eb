"""The values an update trades: the hosts and addresses asked for, the provider's verdict.

They live below the providers because the per-host state machine
(:mod:`homeport.core.hoststate`) folds verdicts back into its state, and pure
decision code must not depend on the provider modules (and their settings
library). Providers build them; the agent's runner carries them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address


class Status(enum.Enum):
    """What the agent must do after a result (the dyndns2 return codes' rules)."""

    GOOD = "good"  # published; remember the address
    NOCHG = "nochg"  # provider had it already; remember it, never resend it
    FATAL = "fatal"  # badauth, nohost, ...: stop this host until its config changes
    RETRY = "retry"  # dnserr, 5xx, network: back off exponentially
    RETRY_SLOW = "retry-slow"  # 911: no retry sooner than 30 minutes


@dataclass(frozen=True)
class HostUpdate:
    """Publish these addresses for ``hostname``; ``None`` leaves that family alone."""

    hostname: str
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None


@dataclass(frozen=True)
class UpdateResult:
    """The provider's verdict for one host."""

    hostname: str
    status: Status
    code: str  # the provider's own word: "good", "badauth", "KO", "HTTP 403", ...
    message: str = ""  # one line for humans; never contains a secret
    ipv4: IPv4Address | None = None  # as published
    ipv6: IPv6Address | None = None
