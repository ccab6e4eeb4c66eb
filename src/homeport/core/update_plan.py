"""The server's update planning for its two update APIs (dyndns2, DuckDNS-style token), no I/O.

(The agent's side of an update, what it asks a provider and the verdict it gets
back, is :mod:`homeport.core.update`.)

An update takes three steps, because what it changes is decided in the server's
store task against the host's state *at commit time* (several requests for one
host may be in one batch), not against what the request saw:

1. :func:`plan_dyndns2` / :func:`plan_token`: from the parsed request, the
   authentication outcome and the hosts the request names, either the whole
   answer (nothing to store: ``badauth``, ``numhost``, ``KO``…) or a plan: per
   host a result known now (``notfqdn``, ``nohost``, ``abuse``) or an
   :class:`UpdateIntent` to store.
2. In the store task, per intent: :func:`intent_problem` under the zone's policy
   (``badip``), then :func:`apply_intent` gives the host's new records; the
   store reports a :class:`Stored` per intent.
3. :func:`finish_dyndns2` / :func:`finish_token`: the answer from the plan and
   what the store did.

Answers are :class:`Reply` values (status, body, headers, the result words the
metrics count); the HTTP shell only writes them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, Protocol

from homeport.core.hostdata import address_problem, txt_problem, valid_fqdn
from homeport.core.token_scope import TokenScope
from homeport.proto import dyndns2
from homeport.proto.dyndns2 import Code, UpdateQuery

Address = IPv4Address | IPv6Address

# RFC 7617 §2: the challenge a client without credentials is sent.
BASIC_CHALLENGE = 'Basic realm="homeport"'


# -- who is updating ------------------------------------------------------------------


class AuthOutcome(enum.Enum):
    OK = "ok"
    BADAUTH = "badauth"  # verified wrong, within the failure budgets
    ABUSE = "abuse"  # verified wrong (a cheap SHA-256 check), a failure budget is spent
    THROTTLED = "throttled"  # a password not verified: a failure budget is spent
    BUSY = "busy"  # a password not verified: the argon2 pool and its queue are full


class Updatable(Protocol):
    """A host as planning sees it (the store's row has these and more)."""

    @property
    def fqdn(self) -> str: ...

    @property
    def owner(self) -> str | None: ...


@dataclass(frozen=True)
class Principal:
    """Who is updating: one host (by its secret), an account (owning hosts), or one of
    an account's scoped tokens (``name`` its owner; ``scope`` says what it may do)."""

    kind: str  # "host" | "user" | "token"
    name: str
    scope: TokenScope | None = None  # kind "token" only
    token_id: str = ""  # kind "token": which of the owner's tokens (never the secret)

    def may_update(self, host: Updatable) -> bool:
        if self.kind == "host":
            return host.fqdn == self.name
        if self.scope is not None and not self.scope.allows_host(host.fqdn):
            return False
        return host.owner == self.name

    def may_set(self, types: Iterable[str]) -> bool:
        """Whether the principal may change records of these types (see RECORD_TYPES)."""
        return self.scope is None or self.scope.allows_types(types)

    @property
    def actor(self) -> str:
        """How the audit log names it."""
        if self.kind == "token":
            return f"token:{self.name}/{self.token_id}"
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class AuthResult:
    outcome: AuthOutcome
    principal: Principal | None = None


# -- what is stored -------------------------------------------------------------------


@dataclass(frozen=True)
class UpdateIntent:
    """What one client asked for one host. ``None`` fields leave that part alone."""

    fqdn: str
    actor: str
    source: str
    ipv4: IPv4Address | None = None
    ipv6: IPv6Address | None = None
    clear_ipv4: bool = False
    clear_ipv6: bool = False
    txt: str | None = None
    clear_txt: bool = False
    offline: bool | None = None
    agent: str | None = None  # the client's User-Agent, shown on the dashboard

    @property
    def types(self) -> frozenset[str]:
        """The record types this intent changes (for a scoped token's check)."""
        types = set()
        if self.ipv4 is not None or self.clear_ipv4:
            types.add("A")
        if self.ipv6 is not None or self.clear_ipv6:
            types.add("AAAA")
        if self.txt is not None or self.clear_txt:
            types.add("TXT")
        if self.offline is not None:
            # Offline hides both address records; back online shows them.
            types.update(("A", "AAAA"))
        return frozenset(types)


class Records(Protocol):
    """A host's published data (the store's row has these and more)."""

    @property
    def ipv4(self) -> str | None: ...

    @property
    def ipv6(self) -> str | None: ...

    @property
    def txt(self) -> str | None: ...

    @property
    def offline(self) -> bool: ...


@dataclass(frozen=True)
class Published:
    """What DNS serves for one host: its addresses, TXT value and offline flag."""

    ipv4: str | None = None
    ipv6: str | None = None
    txt: str | None = None
    offline: bool = False

    @classmethod
    def of(cls, host: Records) -> Published:
        return cls(host.ipv4, host.ipv6, host.txt, host.offline)


def intent_problem(intent: UpdateIntent, *, allow_private: bool) -> str | None:
    """Why an address or TXT value of ``intent`` may not be published (the zone's policy)."""
    for address in (intent.ipv4, intent.ipv6):
        if address is not None:
            problem = address_problem(address, allow_private=allow_private)
            if problem is not None:
                return f"{address}: {problem}"
    if intent.txt is not None:
        return txt_problem(intent.txt)
    return None


def apply_intent(current: Records, intent: UpdateIntent) -> Published:
    """The host's published data after ``intent``: clears first, then the values given.

    Updating one family never touches the other unless asked (architecture.md, dyndns2).
    """
    ipv4 = None if intent.clear_ipv4 else current.ipv4
    ipv6 = None if intent.clear_ipv6 else current.ipv6
    txt = None if intent.clear_txt else current.txt
    if intent.ipv4 is not None:
        ipv4 = str(intent.ipv4)
    if intent.ipv6 is not None:
        ipv6 = str(intent.ipv6)
    if intent.txt is not None:
        txt = intent.txt
    offline = current.offline if intent.offline is None else intent.offline
    return Published(ipv4, ipv6, txt, offline)


class Stored(enum.Enum):
    """What the store task did with one intent."""

    CHANGED = "changed"
    UNCHANGED = "unchanged"
    GONE = "gone"  # the host was removed meanwhile
    REFUSED = "refused"  # a value may not be published in the host's zone
    FAILED = "failed"  # the store could not commit


# -- answers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One text/plain answer; ``results`` are the words the update metrics count."""

    status: int
    body: str
    headers: tuple[tuple[str, str], ...] = ()
    results: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiPolicy:
    """The server's settings planning depends on."""

    require_user_agent: bool = False
    # Seconds a throttled or busy password client should wait (Retry-After): the time
    # its failure budget takes to grow one attempt back.
    retry_after: int = 60


# -- dyndns2 --------------------------------------------------------------------------


@dataclass(frozen=True)
class Dyndns2Request:
    """A ``/nic/update`` request as planning needs it."""

    query: UpdateQuery | None  # None: an address in the query is not an IP address
    source: Address | None
    has_credentials: bool = True
    has_user_agent: bool = True
    user_agent: str | None = None  # kept with the host for the dashboard


@dataclass(frozen=True)
class Dyndns2Plan:
    """Per requested host, in request order: its code, or the intent to store."""

    lines: tuple[Code | UpdateIntent, ...]
    addresses: tuple[Address, ...] = ()  # what good/nochg lines show

    @property
    def intents(self) -> tuple[UpdateIntent, ...]:
        return tuple(line for line in self.lines if isinstance(line, UpdateIntent))


def _dyndns2_account(code: Code, status: int = 200, *headers: tuple[str, str]) -> Reply:
    """One line for the whole request (architecture.md, dyndns2: account-level errors once)."""
    return Reply(status, code.value + "\n", headers, (code.value,))


def dyndns2_refusal(request: Dyndns2Request, policy: ApiPolicy) -> Reply | None:
    """The answer to a request refused before anyone is authenticated, else None."""
    if policy.require_user_agent and not request.has_user_agent:
        return _dyndns2_account(Code.BADAGENT)
    if not request.has_credentials:
        return _dyndns2_account(Code.BADAUTH, 401, ("WWW-Authenticate", BASIC_CHALLENGE))
    if request.query is None:
        return Reply(400, "badip: myip is not an IP address\n", (), (Code.BADIP.value,))
    return None


def _hostnames(query: UpdateQuery, principal: Principal) -> tuple[str, ...] | Code:
    if not query.hostnames:
        # A host's own secret may omit hostname=; an account must say which host.
        if principal.kind != "host":
            return Code.NOTFQDN
        return (principal.name.rstrip("."),)
    if len(query.hostnames) > dyndns2.MAX_HOSTNAMES:
        return Code.NUMHOST
    return query.hostnames


def dyndns2_names(request: Dyndns2Request, auth: AuthResult) -> tuple[str, ...]:
    """The host names (absolute) :func:`plan_dyndns2` will look up for this request."""
    if request.query is None or auth.principal is None:
        return ()
    hostnames = _hostnames(request.query, auth.principal)
    if isinstance(hostnames, Code):
        return ()
    return tuple(name + "." for name in hostnames if valid_fqdn(name))


def _dyndns2_refused(outcome: AuthOutcome, policy: ApiPolicy) -> Reply:
    if outcome is AuthOutcome.ABUSE:
        return _dyndns2_account(Code.ABUSE, 429)
    if outcome in (AuthOutcome.THROTTLED, AuthOutcome.BUSY):
        # Not verified: `911` means "try again later" to dyndns2 clients, where `abuse`
        # would stop a router for good although its password may well be right.
        status = 429 if outcome is AuthOutcome.THROTTLED else 503
        return _dyndns2_account(Code.TROUBLE, status, ("Retry-After", str(policy.retry_after)))
    return _dyndns2_account(Code.BADAUTH)


def _dyndns2_types(ipv4: Address | None, ipv6: Address | None, *, offline: bool) -> set[str]:
    """The record types a dyndns2 request changes (``offline`` hides both address types;
    every request carries it, so it counts only when set)."""
    if offline:
        return {"A", "AAAA"}
    return {t for t, a in (("A", ipv4), ("AAAA", ipv6)) if a is not None}


def plan_dyndns2(
    request: Dyndns2Request,
    policy: ApiPolicy,
    auth: AuthResult,
    hosts: Mapping[str, Updatable],
    admit: Callable[[str], bool],
) -> Reply | Dyndns2Plan:
    """The answer, or the plan, for a ``/nic/update`` request.

    ``hosts``: the existing hosts among :func:`dyndns2_names` (absent: no such host).
    ``admit(fqdn)``: the per-host throttle (called once per host that may be updated).
    """
    refused = dyndns2_refusal(request, policy)
    if refused is not None:
        return refused
    query = request.query
    assert query is not None  # dyndns2_refusal answers a request without one
    principal = auth.principal
    if principal is None:
        return _dyndns2_refused(auth.outcome, policy)
    hostnames = _hostnames(query, principal)
    if isinstance(hostnames, Code):
        return _dyndns2_account(hostnames)
    ipv4, ipv6 = query.ipv4, query.ipv6
    if not query.has_address and not query.offline:
        # No address given: the connection's own (one family only; architecture.md, dyndns2).
        if isinstance(request.source, IPv4Address):
            ipv4 = request.source
        elif isinstance(request.source, IPv6Address):
            ipv6 = request.source
    lines: list[Code | UpdateIntent] = []
    for name in hostnames:
        if not valid_fqdn(name):
            lines.append(Code.NOTFQDN)
            continue
        fqdn = name + "."
        host = hosts.get(fqdn)
        intent = UpdateIntent(
            fqdn=fqdn,
            actor=principal.actor,
            source=str(request.source),
            ipv4=ipv4,
            ipv6=ipv6,
            # `offline=NO` (or an update without it) brings a host back online.
            offline=query.offline,
            agent=request.user_agent,
        )
        if host is None or not principal.may_update(host):
            lines.append(Code.NOHOST)
        elif not principal.may_set(_dyndns2_types(ipv4, ipv6, offline=query.offline)):
            # A scoped token without these record types: not a host it may update.
            lines.append(Code.NOHOST)
        elif not admit(fqdn):
            lines.append(Code.ABUSE)
        else:
            lines.append(intent)
    return Dyndns2Plan(tuple(lines), tuple(a for a in (ipv4, ipv6) if a is not None))


_DYNDNS2_STORED = {
    Stored.CHANGED: Code.GOOD,
    Stored.UNCHANGED: Code.NOCHG,
    Stored.GONE: Code.NOHOST,
    # The address may not be published for this host: badip, fatal (see dyndns2.Code).
    Stored.REFUSED: Code.BADIP,
    Stored.FAILED: Code.TROUBLE,
}


def finish_dyndns2(plan: Dyndns2Plan, stored: Sequence[Stored]) -> Reply:
    """The answer: one line per host in request order; ``stored`` is per intent, in order."""
    outcomes = iter(stored)
    codes = [
        line if isinstance(line, Code) else _DYNDNS2_STORED[next(outcomes)] for line in plan.lines
    ]
    text = [dyndns2.render_line(code, plan.addresses) for code in codes]
    # All throttled: say so in the status as well, for clients that only read that.
    status = 429 if all(code is Code.ABUSE for code in codes) else 200
    return Reply(status, "\n".join(text) + "\n", (), tuple(code.value for code in codes))


# -- the token API (DuckDNS style) ----------------------------------------------------


@dataclass(frozen=True)
class TokenQuery:
    """``/update?domains=a,b&token=T[&ip=][&ipv6=][&txt=][&clear=true][&verbose=true]``."""

    token: str = ""
    domains: str = ""
    ip: str = ""
    ipv6: str = ""
    txt: str | None = None  # None: no txt= at all (txt= with no value sets it empty)
    clear: bool = False
    verbose: bool = False

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> TokenQuery:
        """From the query's parameters (the first of each name)."""
        return cls(
            token=params.get("token", ""),
            domains=params.get("domains", ""),
            ip=params.get("ip", "").strip(),
            ipv6=params.get("ipv6", "").strip(),
            txt=params.get("txt", "") if "txt" in params else None,
            clear=params.get("clear", "").lower() == "true",
            verbose=params.get("verbose", "").lower() == "true",
        )


@dataclass(frozen=True)
class TokenPlan:
    intents: tuple[UpdateIntent, ...]
    verbose: bool = False
    ipv4: IPv4Address | None = None  # what a verbose answer shows
    ipv6: IPv6Address | None = None


def _ko(status: int = 200) -> Reply:
    return Reply(status, "KO", (), ("KO",))


def token_hosts(principal: Principal, domains: str, hosts: Iterable[Updatable]) -> list[Updatable]:
    """The hosts ``domains`` names (full names or first labels); [] if any is not the caller's."""
    mine = [h for h in hosts if principal.may_update(h)]
    if not domains.strip():
        return mine if principal.kind == "host" else []
    chosen: list[Updatable] = []
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


def _token_fields(query: TokenQuery, source: Address | None) -> dict[str, Any]:
    """The intent's fields; ValueError (BadAddress is one) for a contradictory request."""
    if query.txt is not None:
        return {"clear_txt": True} if query.clear else {"txt": query.txt}
    if query.clear:
        return {"clear_ipv4": True, "clear_ipv6": True}
    fields: dict[str, Any] = {}
    for key, value in (("ip", query.ip), ("ipv6", query.ipv6)):
        if value:
            address = dyndns2.parse_address(value)
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


def plan_token(
    query: TokenQuery,
    source: Address | None,
    auth: AuthResult,
    hosts: Iterable[Updatable],
    admit: Callable[[Principal], bool],
    *,
    user_agent: str | None = None,
) -> Reply | TokenPlan:
    """The answer, or the plan, for a token-API request.

    ``hosts``: every host (the caller's are picked here); ``admit(principal)``: the
    per-token throttle.
    """
    principal = auth.principal
    if principal is None:
        return _ko(status=429 if auth.outcome is AuthOutcome.ABUSE else 200)
    if not admit(principal):
        return _ko(status=429)
    chosen = token_hosts(principal, query.domains, hosts)
    if not chosen:
        return _ko()
    try:
        fields = _token_fields(query, source)
    except ValueError:
        return _ko(status=400)
    intents = tuple(
        UpdateIntent(
            fqdn=h.fqdn, actor=principal.actor, source=str(source), agent=user_agent, **fields
        )
        for h in chosen
    )
    if not all(principal.may_set(i.types) for i in intents):
        return _ko()  # a scoped token without these record types
    return TokenPlan(intents, query.verbose, fields.get("ipv4"), fields.get("ipv6"))


def finish_token(plan: TokenPlan, stored: Sequence[Stored]) -> Reply:
    if any(s in (Stored.REFUSED, Stored.FAILED) for s in stored):
        # A value that may not be published is the client's error (400), not ours.
        return _ko(status=400 if Stored.REFUSED in stored else 200)
    body = "OK"
    if plan.verbose:
        changed = Stored.CHANGED in stored
        v4 = plan.ipv4 or ""
        v6 = plan.ipv6 or ""
        body = f"OK\n{v4}\n{v6}\n{'UPDATED' if changed else 'NOCHANGE'}"
    return Reply(200, body, (), ("OK",))
