"""Who is calling: a host's secret, an account's password or token, within failure budgets.

Shared by every API that takes credentials. Failed logins are logged one line each
(for fail2ban) and counted; secrets never appear in either.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Callable
from ipaddress import ip_address, ip_network

import prometheus_client

from homeport.core.hostdata import MAX_NAME_LENGTH
from homeport.core.limits import Charge, FailureLimiter, Rate, source_key
from homeport.core.token_scope import TokenScope
from homeport.core.units import MINUTE
from homeport.core.update_plan import AuthOutcome, AuthResult, Principal
from homeport.server.auth import BasicCredentials, PasswordHasher, secret_matches, sha256_hex
from homeport.server.clientaddr import Address
from homeport.server.config import LimitsConfig
from homeport.server.service import DdnsService
from homeport.server.shared_limits import FailureSharing
from homeport.server.store import ApiTokenRow

# One line per failed login, for fail2ban and the like (format in README "Failed logins").
auth_log = logging.getLogger("homeport.auth")
# How much of a tried name the failure line shows (escaped): enough to recognise it.
LOGGED_NAME_LENGTH = 64
# What an attempt takes with limits off: nothing (refunding it gives nothing back).
FREE = Charge(None, None, trusted=False)
# Longer than any token we issue (token_urlsafe(32) is 43 characters): not looked up.
MAX_TOKEN_LENGTH = 128


def scope_of(row: ApiTokenRow) -> TokenScope:
    """A stored token's scope (its lists were checked when it was made)."""
    return TokenScope(
        hosts=frozenset(row.hosts.split()),
        types=frozenset(row.types.split()),
        subnets=tuple(ip_network(n) for n in row.subnets.split()),
        expires=row.expires,
    )


class Login:
    """Checks credentials against the service's hosts and users."""

    def __init__(
        self,
        service: DdnsService,
        limits: LimitsConfig,
        registry: prometheus_client.CollectorRegistry,
        clock: Callable[[], float],
    ) -> None:
        self.service = service
        self.clock = clock
        self.limits = limits
        self.passwords = PasswordHasher(limits.password_workers, limits.password_queue)
        service.on_user_change = self.passwords.forget
        self.failures = FailureLimiter(
            Rate(limits.failed_auth_per_minute, limits.failed_auth_burst),
            Rate(limits.failed_auth_per_name_per_minute, limits.failed_auth_per_name_burst),
        )
        # A throttled client may try again once its failure tokens have grown back.
        slowest = min(limits.failed_auth_per_minute, limits.failed_auth_per_name_per_minute)
        self.retry_after = math.ceil(MINUTE / slowest)
        self.auth_failures = prometheus_client.Counter(
            "homeport_auth_failures",
            "Failed logins by API and answer (badauth, abuse, throttled, busy)",
            ["api", "answer"],
            registry=registry,
        )
        # Real and dummy-hash verifications alike: a public /metrics tells nobody which.
        self.password_verifications = prometheus_client.Counter(
            "homeport_password_verifications",
            "argon2 password verifications run",
            registry=registry,
        )
        prometheus_client.Gauge(
            "homeport_password_queue",
            "argon2 verifications running or waiting",
            registry=registry,
        ).set_function(lambda: self.passwords.in_flight)
        # Several instances on one PostgreSQL database share their failed logins.
        self.sharing: FailureSharing | None = None
        if limits.enabled and service.store.shared:
            self.sharing = FailureSharing(service.store, self._peer_failure)
            prometheus_client.Gauge(
                "homeport_auth_failures_from_peers",
                "Failed logins other instances shared and this one charged",
                registry=registry,
            ).set_function(lambda: self.sharing.received if self.sharing else 0)

    async def start(self) -> None:
        if self.sharing is not None:
            await self.sharing.start()

    async def close(self) -> None:
        if self.sharing is not None:
            await self.sharing.stop()
        self.passwords.close()

    def _peer_failure(self, name: str | None, source: str | None) -> None:
        """Another instance's failed login: charge it to this instance's budgets too."""
        now = self.clock()
        if source is not None:
            with contextlib.suppress(ValueError):
                key = ip_network(source) if "/" in source else ip_address(source)
                self.failures.sources.allow(key, now)
        if name is not None:
            self.failures.names.allow(name, now)

    def _charge(self, source: Address | None, name: str | None, now: float) -> Charge | None:
        """Take failure tokens before verifying; None if a budget is spent."""
        if not self.limits.enabled:
            return FREE
        return self.failures.charge(*self._failure_keys(source, name), now)

    def _source_spent(self, source: Address | None, now: float) -> bool:
        key = self._failure_keys(source, None)[0]
        return self.limits.enabled and key is not None and self.failures.sources.blocked(key, now)

    def source_spent(self, source: Address | None) -> bool:
        """Whether ``source`` spent its failure budget (checked before a key is looked at)."""
        return self._source_spent(source, self.clock())

    def failed_key(self, api: str, source: Address | None, name: str, reason: str) -> AuthResult:
        """A key that did not verify (TSIG, acme-dns): charged and logged as a wrong secret."""
        charge = self._charge(source, name or None, self.clock())
        outcome = AuthOutcome.BADAUTH if charge else AuthOutcome.ABUSE
        return self._failed(api, source, name, reason, outcome)

    def _failure_keys(self, source: Address | None, name: str | None) -> tuple[object, object]:
        prefix = self.limits.failed_auth_ipv6_prefix
        return (
            source_key(source, prefix) if source is not None else None,
            name[: MAX_NAME_LENGTH + 1] if name is not None else None,
        )

    def _failed(
        self, api: str, source: Address | None, name: str, reason: str, outcome: AuthOutcome
    ) -> AuthResult:
        # fail2ban: the source comes first and is never attacker text; the name is
        # JSON-escaped (no newline or quote can forge a second line); never the secret.
        auth_log.warning(
            "auth failure from %s api=%s name=%s reason=%s answer=%s",
            source if source is not None else "-",
            api,
            json.dumps(name[:LOGGED_NAME_LENGTH]),
            reason,
            outcome.value,
        )
        self.auth_failures.labels(api, outcome.value).inc()
        if self.sharing is not None and outcome is AuthOutcome.BADAUTH:
            # Charged here (BADAUTH): the other instances charge it too.
            key, name_key = self._failure_keys(source, name.strip().lower().rstrip(".") or None)
            self.sharing.failed(
                str(name_key) if name_key is not None else None,
                str(key) if key is not None else None,
            )
        return AuthResult(outcome)

    async def basic(self, creds: BasicCredentials, source: Address | None, api: str) -> AuthResult:
        """A host's name and secret, or an account's name and password.

        Host secrets are 256-bit and checked with SHA-256: a correct one always passes,
        whatever others did. A password attempt first takes failure tokens (see
        :class:`~homeport.core.limits.FailureLimiter`: a client that logged in before
        from the same source has a budget of its own), then is checked against the
        cache of recent successes or, on the bounded pool, with argon2, and gives the
        tokens back if it was right. An unknown name is verified against a dummy hash:
        it costs and answers exactly as a wrong password does.
        """
        now = self.clock()
        await self.service.ensure_fresh()
        username = creds.username.strip().lower().rstrip(".")
        fqdn = username + "."
        # A source whose budget is spent costs no store query: memory is current after
        # ensure_fresh(); the store lookups below only cover a race with an admin command.
        spent = self._source_spent(source, now)
        host = self.service.hosts.get(fqdn)
        if not spent and (host is None or not secret_matches(creds.password, host.secret_sha256)):
            # Not known here, or the secret was just rotated by an admin command: ask the store.
            host = await self.service.fresh_host(fqdn)
        if host is not None and secret_matches(creds.password, host.secret_sha256):
            return AuthResult(AuthOutcome.OK, Principal("host", fqdn))
        # A scoped token as the account's password (name: its owner), 256-bit like a
        # host secret: a correct one always passes; one used outside its scope fails.
        scoped = await self._scoped_token(creds.password, creds.username, source)
        if isinstance(scoped, Principal):
            return AuthResult(AuthOutcome.OK, scoped)
        if scoped is not None:
            charge = self._charge(source, username, now)
            outcome = AuthOutcome.BADAUTH if charge else AuthOutcome.ABUSE
            return self._failed(api, source, creds.username, scoped, outcome)
        user = self.service.users.get(creds.username)
        if user is None and not spent:
            user = await self.service.fresh_user(creds.username)
        charge = self._charge(source, username, now)
        if user is None and host is not None:
            # A host name (public in DNS anyway) with a wrong secret: already verified.
            outcome = AuthOutcome.BADAUTH if charge else AuthOutcome.ABUSE
            return self._failed(api, source, creds.username, "bad-secret", outcome)
        if charge is None:
            # Not compared with anything, not even the cache: no guess gets an answer.
            return self._failed(api, source, creds.username, "throttled", AuthOutcome.THROTTLED)
        if user is not None and self.passwords.recall(
            user.name, user.password_hash, creds.password, now
        ):
            self.failures.succeeded(charge, now)
            return AuthResult(AuthOutcome.OK, Principal("user", user.name))
        ok = await self.passwords.verify(
            user.name if user else "",
            user.password_hash if user else None,
            creds.password,
            now,
        )
        if ok is None:
            self.failures.refund(charge, now)
            return self._failed(api, source, creds.username, "busy", AuthOutcome.BUSY)
        self.password_verifications.inc()
        if ok and user is not None:
            self.failures.succeeded(charge, now)
            return AuthResult(AuthOutcome.OK, Principal("user", user.name))
        reason = "bad-password" if user is not None else "unknown-name"
        return self._failed(api, source, creds.username, reason, AuthOutcome.BADAUTH)

    async def token(self, token: str, source: Address | None, api: str) -> AuthResult:
        """A host's secret or an account's token (256-bit, SHA-256): a correct one always passes."""
        await self.service.ensure_fresh()
        principal = await self._token_principal(token) if token else None
        reason = "bad-token" if token else "no-token"
        if principal is None and token:
            scoped = await self._scoped_token(token, None, source)
            if isinstance(scoped, Principal):
                principal = scoped
            elif scoped is not None:
                reason = scoped
        if principal is not None:
            return AuthResult(AuthOutcome.OK, principal)
        charge = self._charge(source, None, self.clock())
        outcome = AuthOutcome.BADAUTH if charge else AuthOutcome.ABUSE
        return self._failed(api, source, "", reason, outcome)

    async def _scoped_token(
        self, secret: str, owner: str | None, source: Address | None
    ) -> Principal | str | None:
        """The scoped token ``secret`` (of ``owner``, if given) as a principal; the refusal
        reason if it is expired or used from outside its networks; None if no such token."""
        if not secret or len(secret) > MAX_TOKEN_LENGTH:
            return None
        row = await self.service.store.api_token(sha256_hex(secret))
        if row is None or (owner is not None and row.owner != owner):
            return None
        scope = scope_of(row)
        if scope.expired(self.service.clock()):  # wall time (self.clock is monotonic)
            return "expired-token"
        if not scope.allows_source(source):
            return "token-source"
        return Principal("token", row.owner, scope, row.id)

    async def _token_principal(self, token: str) -> Principal | None:
        # Looked up by digest (an index), so no timing difference reveals a partial match.
        digest = sha256_hex(token)
        host = await self.service.store.host_by_secret(digest)
        if host is not None:
            return Principal("host", host.fqdn)
        user = await self.service.store.user_by_token(digest)
        if user is not None:
            return Principal("user", user.name)
        return None
