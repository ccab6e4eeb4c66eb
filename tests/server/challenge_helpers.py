"""Talking to a running server's challenge APIs, and dumping its zone, for the ACME tests."""

from __future__ import annotations

import base64
import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import dns.update

from tests.server.conftest import ServerProc

DUMP_TYPES = ("SOA", "NS", "A", "AAAA", "TXT", "CNAME", "MX")


def http(
    srv: ServerProc,
    method: str,
    path: str,
    body: object | None = None,
    *,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """(status, parsed JSON or text) of one request to the server's HTTP API."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(srv.url + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()


def tsig_key(srv: ServerProc, host: str, algorithm: str = "hmac-sha256") -> dns.tsig.Key:
    value = srv.admin_json("host", "tsig", host, "--algorithm", algorithm)
    assert isinstance(value, dict)
    return dns.tsig.Key(value["name"], value["secret"], value["wire_algorithm"])


def update(
    srv: ServerProc,
    key: dns.tsig.Key | None,
    zone: str = "dyn.example.net",
    *,
    add: list[tuple[str, str]] = (),  # type: ignore[assignment]
    delete: list[tuple[str, str | None]] = (),  # type: ignore[assignment]
    tcp: bool = True,
    rdtype: str = "TXT",
) -> dns.message.Message:
    """Send an UPDATE (dnspython checks the response's TSIG) and return the response."""
    msg = dns.update.UpdateMessage(zone)
    if key is not None:
        msg.use_tsig(key)
    for name, value in add:
        msg.add(dns.name.from_text(name), 60, rdtype, value)
    for name, maybe in delete:
        if maybe is None:
            msg.delete(dns.name.from_text(name), rdtype)
        else:
            msg.delete(dns.name.from_text(name), rdtype, maybe)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(msg, srv.dns[0], port=srv.dns[1], timeout=10)


def txt(srv: ServerProc, name: str) -> list[str]:
    return sorted(v.strip('"') for v in srv.dig(name, "TXT"))


def serial(srv: ServerProc, zone: str = "dyn.example.net") -> int:
    return int(srv.dig(zone, "SOA")[0].split()[2])


def zone_dump(srv: ServerProc, extra_names: list[str]) -> dict[tuple[str, str], list[str]]:
    """Every name the store knows in the zone (records, hosts, challenges) plus
    ``extra_names``, each queried over DNS for every common type: what the server serves.

    AXFR is refused by design, so the names come from the database (read-only) and the
    data from DNS itself.
    """
    db = sqlite3.connect(f"file:{Path(srv.data) / 'homeport.sqlite3'}?mode=ro", uri=True)
    try:
        names = {r[0] for r in db.execute("SELECT name FROM records")}
        names |= {r[0] for r in db.execute("SELECT fqdn FROM hosts")}
        names |= {r[0] for r in db.execute("SELECT name FROM challenges")}
        names |= {r[0] for r in db.execute("SELECT origin FROM zones")}
    finally:
        db.close()
    names |= {n.rstrip(".") + "." for n in extra_names}
    dump: dict[tuple[str, str], list[str]] = {}
    for name in sorted(names):
        for rdtype in DUMP_TYPES:
            query = dns.message.make_query(name, rdtype)
            response = dns.query.udp(query, srv.dns[0], port=srv.dns[1], timeout=10)
            answers = sorted(rr.to_text() for rrset in response.answer for rr in rrset)
            dump[(name, rdtype)] = [dns.rcode.to_text(response.rcode()), *answers]
    return dump


def audit(srv: ServerProc) -> list[dict[str, Any]]:
    value = srv.admin_json("audit", "--limit", "200")
    assert isinstance(value, list)
    return value
