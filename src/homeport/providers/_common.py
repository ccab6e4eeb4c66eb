"""Pieces every provider module shares: requests, HTTP verdicts, per-record flows.

Kept free of I/O like the providers themselves: these build
:class:`~homeport.providers.base.HttpExchange` values and read
:class:`~homeport.providers.base.HttpReply` values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import LocalProtocolError
from homeport.providers.base import Exchange, Flow, HttpExchange, HttpReply

Address = IPv4Address | IPv6Address
_S = TypeVar("_S")

# HTTP statuses that mean "try again later" rather than "you are wrong":
# 408 Request Timeout and 429 Too Many Requests (RFC 9110 §15.5.9, RFC 6585 §4).
RETRY_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class Outcome:
    """The verdict on one record (one host, one family)."""

    status: Status
    code: str
    message: str = ""
    # True when the verdict concerns the account, not this record (bad token,
    # provider down): the remaining hosts get it too, without more requests.
    account_wide: bool = False

    @property
    def published(self) -> bool:
        return self.status in (Status.GOOD, Status.NOCHG)


def secret_forms(*values: str) -> tuple[str, ...]:
    """A secret as given, percent-encoded in a URL or form, and escaped in JSON."""
    forms: list[str] = []
    for value in values:
        if value:
            forms += [value, quote(value, safe=""), quote(value, safe="/")]
            forms += [urlencode({"": value})[1:], json.dumps(value)[1:-1]]
    return tuple(dict.fromkeys(forms))


def basic_auth(login: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value.

    RFC 7617 §2 splits user-id and password at the first colon, so a No-IP
    group login ``group:user`` sends its colon as ``%3A`` (No-IP's group-login rule).
    """
    user = login.replace(":", "%3A")
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def request(
    method: str,
    url: str,
    *,
    user_agent: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    secrets: Iterable[str] = (),
    example: HttpReply | None = None,
) -> HttpExchange:
    """An exchange that carries our User-Agent (dyndns2 makes one mandatory)."""
    return HttpExchange(
        method=method,
        url=url,
        headers=(("User-Agent", user_agent), *headers),
        body=body,
        secrets=tuple(s for s in secrets if s),
        example_reply=example,
    )


def json_body(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


JSON_HEADERS = (("Content-Type", "application/json"), ("Accept", "application/json"))


def json_reply(value: object, status: int = 200) -> HttpReply:
    """A JSON reply (the dry-run examples use it)."""
    return HttpReply(status, json_body(value), (("Content-Type", "application/json"),))


def parse_json(reply: HttpReply) -> Any:
    """The reply's JSON, or None when it is not JSON."""
    try:
        return json.loads(reply.body or b"null")
    except ValueError:
        return None


def dicts(value: Any) -> list[dict[str, Any]]:
    """The objects in a JSON list; anything else holds none (a provider's odd answer)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def bad_shape(what: str) -> Outcome:
    """A 2xx answer that lacks what its documentation promises: retry later."""
    return Outcome(Status.RETRY, "badresponse", f"answer lacks {what}", account_wide=True)


def http_outcome(reply: HttpReply, detail: str = "") -> Outcome | None:
    """The verdict an HTTP status alone gives; None for 2xx (read the body).

    401/403: credentials refused, ``badauth`` (fatal until the config changes).
    404: the zone or record is not in this account, ``nohost``.
    408/429/5xx: the provider's trouble, retry with backoff.
    Any other 4xx: the provider rejected our request as malformed; resending
    the same request cannot help, so it is fatal.
    """
    status = reply.status
    if 200 <= status < 300:
        return None
    message = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status in (401, 403):
        return Outcome(Status.FATAL, "badauth", message, account_wide=True)
    if status == 404:
        return Outcome(Status.FATAL, "nohost", message)
    if status in RETRY_STATUSES or status >= 500:
        return Outcome(Status.RETRY, f"HTTP {status}", message, account_wide=True)
    return Outcome(Status.FATAL, f"HTTP {status}", message)


def one_line(text: str, limit: int = 120) -> str:
    """A provider's text squeezed into one short line for a result message."""
    return " ".join(text.split())[:limit]


def records_of(host: HostUpdate) -> list[tuple[str, Address]]:
    """The (rdtype, address) pairs to publish for ``host``."""
    records: list[tuple[str, Address]] = []
    if host.ipv4 is not None:
        records.append(("A", host.ipv4))
    if host.ipv6 is not None:
        records.append(("AAAA", host.ipv6))
    if not records:
        raise LocalProtocolError(f"no address to publish for {host.hostname}")
    return records


def result(host: HostUpdate, outcome: Outcome, published: Sequence[Address] = ()) -> UpdateResult:
    """An :class:`UpdateResult` carrying only the addresses actually published."""
    ipv4 = next((a for a in published if isinstance(a, IPv4Address)), None)
    ipv6 = next((a for a in published if isinstance(a, IPv6Address)), None)
    return UpdateResult(host.hostname, outcome.status, outcome.code, outcome.message, ipv4, ipv6)


def published_addresses(host: HostUpdate) -> list[Address]:
    return [a for a in (host.ipv4, host.ipv6) if a is not None]


RecordOp = Callable[[HostUpdate, str, Address], Generator[Exchange, Any, Outcome]]


def each_record(hosts: Sequence[HostUpdate], op: RecordOp) -> Flow:
    """Run ``op`` for every (host, family) and fold the outcomes per host.

    A host's status is its worst family's; a result's addresses are only the
    families that were published. An account-wide failure (bad token,
    provider down) ends the flow: the remaining hosts share it, unsent. A
    host whose settings cannot work is FATAL ``config`` on its own.
    """
    results: list[UpdateResult] = []
    stop: Outcome | None = None
    for host in hosts:
        if stop is not None:
            results.append(result(host, stop))
            continue
        done: list[Address] = []
        outcomes: list[Outcome] = []
        for rdtype, address in records_of(host):
            try:
                outcome = yield from op(host, rdtype, address)
            except LocalProtocolError as exc:
                # This host's settings cannot work (a name outside the zone);
                # the other hosts still can.
                outcome = Outcome(Status.FATAL, "config", exc.message)
            outcomes.append(outcome)
            if outcome.published:
                done.append(address)
            elif outcome.account_wide:
                stop = outcome
                break
        results.append(result(host, fold(outcomes), done))
    return results


# Worst first: a host's verdict is the most demanding of its families'.
_SEVERITY = [Status.FATAL, Status.RETRY_SLOW, Status.RETRY, Status.GOOD, Status.NOCHG]


def fold(outcomes: Sequence[Outcome]) -> Outcome:
    return min(outcomes, key=lambda o: _SEVERITY.index(o.status))


def split_zone(hostname: str, zone: str | None) -> tuple[str, str]:
    """(zone, relative name) for ``hostname``; ``@`` is the zone apex.

    Without a configured zone the last two labels are taken, which is right
    for ``example.com`` but not for ``example.co.uk``: set ``zone`` there.
    """
    fqdn = hostname.rstrip(".").lower()
    if zone is None:
        zone = ".".join(fqdn.split(".")[-2:])
    zone = zone.rstrip(".").lower()
    if fqdn == zone:
        return zone, "@"
    if not fqdn.endswith("." + zone):
        raise LocalProtocolError(f"{hostname} is not inside zone {zone}")
    return zone, fqdn[: -len(zone) - 1]


def settings_as(settings: object, cls: type[_S]) -> _S:
    """``settings`` checked to be the provider's own Settings class."""
    if not isinstance(settings, cls):
        raise TypeError(f"expected {cls.__name__}, got {type(settings).__name__}")
    return settings


def base_url(server: str, ssl: bool = True) -> str:
    """``scheme://host[:port][/path]`` without a trailing slash.

    ddclient's ``server=`` names a bare host and picks the scheme from
    ``ssl=``; a full URL (a test's loopback fake) is taken as it is.
    """
    server = server.strip().rstrip("/")
    if "://" not in server:
        server = f"{'https' if ssl else 'http'}://{server}"
    return server
