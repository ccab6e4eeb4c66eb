"""The server's HTTP API: dyndns2, the DuckDNS-style token API, checkip, health, metrics.

Small pieces, starlette-style: :mod:`.clientaddr` resolves the client address,
:mod:`.auth` checks credentials, :class:`~homeport.core.limits.Throttle` limits,
:mod:`homeport.proto.dyndns2` speaks the protocol, and
:class:`~homeport.server.service.DdnsService` makes changes durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hmac
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from typing import Any

import prometheus_client
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from homeport.core.hostdata import MAX_NAME_LENGTH, valid_fqdn
from homeport.core.limits import Charge, FailureLimiter, Rate, Throttle, source_key
from homeport.core.units import MINUTE
from homeport.errors import HomeportError, UsageError
from homeport.proto import dyndns2
from homeport.proto.dyndns2 import Code
from homeport.server import checkip
from homeport.server.auth import (
    BasicCredentials,
    PasswordHasher,
    parse_basic,
    secret_matches,
    sha256_hex,
)
from homeport.server.clientaddr import Address, client_address
from homeport.server.config import ServerConfig
from homeport.server.probe import ProbeRequest, client_tls_context, run_probe, target_refusal
from homeport.server.service import DdnsService, UpdateIntent, UpdateOutcome
from homeport.server.shared_limits import FailureSharing
from homeport.server.store import HostRow

log = logging.getLogger(__name__)
# One line per failed login, for fail2ban and the like (format in README "Failed logins").
auth_log = logging.getLogger("homeport.auth")
# How much of a tried name the failure line shows (escaped): enough to recognise it.
LOGGED_NAME_LENGTH = 64
# What an attempt takes with limits off: nothing (refunding it gives nothing back).
FREE = Charge(None, None, trusted=False)

TEXT = "text/plain"


@dataclass(frozen=True)
class Principal:
    """Who is updating: one host (by its secret) or an account (owning hosts)."""

    kind: str  # "host" | "user"
    name: str

    def may_update(self, host: HostRow) -> bool:
        if self.kind == "host":
            return host.fqdn == self.name
        return host.owner == self.name


class AuthOutcome(enum.Enum):
    OK = "ok"
    BADAUTH = "badauth"  # verified wrong, within the failure budgets
    ABUSE = "abuse"  # verified wrong (a cheap SHA-256 check), a failure budget is spent
    THROTTLED = "throttled"  # a password not verified: a failure budget is spent
    BUSY = "busy"  # a password not verified: the argon2 pool and its queue are full


@dataclass(frozen=True)
class AuthResult:
    outcome: AuthOutcome
    principal: Principal | None = None


class AccessLogger(AbstractAccessLogger):
    """Method, path and status only: query strings carry tokens and must not be logged."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %d %.1fms",
            request.remote,
            request.method,
            request.path,
            response.status,
            time * 1000,
        )


class Api:
    """Request handlers sharing the service, config, throttles and metrics."""

    def __init__(
        self,
        service: DdnsService,
        config: ServerConfig,
        registry: prometheus_client.CollectorRegistry,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.config = config
        self.clock = clock
        limits = config.limits
        self.passwords = PasswordHasher(limits.password_workers, limits.password_queue)
        service.on_user_change = self.passwords.forget
        self.limits_on = limits.enabled
        self.host_throttle = Throttle(Rate(limits.host_requests_per_minute, limits.host_burst))
        self.failures = FailureLimiter(
            Rate(limits.failed_auth_per_minute, limits.failed_auth_burst),
            Rate(limits.failed_auth_per_name_per_minute, limits.failed_auth_per_name_burst),
        )
        # A throttled client may try again once its failure tokens have grown back.
        slowest = min(limits.failed_auth_per_minute, limits.failed_auth_per_name_per_minute)
        self.retry_after = str(math.ceil(MINUTE / slowest))
        self.token_throttle = Throttle(Rate(limits.token_requests_per_minute, limits.token_burst))
        probe = config.probe
        self.probe_throttle = Throttle(Rate(probe.rate_per_minute, probe.burst))
        self.probe_tls = client_tls_context(probe.extra_ca_file)
        self.registry = registry
        self.updates = prometheus_client.Counter(
            "homeport_updates",
            "Update requests by API and result code",
            ["api", "result"],
            registry=registry,
        )
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
        if self.limits_on and service.store.shared:
            self.sharing = FailureSharing(service.store, self._peer_failure)
            prometheus_client.Gauge(
                "homeport_auth_failures_from_peers",
                "Failed logins other instances shared and this one charged",
                registry=registry,
            ).set_function(lambda: self.sharing.received if self.sharing else 0)

    async def start(self, app: web.Application | None = None) -> None:
        if self.sharing is not None:
            await self.sharing.start()

    async def close(self, app: web.Application | None = None) -> None:
        if self.sharing is not None:
            await self.sharing.stop()
        self.passwords.close()

    # -- shared pieces --------------------------------------------------------------

    def source(self, request: web.Request) -> Address | None:
        return client_address(
            request.remote,
            request.headers.getall("X-Forwarded-For", []),
            self.config.trusted_proxies,
        )

    def _charge(self, source: Address | None, name: str | None, now: float) -> Charge | None:
        """Take failure tokens before verifying; None if a budget is spent."""
        if not self.limits_on:
            return FREE
        return self.failures.charge(*self._failure_keys(source, name), now)

    def _source_spent(self, source: Address | None, now: float) -> bool:
        key = self._failure_keys(source, None)[0]
        return self.limits_on and key is not None and self.failures.sources.blocked(key, now)

    def _failure_keys(self, source: Address | None, name: str | None) -> tuple[object, object]:
        prefix = self.config.limits.failed_auth_ipv6_prefix
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

    def _peer_failure(self, name: str | None, source: str | None) -> None:
        """Another instance's failed login: charge it to this instance's budgets too."""
        now = self.clock()
        if source is not None:
            with contextlib.suppress(ValueError):
                key = ip_network(source) if "/" in source else ip_address(source)
                self.failures.sources.allow(key, now)
        if name is not None:
            self.failures.names.allow(name, now)

    async def authenticate(
        self, creds: BasicCredentials, source: Address | None, api: str
    ) -> AuthResult:
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

    async def authenticate_token(self, token: str, source: Address | None, api: str) -> AuthResult:
        """A host's secret or an account's token (256-bit, SHA-256): a correct one always passes."""
        await self.service.ensure_fresh()
        principal = await self._token_principal(token) if token else None
        if principal is not None:
            return AuthResult(AuthOutcome.OK, principal)
        charge = self._charge(source, None, self.clock())
        outcome = AuthOutcome.BADAUTH if charge else AuthOutcome.ABUSE
        return self._failed(api, source, "", "bad-token" if token else "no-token", outcome)

    # -- dyndns2 --------------------------------------------------------------------

    async def nic_update(self, request: web.Request) -> web.Response:
        now = self.clock()
        source = self.source(request)
        if self.config.require_user_agent and not request.headers.get("User-Agent"):
            return self._dyndns(Code.BADAGENT)
        creds = parse_basic(request.headers.get("Authorization"))
        if creds is None:
            self._count("dyndns2", Code.BADAUTH.value)
            return web.Response(
                text="badauth\n",
                status=401,
                content_type=TEXT,
                headers={"WWW-Authenticate": 'Basic realm="homeport"'},
            )
        try:
            query = dyndns2.parse_update_query(list(request.query.items()))
        except dyndns2.BadAddress:
            self._count("dyndns2", "badip")
            raise web.HTTPBadRequest(text="badip: myip is not an IP address\n") from None
        auth = await self.authenticate(creds, source, "dyndns2")
        principal = auth.principal
        if principal is None:
            return self._dyndns_refused(auth.outcome)
        log.debug("dyndns2 update from %s by %s:%s", source, principal.kind, principal.name)
        hostnames = query.hostnames
        if not hostnames:
            if principal.kind != "host":
                return self._dyndns(Code.NOTFQDN)
            hostnames = (principal.name.rstrip("."),)
        if len(hostnames) > dyndns2.MAX_HOSTNAMES:
            return self._dyndns(Code.NUMHOST)
        ipv4, ipv6 = query.ipv4, query.ipv6
        if not query.has_address and not query.offline:
            # No address given: the connection's own (one family only; architecture.md, dyndns2).
            if isinstance(source, IPv4Address):
                ipv4 = source
            elif isinstance(source, IPv6Address):
                ipv6 = source
        addresses: list[IPv4Address | IPv6Address] = [a for a in (ipv4, ipv6) if a is not None]
        lines: list[str | None] = []
        intents: list[tuple[int, UpdateIntent]] = []
        actor = f"{principal.kind}:{principal.name}"
        for name in hostnames:
            if not valid_fqdn(name):
                lines.append(dyndns2.render_line(Code.NOTFQDN))
                continue
            fqdn = name + "."
            host = self.service.hosts.get(fqdn) or await self.service.fresh_host(fqdn)
            if host is None or not principal.may_update(host):
                lines.append(dyndns2.render_line(Code.NOHOST))
                continue
            if self.limits_on and not self.host_throttle.allow(fqdn, now):
                lines.append(dyndns2.render_line(Code.ABUSE))
                continue
            intents.append(
                (
                    len(lines),
                    UpdateIntent(
                        fqdn=fqdn,
                        actor=actor,
                        source=str(source),
                        ipv4=ipv4,
                        ipv6=ipv6,
                        # `offline=NO` (or an update without it) brings a host back online.
                        offline=query.offline,
                    ),
                )
            )
            lines.append(None)
        results = await asyncio.gather(
            *(self.service.update(intent) for _, intent in intents), return_exceptions=True
        )
        for (index, _intent), result in zip(intents, results, strict=True):
            lines[index] = self._result_line(result, addresses)
        text_lines = [line or "" for line in lines]
        for line in text_lines:
            self._count("dyndns2", line.split(" ", 1)[0])
        status = 429 if all(line == Code.ABUSE.value for line in text_lines) else 200
        return web.Response(text="\n".join(text_lines) + "\n", status=status, content_type=TEXT)

    def _result_line(
        self,
        result: UpdateOutcome | BaseException,
        addresses: list[IPv4Address | IPv6Address],
    ) -> str:
        if isinstance(result, UsageError):
            # The address may not be published for this host (dyndns2 badip: the client stops).
            return dyndns2.render_line(Code.BADIP)
        if isinstance(result, HomeportError):
            log.error("update not stored: %s", result)
            return dyndns2.render_line(Code.TROUBLE)
        if isinstance(result, BaseException):
            raise result
        if result.host is None:
            return dyndns2.render_line(Code.NOHOST)
        return dyndns2.render_line(Code.GOOD if result.changed else Code.NOCHG, addresses)

    def _dyndns_refused(self, outcome: AuthOutcome) -> web.Response:
        if outcome is AuthOutcome.BADAUTH:
            return self._dyndns(Code.BADAUTH)
        if outcome is AuthOutcome.ABUSE:
            return self._dyndns(Code.ABUSE, status=429)
        # Not verified: `911` means "try again later" to dyndns2 clients, where `abuse`
        # would stop a router for good although its password may well be right.
        response = self._dyndns(
            Code.TROUBLE, status=429 if outcome is AuthOutcome.THROTTLED else 503
        )
        response.headers["Retry-After"] = self.retry_after
        return response

    def _dyndns(self, code: Code, status: int = 200) -> web.Response:
        self._count("dyndns2", code.value)
        return web.Response(text=code.value + "\n", status=status, content_type=TEXT)

    def _count(self, api: str, result: str) -> None:
        self.updates.labels(api, result).inc()

    # -- DuckDNS-style token API ----------------------------------------------------

    async def token_update(self, request: web.Request) -> web.Response:
        now = self.clock()
        source = self.source(request)
        params = request.query
        verbose = params.get("verbose", "").lower() == "true"
        auth = await self.authenticate_token(params.get("token", ""), source, "token")
        principal = auth.principal
        if principal is None:
            return self._ko(status=429 if auth.outcome is AuthOutcome.ABUSE else 200)
        if self.limits_on and not self.token_throttle.allow(principal, now):
            return self._ko(status=429)
        hosts = self._token_hosts(principal, params.get("domains", ""))
        if not hosts:
            return self._ko()
        clear = params.get("clear", "").lower() == "true"
        try:
            intent_fields = self._token_fields(params, clear, source)
        except ValueError:
            return self._ko(status=400)
        actor = f"{principal.kind}:{principal.name}"
        results = await asyncio.gather(
            *(
                self.service.update(
                    UpdateIntent(fqdn=h.fqdn, actor=actor, source=str(source), **intent_fields)
                )
                for h in hosts
            ),
            return_exceptions=True,
        )
        if any(isinstance(r, BaseException) for r in results):
            for r in results:
                if isinstance(r, BaseException) and not isinstance(r, HomeportError):
                    raise r
            # A value that may not be published is the client's error (400), not ours.
            refused = any(isinstance(r, UsageError) for r in results)
            return self._ko(status=400 if refused else 200)
        self._count("token", "OK")
        body = "OK"
        if verbose:
            changed = any(isinstance(r, UpdateOutcome) and r.changed for r in results)
            v4 = intent_fields.get("ipv4") or ""
            v6 = intent_fields.get("ipv6") or ""
            body = f"OK\n{v4}\n{v6}\n{'UPDATED' if changed else 'NOCHANGE'}"
        return web.Response(text=body, content_type=TEXT)

    def _token_fields(
        self, params: Mapping[str, str], clear: bool, source: Address | None
    ) -> dict[str, Any]:
        if "txt" in params:
            if clear:
                return {"clear_txt": True}
            return {"txt": params.get("txt", "")}
        if clear:
            return {"clear_ipv4": True, "clear_ipv6": True}
        fields: dict[str, Any] = {}
        for key in ("ip", "ipv6"):
            value = params.get(key, "").strip()
            if value:
                address = dyndns2.parse_address(value)  # BadAddress (a ValueError) -> KO
                family = "ipv4" if isinstance(address, IPv4Address) else "ipv6"
                # DuckDNS: ip= takes either family, ipv6= only IPv6; two of one family
                # (ip=v6&ipv6=v6, or ipv6=v4) is a contradiction, not a choice.
                if family in fields or (key == "ipv6" and family == "ipv4"):
                    raise ValueError(f"{key}={value}: family mismatch")
                fields[family] = address
        if not fields:
            if isinstance(source, IPv4Address):
                fields["ipv4"] = source
            elif isinstance(source, IPv6Address):
                fields["ipv6"] = source
        return fields

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

    def _token_hosts(self, principal: Principal, domains: str) -> list[HostRow]:
        mine = [h for h in self.service.hosts.values() if principal.may_update(h)]
        if not domains.strip():
            return mine if principal.kind == "host" else []
        chosen: list[HostRow] = []
        for item in (d.strip().lower().rstrip(".") for d in domains.split(",")):
            if not item:
                continue
            exact = [h for h in mine if h.fqdn == item + "."]
            short = [h for h in mine if h.fqdn.split(".", 1)[0] == item]
            match = exact or (short if len(short) == 1 else [])
            if not match:
                return []  # DuckDNS answers KO if any domain is not yours
            chosen.extend(match)
        return chosen

    def _ko(self, status: int = 200) -> web.Response:
        self._count("token", "KO")
        return web.Response(text="KO", status=status, content_type=TEXT)

    # -- the reachability probe -----------------------------------------------------

    async def probe(self, request: web.Request) -> web.Response:
        now = self.clock()
        source = self.source(request)
        if not self.config.probe.enabled:
            raise web.HTTPNotFound(text="the probe is disabled on this server\n")
        if source is None:
            raise web.HTTPBadRequest(text="no client address\n")
        creds = parse_basic(request.headers.get("Authorization"))
        if creds is not None:
            auth = await self.authenticate(creds, source, "probe")
        else:
            auth = await self.authenticate_token(request.query.get("token", ""), source, "probe")
        principal = auth.principal
        if auth.outcome is not AuthOutcome.BADAUTH and principal is None:
            status = 503 if auth.outcome is AuthOutcome.BUSY else 429
            return web.json_response({"error": auth.outcome.value}, status=status)
        if principal is None:
            return web.json_response(
                {"error": "badauth"},
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="homeport"'},
            )
        try:
            probe_request = ProbeRequest.from_json(await request.json())
        except (ValueError, UsageError) as exc:
            message = str(exc) if isinstance(exc, UsageError) else "the body must be JSON"
            return web.json_response({"error": message}, status=400)
        refusal = target_refusal(source, self.config.probe.lab_networks)
        if refusal is not None:
            return web.json_response({"error": refusal}, status=403)
        if self.limits_on and not (
            self.probe_throttle.allow(("principal", principal), now)
            and self.probe_throttle.allow(("source", source), now)
        ):
            return web.json_response({"error": "rate limited"}, status=429)
        default_name = principal.name.rstrip(".") if principal.kind == "host" else str(source)
        # The target is the requester's own address: never a value from the request.
        result = await run_probe(
            source,
            probe_request,
            default_name,
            wait=self.config.probe.timeout,
            tls_context=self.probe_tls,
        )
        log.info(
            "probe by %s:%s of %s port %d (%s): %s",
            principal.kind,
            principal.name,
            source,
            probe_request.port,
            probe_request.check,
            result.error or "ok",
        )
        self._count("probe", "reachable" if result.reachable else "unreachable")
        return web.json_response(result.to_json())

    # -- checkip, health, metrics ---------------------------------------------------

    async def checkip(self, request: web.Request) -> web.Response:
        source = self.source(request)
        fmt = checkip.choose_format(request.query.get("format"), request.headers.get("Accept", ""))
        body, content_type = checkip.render(str(source), fmt)
        return web.Response(
            text=body, content_type=content_type, headers={"Cache-Control": "no-store"}
        )

    async def healthz(self, request: web.Request) -> web.Response:
        if not self.service.running:
            return web.Response(text="store task stopped\n", status=503, content_type=TEXT)
        return web.Response(text="ok\n", content_type=TEXT)

    async def metrics(self, request: web.Request) -> web.Response:
        token = self.config.metrics_token
        if token is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, f"Bearer {token}".encode()):
                raise web.HTTPUnauthorized(
                    text="metrics need a bearer token\n", headers={"WWW-Authenticate": "Bearer"}
                )
        body = prometheus_client.generate_latest(self.registry)
        return web.Response(
            body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
        )


class _ProtocolErrorFilter(logging.Filter):
    """aiohttp logs a malformed request with its first 100 bytes: the request line, where
    a token or secret may be. Keep one line with the client and the error's kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            message = record.getMessage()
            record.msg = "%s (%s %d; request not logged: it may carry a secret)"
            record.args = (message, type(exc).__name__, exc.code or 400)
            record.exc_info = None
            record.exc_text = None
        return True


def quiet_secret_logging() -> None:
    """Keep secrets and their digests out of third-party debug logs.

    aiosqlite logs every statement with its parameters at DEBUG: token and secret
    SHA-256 digests, password hashes. Our own debug lines are enough to debug with.
    """
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ProtocolErrorFilter) for f in server_log.filters):
        server_log.addFilter(_ProtocolErrorFilter())


def build_app(api: Api, *, metrics: bool = True) -> web.Application:
    """The API; ``metrics`` False when /metrics has a listener of its own."""
    app = web.Application(client_max_size=64 * 1024)
    app.on_startup.append(api.start)
    app.on_cleanup.append(api.close)
    app.router.add_get("/nic/update", api.nic_update)
    # Some routers and old clients use these paths for the same protocol.
    app.router.add_get("/v3/update", api.nic_update)
    app.router.add_get("/update", api.token_update)
    app.router.add_get("/checkip", api.checkip)
    app.router.add_get("/", api.checkip)
    app.router.add_post("/probe", api.probe)
    app.router.add_get("/healthz", api.healthz)
    if metrics:
        app.router.add_get("/metrics", api.metrics)
    return app


def build_metrics_app(api: Api) -> web.Application:
    """/metrics (and /healthz) alone, for ``metrics_listen``."""
    app = web.Application(client_max_size=1024)
    app.router.add_get("/metrics", api.metrics)
    app.router.add_get("/healthz", api.healthz)
    return app
