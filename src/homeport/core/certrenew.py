"""When to renew a certificate: a pure decision on its dates, with ``now`` passed in.

The rule: renew once a third of the lifetime is left (Let's Encrypt's advice for its
90-day certificates is "renew every 60 days"; certbot renews at 30 days left; a third
keeps that ratio for the 6-day and 45-day certificates CAs are moving to). When the CA
offers ACME Renewal Information (RFC 9773, ARI) its suggested time wins, because the
CA may want a certificate replaced early (a mis-issuance, a key compromise). A failed
attempt waits :data:`RETRY_AFTER_FAILURE` before the next, never past expiry's need.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

RENEW_WHEN_LEFT = 1 / 3  # of the lifetime (see the module docstring)
# Let's Encrypt's rate limits allow 5 failed validations per name per hour: an hourly
# retry after a failure never runs into them, yet recovers well before a 30-day deadline.
RETRY_AFTER_FAILURE = 3600.0


@dataclass(frozen=True)
class Current:
    """What is on disk now (seconds since the epoch, UTC)."""

    names: frozenset[str]
    not_before: float
    not_after: float


@dataclass(frozen=True)
class Renewal:
    """``due``: renew now; else ``at`` says when to look again."""

    due: bool
    at: float
    reason: str


def decide(
    current: Current | None,
    names: Collection[str],
    now: float,
    *,
    ari_at: float | None = None,
    last_failure: float | None = None,
) -> Renewal:
    """Whether the certificate for ``names`` must be (re)issued at ``now``.

    ``ari_at``: the time the CA's renewal information suggests (chosen inside its
    window), None when the CA offers no ARI. ``last_failure``: when the last attempt
    for these names failed, None if it did not.
    """
    if current is None:
        return _after_failure(Renewal(True, now, "no certificate yet"), now, last_failure)
    if current.names != frozenset(names):
        return _after_failure(Renewal(True, now, "the names changed"), now, last_failure)
    if now >= current.not_after:
        return _after_failure(Renewal(True, now, "expired"), now, last_failure)
    lifetime = current.not_after - current.not_before
    at = current.not_after - lifetime * RENEW_WHEN_LEFT
    reason = "a third of its lifetime is left"
    if ari_at is not None:
        at, reason = min(ari_at, current.not_after), "the CA's renewal window (ARI) has begun"
    if now < at:
        return Renewal(False, at, "valid")
    return _after_failure(Renewal(True, now, reason), now, last_failure)


def _after_failure(wanted: Renewal, now: float, last_failure: float | None) -> Renewal:
    if last_failure is None:
        return wanted
    again = last_failure + RETRY_AFTER_FAILURE
    if now < again:
        return Renewal(False, again, f"{wanted.reason}; the last attempt failed, waiting")
    return wanted
