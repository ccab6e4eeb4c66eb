"""Update planning, table by table: request bytes and host rows in, answer bytes and rows out.

Each case runs the three steps exactly as the HTTP shells do (``api_dyndns2``,
``api_token``): plan, store (here :func:`commit`, the store task's decisions:
``intent_problem`` under the zone policy, then ``apply_intent``), finish.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv6Address, ip_address
from urllib.parse import parse_qsl

import pytest

from homeport.core.update_plan import (
    ApiPolicy,
    AuthOutcome,
    AuthResult,
    Dyndns2Plan,
    Dyndns2Request,
    Principal,
    Published,
    Reply,
    Stored,
    TokenPlan,
    TokenQuery,
    UpdateIntent,
    apply_intent,
    dyndns2_names,
    finish_dyndns2,
    finish_token,
    intent_problem,
    plan_dyndns2,
    plan_token,
)
from homeport.proto import dyndns2
from homeport.proto.dyndns2 import Code

HOME = "home.dyn.example.net."
NAS = "nas.lan.example."  # in a zone that allows private addresses
BOBS = "bobs.dyn.example.net."
V4 = IPv4Address("198.51.100.7")
V6 = IPv6Address("2001:db8::7")
POLICY = ApiPolicy(require_user_agent=True, retry_after=12)


@dataclass(frozen=True)
class Row:
    """A host row as the store holds it (the fields planning reads)."""

    fqdn: str
    owner: str | None = None
    ipv4: str | None = None
    ipv6: str | None = None
    txt: str | None = None
    offline: bool = False


ROWS = {
    HOME: Row(HOME, ipv4="192.0.2.1"),
    NAS: Row(NAS, owner="bob"),
    BOBS: Row(BOBS, owner="bob", ipv4="192.0.2.2", txt="old"),
}
PRIVATE_ZONES = ("lan.example.",)
AS_HOME = AuthResult(AuthOutcome.OK, Principal("host", HOME))
AS_BOB = AuthResult(AuthOutcome.OK, Principal("user", "bob"))


def commit(
    rows: dict[str, Row], intents: tuple[UpdateIntent, ...], failing: frozenset[str]
) -> list[Stored]:
    """What the store task does with each intent, in order (rows updated in place)."""
    stored = []
    for intent in intents:
        current = rows.get(intent.fqdn)
        allow_private = intent.fqdn.endswith(PRIVATE_ZONES)
        if intent.fqdn in failing:
            stored.append(Stored.FAILED)
        elif current is None:
            stored.append(Stored.GONE)
        elif intent_problem(intent, allow_private=allow_private) is not None:
            stored.append(Stored.REFUSED)
        else:
            after = apply_intent(current, intent)
            changed = after != Published.of(current)
            rows[intent.fqdn] = replace(
                current, ipv4=after.ipv4, ipv6=after.ipv6, txt=after.txt, offline=after.offline
            )
            stored.append(Stored.CHANGED if changed else Stored.UNCHANGED)
    return stored


def always(_key: Hashable) -> bool:
    return True


# -- dyndns2 --------------------------------------------------------------------------


@dataclass(frozen=True)
class D2:
    """One dyndns2 case: the request, then the answer and the rows after it."""

    query: str
    status: int
    body: bytes
    auth: AuthResult = AS_HOME
    source: str = "203.0.113.9"
    credentials: bool = True
    agent: bool = True
    admit: Callable[[str], bool] = always
    gone: tuple[str, ...] = ()  # removed between planning and commit
    failing: frozenset[str] = frozenset()
    headers: tuple[tuple[str, str], ...] = ()
    rows: dict[str, Row] = field(default_factory=dict)  # the rows that changed


def run_dyndns2(case: D2) -> tuple[Reply, dict[str, Row]]:
    try:
        query: dyndns2.UpdateQuery | None = dyndns2.parse_update_query(parse_qsl(case.query))
    except dyndns2.BadAddress:
        query = None
    request = Dyndns2Request(query, ip_address(case.source), case.credentials, case.agent)
    rows = dict(ROWS)
    # The shell looks up exactly the names the plan asks for.
    hosts = {n: rows[n] for n in dyndns2_names(request, case.auth) if n in rows}
    planned = plan_dyndns2(request, POLICY, case.auth, hosts, case.admit)
    if isinstance(planned, Reply):
        return planned, rows
    for name in case.gone:
        del rows[name]
    return finish_dyndns2(planned, commit(rows, planned.intents, case.failing)), rows


def only(fqdn: str) -> Callable[[str], bool]:
    return lambda name: name == fqdn


DYNDNS2 = {
    "good": D2(
        f"hostname={HOME}&myip=198.51.100.7",
        200,
        b"good 198.51.100.7\n",
        rows={HOME: Row(HOME, ipv4="198.51.100.7")},
    ),
    "good-both-families-either-order": D2(
        f"hostname={HOME}&myip=2001:db8::7,198.51.100.7",
        200,
        b"good 198.51.100.7,2001:db8::7\n",
        rows={HOME: Row(HOME, ipv4="198.51.100.7", ipv6="2001:db8::7")},
    ),
    "good-myipv6-leaves-a-alone": D2(
        f"hostname={HOME}&myipv6=2001:db8::7",
        200,
        b"good 2001:db8::7\n",
        rows={HOME: Row(HOME, ipv4="192.0.2.1", ipv6="2001:db8::7")},
    ),
    "good-no-address-takes-the-source": D2(
        "hostname=home.dyn.example.net",
        200,
        b"good 203.0.113.9\n",
        rows={HOME: Row(HOME, ipv4="203.0.113.9")},
    ),
    "good-own-name-when-hostname-omitted": D2(
        "myip=198.51.100.7",
        200,
        b"good 198.51.100.7\n",
        rows={HOME: Row(HOME, ipv4="198.51.100.7")},
    ),
    "good-offline": D2(
        f"hostname={HOME}&offline=yes",
        200,
        b"good\n",
        rows={HOME: Row(HOME, ipv4="192.0.2.1", offline=True)},
    ),
    "nochg": D2(f"hostname={HOME}&myip=192.0.2.1", 200, b"nochg 192.0.2.1\n"),
    "badauth-no-credentials": D2(
        f"hostname={HOME}&myip=192.0.2.1",
        401,
        b"badauth\n",
        credentials=False,
        headers=(("WWW-Authenticate", 'Basic realm="homeport"'),),
    ),
    "badauth-wrong-secret": D2(
        f"hostname={HOME}&myip=198.51.100.7",
        200,
        b"badauth\n",
        auth=AuthResult(AuthOutcome.BADAUTH),
    ),
    "notfqdn-bad-label": D2(f"hostname=-bad-.example.net&myip={V4}", 200, b"notfqdn\n"),
    "notfqdn-one-label": D2(f"hostname=home&myip={V4}", 200, b"notfqdn\n"),
    "notfqdn-account-without-hostname": D2(f"myip={V4}", 200, b"notfqdn\n", auth=AS_BOB),
    "nohost-unknown": D2(f"hostname=nobody.dyn.example.net&myip={V4}", 200, b"nohost\n"),
    "nohost-not-the-callers": D2(f"hostname={BOBS}&myip={V4}", 200, b"nohost\n"),
    "nohost-removed-before-commit": D2(
        f"hostname={HOME}&myip={V4}", 200, b"nohost\n", gone=(HOME,)
    ),
    "numhost": D2(
        "hostname=" + ",".join(f"h{i}.dyn.example.net" for i in range(21)),
        200,
        b"numhost\n",
    ),
    "abuse-failure-budget-spent": D2(
        f"hostname={HOME}&myip={V4}", 429, b"abuse\n", auth=AuthResult(AuthOutcome.ABUSE)
    ),
    "abuse-host-throttled": D2(
        f"hostname={HOME}&myip={V4}", 429, b"abuse\n", admit=lambda _name: False
    ),
    "abuse-one-of-two-throttled": D2(
        f"hostname={NAS},{BOBS}&myip={V4}",
        200,
        b"abuse\ngood 198.51.100.7\n",
        auth=AS_BOB,
        admit=only(BOBS),
        rows={BOBS: Row(BOBS, "bob", ipv4="198.51.100.7", txt="old")},
    ),
    "badagent": D2(f"hostname={HOME}&myip={V4}", 200, b"badagent\n", agent=False),
    "911-password-not-verified-throttled": D2(
        f"hostname={HOME}&myip={V4}",
        429,
        b"911\n",
        auth=AuthResult(AuthOutcome.THROTTLED),
        headers=(("Retry-After", "12"),),
    ),
    "911-password-pool-busy": D2(
        f"hostname={HOME}&myip={V4}",
        503,
        b"911\n",
        auth=AuthResult(AuthOutcome.BUSY),
        headers=(("Retry-After", "12"),),
    ),
    "911-store-failed": D2(f"hostname={HOME}&myip={V4}", 200, b"911\n", failing=frozenset({HOME})),
    "badip-not-an-address": D2(
        f"hostname={HOME}&myip=300.1.2.3", 400, b"badip: myip is not an IP address\n"
    ),
    "badip-ipv4-in-myipv6": D2(
        f"hostname={HOME}&myipv6=198.51.100.7", 400, b"badip: myip is not an IP address\n"
    ),
    "badip-private-in-a-public-zone": D2(f"hostname={HOME}&myip=10.1.2.3", 200, b"badip\n"),
    "private-in-a-lan-zone": D2(
        f"hostname={NAS}&myip=10.1.2.3",
        200,
        b"good 10.1.2.3\n",
        auth=AS_BOB,
        rows={NAS: Row(NAS, "bob", ipv4="10.1.2.3")},
    ),
    "per-host-lines-in-request-order": D2(
        f"hostname={BOBS},{HOME},x,{NAS}&myip=10.1.2.3",
        200,
        b"badip\nnohost\nnotfqdn\ngood 10.1.2.3\n",
        auth=AS_BOB,
        rows={NAS: Row(NAS, "bob", ipv4="10.1.2.3")},
    ),
}


@pytest.mark.parametrize("case", DYNDNS2.values(), ids=DYNDNS2.keys())
def test_dyndns2(case: D2) -> None:
    reply, rows = run_dyndns2(case)
    assert (reply.status, reply.body.encode(), reply.headers) == (
        case.status,
        case.body,
        case.headers,
    )
    # The metrics count one result per line, by its code word.
    assert reply.results == tuple(line.split()[0].rstrip(":") for line in reply.body.splitlines())
    changed = {name: row for name, row in rows.items() if ROWS.get(name) != row}
    assert changed == case.rows


def test_every_code_the_server_sends_has_a_case() -> None:
    lines = [line for case in DYNDNS2.values() for line in case.body.decode().splitlines()]
    # badip's 400 body explains itself after the code word.
    sent = {line.split()[0].rstrip(":") for line in lines}
    never = {Code.DNSERR.value, Code.NOT_DONATOR.value}
    assert sent == {code.value for code in Code} - never


def test_the_server_never_answers_dnserr_or_donator() -> None:
    """dnserr and !donator are for clients of other providers: no outcome here maps to them."""
    plan = Dyndns2Plan(tuple(UpdateIntent(HOME, "t", "t") for _ in Stored), (V4,))
    words = finish_dyndns2(plan, list(Stored)).results
    assert words == ("good", "nochg", "nohost", "badip", "911")
    for outcome in AuthOutcome:
        if outcome is AuthOutcome.OK:
            continue
        request = Dyndns2Request(dyndns2.parse_update_query([("hostname", HOME)]), V4)
        reply = plan_dyndns2(request, POLICY, AuthResult(outcome), {}, always)
        assert isinstance(reply, Reply)
        assert reply.results[0] not in ("dnserr", "!donator")


def test_dyndns2_looks_up_only_names_that_get_a_line() -> None:
    query = dyndns2.parse_update_query([("hostname", f"{HOME},bad_name!,{NAS}")])
    request = Dyndns2Request(query, V4)
    assert dyndns2_names(request, AS_HOME) == (HOME, NAS)
    assert dyndns2_names(request, AuthResult(AuthOutcome.BADAUTH)) == ()
    many = dyndns2.parse_update_query([("hostname", ",".join(f"h{i}.x.y" for i in range(21)))])
    assert dyndns2_names(Dyndns2Request(many, V4), AS_HOME) == ()


def test_dyndns2_throttle_is_asked_once_per_updatable_host_in_order() -> None:
    asked: list[str] = []

    def admit(name: str) -> bool:
        asked.append(name)
        return True

    query = dyndns2.parse_update_query([("hostname", f"{NAS},x,{HOME},{BOBS},{NAS}")])
    request = Dyndns2Request(query, V4)
    hosts = {n: ROWS[n] for n in dyndns2_names(request, AS_BOB) if n in ROWS}
    planned = plan_dyndns2(request, POLICY, AS_BOB, hosts, admit)
    assert isinstance(planned, Dyndns2Plan)
    assert asked == [NAS, BOBS, NAS]
    assert [i.actor for i in planned.intents] == ["user:bob"] * 3


# -- the token API --------------------------------------------------------------------


@dataclass(frozen=True)
class Tk:
    query: str
    status: int
    body: bytes
    auth: AuthResult = AS_HOME
    source: str = "203.0.113.9"
    admit: Callable[[Principal], bool] = always
    failing: frozenset[str] = frozenset()
    rows: dict[str, Row] = field(default_factory=dict)


def run_token(case: Tk) -> tuple[Reply, dict[str, Row]]:
    query = TokenQuery.from_params(dict(parse_qsl(case.query, keep_blank_values=True)))
    rows = dict(ROWS)
    planned = plan_token(query, ip_address(case.source), case.auth, rows.values(), case.admit)
    if isinstance(planned, Reply):
        return planned, rows
    return finish_token(planned, commit(rows, planned.intents, case.failing)), rows


TOKEN = {
    "ok-ip": Tk("domains=home&ip=198.51.100.7", 200, b"OK", rows={HOME: Row(HOME, ipv4=str(V4))}),
    "ok-full-name-ipv6-keeps-a": Tk(
        f"domains={HOME}&ipv6=2001:db8::7",
        200,
        b"OK",
        rows={HOME: Row(HOME, ipv4="192.0.2.1", ipv6=str(V6))},
    ),
    "ok-no-domains-is-the-hosts-own": Tk(
        "ip=2001:db8::7", 200, b"OK", rows={HOME: Row(HOME, ipv4="192.0.2.1", ipv6=str(V6))}
    ),
    "ok-no-address-takes-the-source": Tk(
        "domains=home",
        200,
        b"OK",
        source="2001:db8::9",
        rows={HOME: Row(HOME, ipv4="192.0.2.1", ipv6="2001:db8::9")},
    ),
    # One host's zone refuses the address: KO, though the other host's change is stored.
    "ko-private-refused-for-one-of-two": Tk(
        "domains=nas,bobs&ip=10.1.2.3&verbose=true",
        400,
        b"KO",
        auth=AS_BOB,
        rows={NAS: Row(NAS, "bob", ipv4="10.1.2.3")},
    ),
    "ok-verbose-updated": Tk(
        "domains=nas,bobs&ip=198.51.100.7&verbose=true",
        200,
        b"OK\n198.51.100.7\n\nUPDATED",
        auth=AS_BOB,
        rows={
            NAS: Row(NAS, "bob", ipv4=str(V4)),
            BOBS: Row(BOBS, "bob", ipv4=str(V4), txt="old"),
        },
    ),
    "ok-verbose-nochange": Tk(
        "domains=home&ip=192.0.2.1&verbose=true", 200, b"OK\n192.0.2.1\n\nNOCHANGE"
    ),
    "ok-txt-keeps-addresses": Tk(
        "domains=bobs&txt=acme-token",
        200,
        b"OK",
        auth=AS_BOB,
        rows={BOBS: Row(BOBS, "bob", ipv4="192.0.2.2", txt="acme-token")},
    ),
    "ok-txt-clear": Tk(
        "domains=bobs&txt=&clear=true",
        200,
        b"OK",
        auth=AS_BOB,
        rows={BOBS: Row(BOBS, "bob", ipv4="192.0.2.2")},
    ),
    "ok-clear-addresses-keeps-txt": Tk(
        "domains=bobs&clear=true", 200, b"OK", auth=AS_BOB, rows={BOBS: Row(BOBS, "bob", txt="old")}
    ),
    "ko-bad-token": Tk(
        "domains=home&ip=198.51.100.7", 200, b"KO", auth=AuthResult(AuthOutcome.BADAUTH)
    ),
    "ko-failure-budget-spent": Tk(
        "domains=home&ip=198.51.100.7", 429, b"KO", auth=AuthResult(AuthOutcome.ABUSE)
    ),
    "ko-token-throttled": Tk("domains=home&ip=198.51.100.7", 429, b"KO", admit=lambda _p: False),
    "ko-a-domain-not-the-callers": Tk("domains=nas,home&ip=198.51.100.7", 200, b"KO", auth=AS_BOB),
    "ko-account-without-domains": Tk("ip=198.51.100.7", 200, b"KO", auth=AS_BOB),
    "ko-not-an-address": Tk("domains=home&ip=not-an-ip", 400, b"KO"),
    "ko-ipv4-in-ipv6": Tk("domains=home&ipv6=198.51.100.7", 400, b"KO"),
    "ko-two-of-one-family": Tk("domains=home&ip=2001:db8::1&ipv6=2001:db8::2", 400, b"KO"),
    "ko-private-in-a-public-zone": Tk("domains=home&ip=10.1.2.3", 400, b"KO"),
    "ko-store-failed": Tk("domains=home&ip=198.51.100.7", 200, b"KO", failing=frozenset({HOME})),
}


@pytest.mark.parametrize("case", TOKEN.values(), ids=TOKEN.keys())
def test_token(case: Tk) -> None:
    reply, rows = run_token(case)
    assert (reply.status, reply.body.encode(), reply.headers) == (case.status, case.body, ())
    assert reply.results == (reply.body.split("\n")[0],)
    changed = {name: row for name, row in rows.items() if ROWS.get(name) != row}
    assert changed == case.rows


def test_token_plan_names_the_caller_and_source() -> None:
    query = TokenQuery.from_params({"domains": "bobs", "txt": "x"})
    planned = plan_token(query, V6, AS_BOB, ROWS.values(), always)
    assert planned == TokenPlan((UpdateIntent(BOBS, "user:bob", str(V6), txt="x"),))


# -- the store task's step ------------------------------------------------------------

APPLY = [
    # (current row, intent fields, published after)
    (Row(HOME, ipv4="192.0.2.1"), {"ipv6": V6}, Published("192.0.2.1", str(V6))),
    (Row(HOME, ipv4="192.0.2.1"), {"clear_ipv4": True, "ipv4": V4}, Published(str(V4))),
    (Row(HOME, "x", "192.0.2.1", str(V6)), {"clear_ipv6": True}, Published("192.0.2.1")),
    (Row(HOME, "x", "192.0.2.1", str(V6)), {"clear_ipv4": True}, Published(None, str(V6))),
    (Row(HOME, ipv4="192.0.2.1", txt="t"), {"clear_txt": True}, Published("192.0.2.1")),
    (Row(HOME, txt="t"), {"txt": ""}, Published(txt="")),
    (Row(HOME, ipv4="192.0.2.1"), {"offline": True}, Published("192.0.2.1", offline=True)),
    (Row(HOME, offline=True), {"offline": False}, Published()),
    (Row(HOME, offline=True), {"ipv4": V4}, Published(str(V4), offline=True)),
]


@pytest.mark.parametrize(("current", "fields", "after"), APPLY)
def test_apply_intent(current: Row, fields: dict[str, object], after: Published) -> None:
    intent = UpdateIntent(HOME, "t", "t", **fields)  # type: ignore[arg-type]
    assert apply_intent(current, intent) == after


@pytest.mark.parametrize(
    ("fields", "allow_private", "problem"),
    [
        ({"ipv4": IPv4Address("10.0.0.1")}, False, "10.0.0.1: not a public address"),
        ({"ipv4": IPv4Address("10.0.0.1")}, True, None),
        ({"ipv6": IPv6Address("ff02::1")}, True, "ff02::1: a multicast address"),
        ({"txt": "a\nb"}, True, "the TXT value contains control characters"),
        ({"txt": "ok", "ipv4": V4}, False, None),
    ],
)
def test_intent_problem(
    fields: dict[str, object], allow_private: bool, problem: str | None
) -> None:
    intent = UpdateIntent(HOME, "t", "t", **fields)  # type: ignore[arg-type]
    found = intent_problem(intent, allow_private=allow_private)
    assert (found is None) == (problem is None)
    assert (found or "").startswith(problem or "")
