"""The tunnel client's decisions (pure): when to reconnect, and whether to relay at all.

Reconnection is every tunnel's top complaint (frp #4374 after a PPPoE redial, rathole
#160, cloudflared #1534): a client that gives up, or hammers, or waits an hour. The rule
here (relay-spec, "Behaviour"): after a failure wait a jittered 1 s doubling up to 60 s;
a session that lived 60 s resets the count; a route or address change reconnects at
once; only a fatal refusal (bad secret, forbidden claim) stops, until the config changes.

``mode = "auto"`` (:func:`want_relay`): relay only when a direct path is impossible — the
router cannot map the port, or its external address is not the public one (CGNAT,
double NAT; the verdict :func:`homeport.core.doctor.judge_nat` gives the doctor).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from ipaddress import IPv4Address, IPv6Address

from homeport.core.doctor import Verdict, judge_nat

# The first retry after a failure: soon enough that a restarted relay is used within a
# few seconds, late enough that a relay refusing at once is not hammered.
BACKOFF_INITIAL = 1.0
# The ceiling: a relay down for an hour costs one connection attempt a minute, and a
# relay back up is used within a minute at worst (the "capped near a minute").
BACKOFF_CAP = 60.0
# Each delay is drawn from [d * (1 - JITTER), d]: clients cut off together (a relay
# restart) come back spread out rather than in one burst.
BACKOFF_JITTER = 0.5
# A session that lived this long was a success: the next failure starts from 1 s again.
BACKOFF_RESET_AFTER = 60.0
# Silence on the control connection for this many heartbeats means the path is dead
# (relay-spec: 30 s heartbeats, dead after 40 s).
DEAD_AFTER_HEARTBEATS = 4 / 3


@dataclass(frozen=True)
class Reconnect:
    """The reconnect state of one control connection."""

    failures: int = 0  # consecutive attempts that did not give a long enough session
    up_since: float | None = None  # when the current session was welcomed


def backoff_delay(failures: int, rand: float) -> float:
    """Seconds to wait before the next attempt after ``failures`` failures in a row
    (``rand`` in [0, 1), injected). 0 failures: a session just ended, come back at once
    (within the first step's jitter)."""
    if failures <= 0:
        return BACKOFF_INITIAL * BACKOFF_JITTER * rand
    ceiling = min(BACKOFF_CAP, BACKOFF_INITIAL * 2.0 ** min(failures - 1, 16))
    return ceiling * (1.0 - BACKOFF_JITTER * rand)


def session_up(state: Reconnect, now: float) -> Reconnect:
    return replace(state, up_since=now)


def attempt_failed(state: Reconnect, now: float, rand: float) -> tuple[Reconnect, float]:
    """A connection attempt failed, or a session ended: the new state and the wait.

    A session that lived :data:`BACKOFF_RESET_AFTER` resets the count, so the next
    attempt comes at once; a short-lived one counts as a failure (a relay that welcomes
    and drops at once must not be hammered)."""
    if state.up_since is not None and now - state.up_since >= BACKOFF_RESET_AFTER:
        failures = 0
    else:
        failures = state.failures + 1
    return Reconnect(failures, None), backoff_delay(failures, rand)


def dead(last_heard: float, now: float, heartbeat: float) -> bool:
    """The relay said nothing (not even a pong) for too long: the path is dead."""
    return now - last_heard > heartbeat * DEAD_AFTER_HEARTBEATS


# -- mode = "auto" -----------------------------------------------------------------------

# The mapping keeper's events (homeport.agent.mapping_keeper_process) that say a mapping
# of the port works, and those that say the router cannot make one.
MAPPED = frozenset({"created", "renewed", "recreated"})
UNMAPPED = frozenset({"failed", "no-mapping-possible"})

Address = IPv4Address | IPv6Address


@dataclass(frozen=True)
class AutoDecision:
    relay: bool
    reason: str


def want_relay(
    mapping: str | None,
    router_external: Address | None,
    public: Address | None,
    current: bool,
) -> AutoDecision:
    """Relay or direct, from the keeper's last report on the tunnel's port (``mapping``: a
    keeper event kind, None before the first) and the NAT verdict; ``current`` is kept
    while nothing is known yet."""
    nat = judge_nat(router_external, public)
    if nat.verdict is Verdict.FAIL:
        return AutoDecision(True, f"no direct path: {nat.evidence}")
    if mapping in UNMAPPED:
        return AutoDecision(True, "no direct path: the router cannot map the port")
    if mapping in MAPPED:
        return AutoDecision(False, "direct path: the router maps the port")
    return AutoDecision(current, "nothing known yet")
