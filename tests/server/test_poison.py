"""Poisonous values against a running server: no value takes it down.

Each attack goes to a real ``homeport server run`` process with a valid secret;
afterwards the server still answers (health, updates, DNS) and a restart serves
exactly what was acknowledged.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from urllib.parse import quote

import dns.message
import dns.query
import dns.rdatatype
import pytest

from homeport.server.store import Store
from homeport.server.store_sqlite import DB_NAME
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.httpget import get

HOST = "myhome.dyn.example.net"
ZONE = "dyn.example.net"


def txt_bytes(srv: ServerProc, name: str) -> list[bytes]:
    """The TXT RRset at ``name`` as the octets of each RR (strings joined)."""
    query = dns.message.make_query(name, "TXT")
    response = dns.query.tcp(query, srv.dns[0], port=srv.dns[1], timeout=5)
    return sorted(
        b"".join(rd.strings)  # type: ignore[attr-defined]
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.TXT
        for rd in rrset
    )


def served(srv: ServerProc, name: str = HOST) -> tuple[list[str], list[str], list[bytes]]:
    return srv.dig(name), srv.dig(name, "AAAA"), txt_bytes(srv, name)


def healthy(srv: ServerProc, secret: str, address: str) -> None:
    """Health is ok, an ordinary update is acknowledged and served at once."""
    assert get(srv.http, "/healthz")[0] == 200
    status, body, _ = get(
        srv.http, f"/nic/update?hostname={HOST}&myip={address}", auth=(HOST, secret)
    )
    assert (status, body.split()[0]) == (200, "good"), body
    assert srv.dig(HOST) == [address]


def restart(srv: ServerProc) -> ServerProc:
    stop_server(srv)
    assert srv.proc.returncode == 0, "".join(srv.output)[-2000:]
    return start_server(srv.data, "--limits", "off")


# -- item 1: one update can take the server down ------------------------------------

# (attack, path template, expected status, expected body, TXT octets served afterwards)
POISON = [
    ("dyndns2 scoped myipv6", "/nic/update?hostname={host}&myipv6=fe80::1%25eth0", 400, None),
    ("token scoped ipv6", "/update?token={secret}&ipv6=fe80::1%25x", 400, "KO"),
    ("token txt newline", "/update?token={secret}&txt=line1%0Aline2", 400, "KO"),
    ("token txt 200 x e-acute", "/update?token={secret}&txt=" + "%C3%A9" * 200, 200, "OK"),
    ("token txt backslash at 255", "/update?token={secret}&txt=" + "a" * 254 + "%5Cb", 200, "OK"),
]


@pytest.mark.parametrize(("attack", "path", "status", "body"), POISON, ids=[p[0] for p in POISON])
def test_a_poison_update_is_answered_and_the_server_lives(
    server: ServerProc, attack: str, path: str, status: int, body: str | None
) -> None:
    secret = server.add_host(HOST)
    healthy(server, secret, "192.0.2.1")
    got_status, got_body, _ = get(
        server.http, path.format(host=HOST, secret=secret), auth=(HOST, secret)
    )
    assert got_status == status, got_body
    if body is not None:
        assert got_body == body
    else:
        assert got_body.startswith("badip")
    healthy(server, secret, "192.0.2.2")
    before = served(server)
    assert "Traceback" not in "".join(server.output)
    again = restart(server)
    try:
        assert served(again) == before
        healthy(again, secret, "192.0.2.3")
    finally:
        stop_server(again)


def test_utf8_and_escapes_in_txt_are_served_exactly(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    values = ["é" * 200, "a" * 254 + "\\b", 'quote " and \\ backslash', "x" * 1024, ""]
    for value in values:
        status, body, _ = get(server.http, f"/update?token={secret}&txt={quote(value)}")
        assert (status, body) == (200, "OK")
        assert txt_bytes(server, HOST) == [value.encode()]
    status, body, _ = get(server.http, f"/update?token={secret}&txt={'x' * 1025}")
    assert (status, body) == (400, "KO")  # longer than MAX_TXT_OCTETS
    again = restart(server)
    try:
        assert txt_bytes(again, HOST) == [b""]
    finally:
        stop_server(again)


def _poison_the_store(data: Path) -> None:
    """Rows an older homeport accepted and stored, which no renderer can serve."""
    db = sqlite3.connect(data / DB_NAME)
    with db:
        db.execute(
            "UPDATE hosts SET ipv6 = 'fe80::1%eth0', txt = 'line1' || char(10) || 'line2'"
            " WHERE fqdn = ?",
            ("bad.dyn.example.net.",),
        )
        db.execute(
            "INSERT INTO records(zone, name, rdtype, ttl, rdata) VALUES (?,?,?,?,?)",
            (f"{ZONE}.", f"{'x' * 64}.{ZONE}.", "A", 60, "192.0.2.9"),
        )
        # What `zone add 'bad zone'` and `zone add <64-character label>.example` stored.
        for origin in ("bad zone.", f"{'x' * 64}.example."):
            db.execute(
                "INSERT INTO zones(origin, mname, rname, serial, refresh, retry, expire,"
                " minimum, soa_ttl, default_ttl, created) SELECT ?, ?, rname, serial,"
                " refresh, retry, expire, minimum, soa_ttl, default_ttl, created FROM zones"
                " WHERE origin = ?",
                (origin, f"ns1.{origin}", f"{ZONE}."),
            )
            db.execute(
                "INSERT INTO records(zone, name, rdtype, ttl, rdata) VALUES (?,?,?,?,?)",
                (origin, origin, "NS", 60, f"ns1.{origin}"),
            )
    db.close()


def test_startup_skips_stored_rows_it_cannot_serve(server: ServerProc) -> None:
    good = server.add_host(HOST)
    server.add_host("bad.dyn.example.net")
    assert get(server.http, f"/update?token={good}&ip=192.0.2.7")[1] == "OK"
    stop_server(server)
    _poison_the_store(server.data)
    again = start_server(server.data, "--limits", "off")
    try:
        assert again.dig(HOST) == ["192.0.2.7"]
        assert again.dig("bad.dyn.example.net", "AAAA") == []
        healthy(again, good, "192.0.2.8")
        log = "".join(again.output)
        # Each bad row is named once; the rest of its zone (and the others) is served.
        assert log.count("'fe80::1%eth0'") == 1, log
        assert log.count("'ns1.bad zone.'") == 1, log
        assert again.dig("bad.dyn.example.net", "TXT") == ['"line1\\010line2"']
        assert f"zone {'x' * 64}.example. is not served" in log
    finally:
        stop_server(again)


# -- item 5: addresses the server publishes -----------------------------------------

REFUSED = [
    "0.0.0.0",
    "127.0.0.1",
    "10.1.2.3",
    "169.254.169.254",
    "224.0.0.1",
    "255.255.255.255",
    "240.0.0.1",
    "100.64.0.1",
    "::",
    "::1",
    "fe80::1",
    "ff02::1",
    "::ffff:192.0.2.1",
    "fc00::1",
]
# Documentation ranges (RFC 5737, RFC 3849) are publishable: never routed, used as data.
PUBLISHED = ["192.0.2.1", "198.51.100.2", "203.0.113.3", "2001:db8::4", "8.8.8.8"]


def _param(address: str) -> str:
    return "myipv6" if ":" in address else "myip"


def test_only_public_unicast_is_published(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    for address in REFUSED:
        path = f"/nic/update?hostname={HOST}&{_param(address)}={address}"
        status, body, _ = get(server.http, path, auth=(HOST, secret))
        assert (status, body) == (200, "badip\n"), address
        key = "ipv6" if ":" in address else "ip"
        status, body, _ = get(server.http, f"/update?token={secret}&{key}={address}")
        assert (status, body) == (400, "KO"), address
    assert server.dig(HOST) == []
    assert server.dig(HOST, "AAAA") == []
    for address in PUBLISHED:
        path = f"/nic/update?hostname={HOST}&{_param(address)}={address}"
        status, body, _ = get(server.http, path, auth=(HOST, secret))
        assert body.startswith("good "), (address, body)
        assert server.dig(HOST, "AAAA" if ":" in address else "A") == [address]


def test_no_address_given_and_the_connection_is_loopback(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    status, body, _ = get(server.http, f"/nic/update?hostname={HOST}", auth=(HOST, secret))
    assert (status, body) == (200, "badip\n")
    assert get(server.http, f"/update?token={secret}")[:2] == (400, "KO")
    assert server.dig(HOST) == []


def test_family_mismatch_is_refused(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    assert get(server.http, f"/update?token={secret}&ip=192.0.2.1")[:2] == (200, "OK")
    for query in (
        "ip=192.0.2.1&ipv6=192.0.2.2",
        "ipv6=192.0.2.2",
        "ip=2001:db8::1&ipv6=2001:db8::2",
    ):
        assert get(server.http, f"/update?token={secret}&{query}")[:2] == (400, "KO"), query
    assert server.dig(HOST) == ["192.0.2.1"]
    assert server.dig(HOST, "AAAA") == []
    # DuckDNS: ip= may carry IPv6 alone.
    assert get(server.http, f"/update?token={secret}&ip=2001:db8::1")[:2] == (200, "OK")
    assert server.dig(HOST, "AAAA") == ["2001:db8::1"]


def test_a_lan_zone_allows_private_addresses_and_keeps_the_setting(server: ServerProc) -> None:
    add = server.admin("zone", "add", "lan.example", "--allow-private")
    assert add.returncode == 0, add.stderr
    lan = "nas.lan.example"
    secret = server.add_host(lan)
    public = server.add_host(HOST)
    for address in ("10.1.2.3", "127.0.0.1", "100.64.0.1", "fe80::1", "fc00::1"):
        path = f"/nic/update?hostname={lan}&{_param(address)}={address}"
        body = get(server.http, path, auth=(lan, secret))[1]
        assert body.startswith("good"), (address, body)
    for address in ("224.0.0.1", "0.0.0.0", "::ffff:10.0.0.1", "ff02::1"):
        path = f"/nic/update?hostname={lan}&{_param(address)}={address}"
        assert get(server.http, path, auth=(lan, secret))[1] == "badip\n", address
    # The public zone next to it still refuses them.
    path = f"/nic/update?hostname={HOST}&myip=10.1.2.3"
    assert get(server.http, path, auth=(HOST, public))[1] == "badip\n"
    assert server.dig(lan) == ["100.64.0.1"]
    listed = server.admin_json("zone", "list")
    assert [z["allow_private"] for z in listed] == [False, True]  # type: ignore[index, union-attr]
    again = restart(server)
    try:
        assert again.dig(lan) == ["100.64.0.1"]
        assert again.dig(lan, "AAAA") == ["fc00::1"]
        body = get(again.http, f"/nic/update?hostname={lan}&myip=192.168.1.2", auth=(lan, secret))
        assert body[1].startswith("good")
        # Switched off while running: refused from the next request on.
        assert again.admin("zone", "set", "lan.example", "--public-only").returncode == 0
        body = get(again.http, f"/nic/update?hostname={lan}&myip=192.168.1.3", auth=(lan, secret))
        assert body[1] == "badip\n"
        assert again.dig(lan) == ["192.168.1.2"]
    finally:
        stop_server(again)


# -- item 6: zone and admin input ----------------------------------------------------

LONG_LABEL = "x" * 64
LONG_NAME = ".".join(["y" * 63] * 4) + ".example"  # 264 characters


BAD_ADMIN = [
    ("zone", "add", "bad zone"),
    ("zone", "add", f"{LONG_LABEL}.example"),
    ("zone", "add", LONG_NAME),
    ("zone", "add", "ok.example", "--ns", "bad ns.ok.example=192.0.2.53"),
    ("zone", "add", "ok.example", "--ns", f"{LONG_LABEL}.ok.example"),
    ("zone", "add", "ok.example", "--ns", "ns1.ok.example=fe80::1%eth0"),
    ("zone", "add", "ok.example", "--ns", "ns1.ok.example=224.0.0.1"),
    ("zone", "add", "ok.example", "--ttl", "-1"),
    ("zone", "rm", "bad zone"),
    ("zone", "set", "bad zone", "--allow-private"),
    ("host", "add", f"{LONG_LABEL}.dyn.example.net"),
    ("host", "add", "a b.dyn.example.net"),
    ("host", "rm", "a b.dyn.example.net"),
    ("user", "add", "bad user", "--password-stdin"),
    ("user", "add", "bad\nuser", "--password-stdin"),
]


def _admin_state(srv: ServerProc) -> tuple[object, ...]:
    """Every zone, host, user and audit entry in the store, read in this process: what
    ``zone list``, ``host list``, ``user list`` and ``audit`` would print, and more, without
    four more interpreters per bad command (they made this test take a minute)."""

    async def read() -> tuple[object, ...]:
        store = await Store.open(srv.data)
        try:
            zones = await store.zones()
            records = [await store.records(zone.origin) for zone in zones]
            return (
                zones,
                records,
                await store.hosts(),
                await store.users(),
                await store.audit_log(1000),
            )
        finally:
            await store.close()

    return asyncio.run(read())


def test_bad_admin_input_is_refused_and_stores_nothing(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    for number, args in enumerate(BAD_ADMIN):
        before = _admin_state(server)
        result = server.admin(*args, input="long password\n")
        assert result.returncode != 0, args
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert _admin_state(server) == before, args
        healthy(server, secret, f"192.0.2.{10 + number}")
    again = restart(server)
    try:
        assert again.dig(HOST) == [f"192.0.2.{10 + len(BAD_ADMIN) - 1}"]
        healthy(again, secret, "192.0.2.6")
    finally:
        stop_server(again)


def test_zone_import_refuses_a_zone_it_could_not_serve(server: ServerProc, tmp_path: Path) -> None:
    zonefile = tmp_path / "bad.zone"
    zonefile.write_text(
        "$ORIGIN imp.example.\n$TTL 300\n"
        "@ IN SOA ns1 hostmaster 1 3600 600 86400 60\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
    )
    for origin in ("bad zone", f"{LONG_LABEL}.example"):
        result = run_homeport(
            "server", "zone", "import", str(zonefile), "--zone", origin, "--data", str(server.data)
        )
        assert result.returncode != 0
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert [z["zone"] for z in server.admin_json("zone", "list")] == [f"{ZONE}."]  # type: ignore[index, union-attr]
    assert get(server.http, "/healthz")[0] == 200
