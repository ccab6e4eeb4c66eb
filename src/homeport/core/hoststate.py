"""The per-host update state machine (docs/architecture.md, dyndns2), pure, with ``now`` passed in.

For each host we remember, per family (A and AAAA separately), the address the
provider confirmed and when. From that and the detected addresses
:func:`decide` says what to send; :func:`apply` folds the provider's results back:

- an unchanged address is never re-sent, except a forced refresh every
  ``refresh`` (25 days: No-IP expires names unused for 30 days);
- a fatal code (badauth, nohost, abuse, ...) stops the host until its own
  config changes (noticed through ``config_hash``, a digest of its settings);
- dnserr / 5xx / network errors back off exponentially with jitter; 911 never
  sooner than 30 minutes. The jitter is a number in [0, 1) from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from homeport.core.units import DAY, HOUR, MINUTE
from homeport.core.update import Status, UpdateResult

Address = IPv4Address | IPv6Address

# No-IP deletes names not updated for 30 days; 25 leaves margin for a few failed tries.
DEFAULT_REFRESH = 25 * DAY
# First retry after a transient error: ddclient's min-error-interval is 5 minutes.
DEFAULT_RETRY_MIN = 5 * MINUTE
# Exponential backoff stops growing here, so a long outage still recovers within hours.
DEFAULT_RETRY_MAX = 6 * HOUR
# Dyn and No-IP: after 911 the client must not retry sooner than 30 minutes.
RETRY_AFTER_911 = 30 * MINUTE
# Jitter adds up to this fraction of the delay, so many agents do not retry in step.
JITTER_SPREAD = 0.25


@dataclass(frozen=True)
class Policy:
    refresh: float = DEFAULT_REFRESH
    retry_min: float = DEFAULT_RETRY_MIN
    retry_max: float = DEFAULT_RETRY_MAX


@dataclass(frozen=True)
class FamilyState:
    """What the provider holds for one family, as far as we know."""

    address: Address | None = None
    confirmed_at: float | None = None  # last good/nochg for this family


@dataclass(frozen=True)
class HostState:
    hostname: str
    config_hash: str = ""
    ipv4: FamilyState = field(default_factory=FamilyState)
    ipv6: FamilyState = field(default_factory=FamilyState)
    failures: int = 0
    retry_at: float | None = None
    disabled_code: str = ""  # a fatal code: no request until config_hash changes
    last_code: str = ""
    last_message: str = ""
    last_attempt: float | None = None


@dataclass(frozen=True)
class Decision:
    """What to send for one host; a family left ``None`` is not sent."""

    hostname: str
    ipv4: IPv4Address | None
    ipv6: IPv6Address | None
    reason: str

    @property
    def send(self) -> bool:
        return self.ipv4 is not None or self.ipv6 is not None


def reconcile(state: HostState, config_hash: str) -> HostState:
    """Start afresh when the host's own config changed (new provider, account, password).

    What an old account held says nothing about the new one, and a fatal code
    from the old config must not keep the fixed one stopped.
    """
    if state.config_hash == config_hash:
        return state
    return HostState(state.hostname, config_hash)


def decide(
    state: HostState,
    *,
    want4: IPv4Address | None,
    want6: IPv6Address | None,
    now: float,
    policy: Policy = Policy(),
    force: bool = False,
) -> Decision:
    """Which families of this host to send now, and why (or why not).

    ``force`` (a user's one-off ``--force``) sends an unchanged address too, for a record
    changed behind the agent's back; a stopped host or a backoff still wins, since those
    protect the account from the provider's abuse rules."""
    name = state.hostname
    if state.disabled_code:
        return Decision(
            name, None, None, f"stopped after {state.disabled_code!r} until its config changes"
        )
    if state.retry_at is not None and now < state.retry_at:
        return Decision(
            name, None, None, f"backing off until {state.retry_at:.0f} after {state.last_code!r}"
        )
    send4, why4 = _family(state.ipv4, want4, now, policy, force)
    send6, why6 = _family(state.ipv6, want6, now, policy, force)
    reasons = [f"IPv4 {why4}" if want4 else "", f"IPv6 {why6}" if want6 else ""]
    reason = "; ".join(r for r in reasons if r) or "no address to publish"
    return Decision(
        name,
        want4 if send4 else None,
        want6 if send6 else None,
        reason,
    )


def _family(
    held: FamilyState, want: Address | None, now: float, policy: Policy, force: bool
) -> tuple[bool, str]:
    if want is None:
        return False, "unknown"
    if force:
        return True, f"forced {want}"
    if held.address != want:
        return True, f"changed {held.address or 'none'} -> {want}"
    if held.confirmed_at is None or now - held.confirmed_at >= policy.refresh:
        return True, f"refresh of {want}"
    return False, f"unchanged {want}"


def apply(
    state: HostState,
    decision: Decision,
    result: UpdateResult,
    *,
    now: float,
    jitter: float,
    policy: Policy = Policy(),
) -> HostState:
    """Fold one provider result for the host into its state."""
    base = replace(state, last_code=result.code, last_message=result.message, last_attempt=now)
    if result.status in (Status.GOOD, Status.NOCHG):
        ipv4, ipv6 = base.ipv4, base.ipv6
        if decision.ipv4 is not None:
            ipv4 = FamilyState(result.ipv4 or decision.ipv4, now)
        if decision.ipv6 is not None:
            ipv6 = FamilyState(result.ipv6 or decision.ipv6, now)
        return replace(base, ipv4=ipv4, ipv6=ipv6, failures=0, retry_at=None, disabled_code="")
    if result.status is Status.FATAL:
        return replace(base, disabled_code=result.code or "fatal", retry_at=None)
    failures = state.failures + 1
    delay = min(policy.retry_max, policy.retry_min * 2 ** (failures - 1))
    delay *= 1 + JITTER_SPREAD * min(max(jitter, 0.0), 1.0)
    if result.status is Status.RETRY_SLOW:
        delay = max(delay, RETRY_AFTER_911)
    return replace(base, failures=failures, retry_at=now + delay)


def next_due(state: HostState, policy: Policy = Policy()) -> float | None:
    """When this host next needs attention without any address change (retry or refresh)."""
    if state.disabled_code:
        return None
    if state.retry_at is not None:
        return state.retry_at
    times = [f.confirmed_at + policy.refresh for f in (state.ipv4, state.ipv6) if f.confirmed_at]
    return min(times) if times else None


# --- persistence shape (plain JSON values) -------------------------------------------


def _family_to_json(family: FamilyState) -> dict[str, Any]:
    return {
        "address": str(family.address) if family.address else None,
        "confirmed_at": family.confirmed_at,
    }


def _family_from_json(data: Any) -> FamilyState:
    if not isinstance(data, dict):
        return FamilyState()
    text = data.get("address")
    at = data.get("confirmed_at")
    return FamilyState(
        ip_address(text) if isinstance(text, str) else None,
        float(at) if isinstance(at, int | float) else None,
    )


def to_json(state: HostState) -> dict[str, Any]:
    return {
        "config_hash": state.config_hash,
        "ipv4": _family_to_json(state.ipv4),
        "ipv6": _family_to_json(state.ipv6),
        "failures": state.failures,
        "retry_at": state.retry_at,
        "disabled_code": state.disabled_code,
        "last_code": state.last_code,
        "last_message": state.last_message,
        "last_attempt": state.last_attempt,
    }


def from_json(hostname: str, data: dict[str, Any]) -> HostState:
    def num(key: str) -> float | None:
        value = data.get(key)
        return float(value) if isinstance(value, int | float) else None

    return HostState(
        hostname=hostname,
        config_hash=str(data.get("config_hash", "")),
        ipv4=_family_from_json(data.get("ipv4")),
        ipv6=_family_from_json(data.get("ipv6")),
        failures=int(data.get("failures", 0) or 0),
        retry_at=num("retry_at"),
        disabled_code=str(data.get("disabled_code", "")),
        last_code=str(data.get("last_code", "")),
        last_message=str(data.get("last_message", "")),
        last_attempt=num("last_attempt"),
    )
