"""The ACME challenge APIs of a running ``homeport server``: httpreq, acme-dns, RFC 2136.

Every test talks to a real server process over loopback. What each API acknowledges
must already be served by the server's DNS (checked right after, no wait), and every
refusal must leave the zone exactly as it was (a full dump before and after).
"""

from __future__ import annotations

import dns.rcode
import dns.tsig
import pytest

from tests.server.challenge_helpers import (
    audit,
    http,
    serial,
    tsig_key,
    txt,
    update,
    zone_dump,
)
from tests.server.conftest import ServerProc

V1 = "a" * 43
V2 = "b" * 43
V3 = "c" * 43
HOST = "home.dyn.example.net"
CHALLENGE = f"_acme-challenge.{HOST}"


def test_httpreq_present_two_values_and_cleanup_one(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    before = serial(server)
    for value in (V1, V2):
        status, body = http(
            server,
            "POST",
            "/present",
            {"fqdn": CHALLENGE + ".", "value": value},
            auth=(HOST, secret),
        )
        assert status == 200, body
    # Acknowledged means served: a wildcard and its base name need both values at once.
    assert txt(server, CHALLENGE) == [V1, V2]
    assert serial(server) > before
    status, body = http(
        server, "POST", "/cleanup", {"fqdn": CHALLENGE + ".", "value": V1}, auth=(HOST, secret)
    )
    assert status == 200, body
    assert txt(server, CHALLENGE) == [V2]
    status, _ = http(
        server, "POST", "/cleanup", {"fqdn": CHALLENGE + ".", "value": V2}, auth=(HOST, secret)
    )
    assert status == 200
    assert txt(server, CHALLENGE) == []
    assert any(e["action"] == "challenge" for e in audit(server))


def test_httpreq_raw_mode_computes_the_value(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    status, body = http(
        server,
        "POST",
        "/present",
        {"domain": HOST, "token": "t", "keyAuth": "t.thumb"},
        auth=(HOST, secret),
    )
    assert status == 200, body
    # base64url(SHA-256("t.thumb")), RFC 8555 §8.4
    import base64
    import hashlib

    expected = base64.urlsafe_b64encode(hashlib.sha256(b"t.thumb").digest()).decode().rstrip("=")
    assert txt(server, CHALLENGE) == [expected]


def test_httpreq_refusals_change_nothing(server: ServerProc) -> None:
    secret_a = server.add_host(HOST)
    server.add_host("other.dyn.example.net")
    server.add_host("sub.home.dyn.example.net")  # a host below A: its challenge is not A's
    attempts = [
        "_acme-challenge.other.dyn.example.net.",
        "_acme-challenge.sub.home.dyn.example.net.",
        HOST + ".",
        "dyn.example.net.",
        "_acme-challenge.dyn.example.net.",
        "_acme-challenge._acme-challenge.home.dyn.example.net.",
    ]
    dump = zone_dump(server, attempts)
    for name in attempts:
        status, body = http(
            server, "POST", "/present", {"fqdn": name, "value": V1}, auth=(HOST, secret_a)
        )
        assert status == 403, (name, body)
    status, _ = http(
        server,
        "POST",
        "/present",
        {"fqdn": CHALLENGE, "value": "not base64url!"},
        auth=(HOST, secret_a),
    )
    assert status == 400
    status, _ = http(
        server, "POST", "/present", {"fqdn": CHALLENGE, "value": V1}, auth=(HOST, "wrong")
    )
    assert status == 401
    assert zone_dump(server, attempts) == dump
    refused = [e for e in audit(server) if e["action"] == "refused"]
    assert len(refused) >= len(attempts)
    assert all(secret_a not in str(e) for e in audit(server))
    assert not any(secret_a in line for line in server.output)


def test_httpreq_sub_name_of_own_host_is_allowed(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    name = f"_acme-challenge.www.{HOST}"
    status, body = http(
        server, "POST", "/present", {"fqdn": name, "value": V1}, auth=(HOST, secret)
    )
    assert status == 200, body
    assert txt(server, name) == [V1]


def test_acmedns_register_update_delete(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    status, _ = http(server, "POST", "/register", {})
    assert status == 401  # acme-dns's open registration is its top complaint: not here
    status, _ = http(
        server, "POST", "/register", {"allowfrom": ["192.0.2.0/24"]}, auth=(HOST, secret)
    )
    assert status == 400  # not silently ignored
    status, account = http(server, "POST", "/register", {}, auth=(HOST, secret))
    assert status == 201, account
    assert account["fulldomain"] == CHALLENGE
    headers = {"X-Api-User": account["username"], "X-Api-Key": account["password"]}
    for value in (V1, V2):
        status, body = http(
            server,
            "POST",
            "/update",
            {"subdomain": account["subdomain"], "txt": value},
            headers=headers,
        )
        assert (status, body) == (200, {"txt": value})
    assert txt(server, CHALLENGE) == [V1, V2]  # acme-dns keeps two; any number here
    # goacmedns (lego's acme-dns client) sends Go field names: {"SubDomain", "Txt"}.
    status, body = http(
        server,
        "POST",
        "/update",
        {"SubDomain": account["subdomain"], "Txt": V3},
        headers={**headers, "User-Agent": "goacmedns (linux; amd64)"},
    )
    assert (status, body) == (200, {"txt": V3})
    assert txt(server, CHALLENGE) == [V1, V2, V3]
    status, body = http(
        server, "POST", "/update", {"subdomain": "someone-else", "txt": "d" * 43}, headers=headers
    )
    assert status == 400
    bad = {"X-Api-User": account["username"], "X-Api-Key": "wrong"}
    status, _ = http(
        server,
        "POST",
        "/update",
        {"subdomain": account["subdomain"], "txt": "d" * 43},
        headers=bad,
    )
    assert status == 401
    status, _ = http(server, "GET", "/health")
    assert status == 200
    status, _ = http(server, "DELETE", "/register", headers=headers)
    assert status == 200
    status, _ = http(
        server,
        "POST",
        "/update",
        {"subdomain": account["subdomain"], "txt": "d" * 43},
        headers=headers,
    )
    assert status == 401
    assert txt(server, CHALLENGE) == [V1, V2, V3]
    assert not any(account["password"] in line for line in server.output)


@pytest.mark.parametrize(
    "algorithm",
    ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"],
)
def test_rfc2136_every_algorithm_over_tcp(server: ServerProc, algorithm: str) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST, algorithm)
    response = update(server, key, add=[(CHALLENGE, V1), (CHALLENGE, V2)])
    assert response.rcode() == dns.rcode.NOERROR
    assert txt(server, CHALLENGE) == [V1, V2]
    response = update(server, key, delete=[(CHALLENGE, V1)])
    assert response.rcode() == dns.rcode.NOERROR
    assert txt(server, CHALLENGE) == [V2]


def test_rfc2136_over_udp(server: ServerProc) -> None:
    server.add_host(HOST)
    key = tsig_key(server, HOST)
    response = update(server, key, add=[(CHALLENGE, V1)], tcp=False)
    assert response.rcode() == dns.rcode.NOERROR
    assert txt(server, CHALLENGE) == [V1]
    response = update(server, key, delete=[(CHALLENGE, None)], tcp=False)
    assert response.rcode() == dns.rcode.NOERROR
    assert txt(server, CHALLENGE) == []


def test_rfc2136_scope_refusals_change_nothing(server: ServerProc) -> None:
    server.add_host(HOST)
    server.add_host("other.dyn.example.net")
    server.add_host("sub.home.dyn.example.net")
    key = tsig_key(server, HOST)
    tsig_key(server, "other.dyn.example.net")
    attempts: list[tuple[str, str, str]] = [
        ("_acme-challenge.other.dyn.example.net", "TXT", f'"{V1}"'),
        ("_acme-challenge.sub.home.dyn.example.net", "TXT", f'"{V1}"'),
        (HOST, "TXT", f'"{V1}"'),
        (HOST, "A", "192.0.2.1"),
        (HOST, "AAAA", "2001:db8::1"),
        ("other.dyn.example.net", "A", "192.0.2.2"),
        ("dyn.example.net", "NS", "ns.example.org."),
        ("dyn.example.net", "A", "192.0.2.3"),
        (CHALLENGE, "A", "192.0.2.4"),
        (CHALLENGE, "CNAME", "elsewhere.example.org."),
    ]
    names = [a[0] for a in attempts]
    dump = zone_dump(server, names)
    for name, rdtype, value in attempts:
        response = update(server, key, add=[(name, value)], rdtype=rdtype)
        assert response.rcode() == dns.rcode.REFUSED, (name, rdtype)
    # Deletes are refused the same way (the host's own address, the zone's NS).
    for name, rdtype in ((HOST, "A"), ("dyn.example.net", "NS"), ("dyn.example.net", "SOA")):
        response = update(server, key, delete=[(name, None)], rdtype=rdtype)
        assert response.rcode() == dns.rcode.REFUSED, (name, rdtype)
    # Another zone: not ours (NOTAUTH); unsigned: REFUSED.
    assert update(server, key, "example.org", add=[(CHALLENGE, V1)]).rcode() == (dns.rcode.NOTAUTH)
    assert update(server, None, add=[(CHALLENGE, V1)]).rcode() == dns.rcode.REFUSED
    assert zone_dump(server, names) == dump
    refused = [e for e in audit(server) if e["action"] == "refused"]
    assert len(refused) >= len(attempts) + 3


def test_rfc2136_prerequisites(server: ServerProc) -> None:
    import dns.name
    import dns.query
    import dns.update

    server.add_host(HOST)
    key = tsig_key(server, HOST)

    def send(msg: dns.update.UpdateMessage) -> int:
        msg.use_tsig(key)
        return dns.query.tcp(msg, server.dns[0], port=server.dns[1], timeout=10).rcode()

    # "RRset does not exist" holds: the add is made.
    msg = dns.update.UpdateMessage("dyn.example.net")
    msg.absent(CHALLENGE + ".", "TXT")
    msg.add(CHALLENGE + ".", 60, "TXT", V1)
    assert send(msg) == dns.rcode.NOERROR
    # Now it exists: the same prerequisite fails (YXRRSET) and nothing changes.
    msg = dns.update.UpdateMessage("dyn.example.net")
    msg.absent(CHALLENGE + ".", "TXT")
    msg.add(CHALLENGE + ".", 60, "TXT", V2)
    assert send(msg) == dns.rcode.YXRRSET
    # Value-dependent: the RRset must be exactly {V2}: it is {V1} (NXRRSET).
    msg = dns.update.UpdateMessage("dyn.example.net")
    msg.present(CHALLENGE + ".", "TXT", V2)
    msg.add(CHALLENGE + ".", 60, "TXT", V3)
    assert send(msg) == dns.rcode.NXRRSET
    msg = dns.update.UpdateMessage("dyn.example.net")
    msg.present("nothing-here.dyn.example.net.")
    msg.add(CHALLENGE + ".", 60, "TXT", V3)
    assert send(msg) == dns.rcode.NXDOMAIN
    assert txt(server, CHALLENGE) == [V1]


def test_removing_the_host_removes_its_challenge(server: ServerProc) -> None:
    import time

    secret = server.add_host(HOST)
    status, _ = http(
        server, "POST", "/present", {"fqdn": CHALLENGE, "value": V1}, auth=(HOST, secret)
    )
    assert status == 200
    assert txt(server, CHALLENGE) == [V1]
    assert server.admin("host", "rm", HOST).returncode == 0
    # The running server follows admin commands within its watch interval (README).
    deadline = time.monotonic() + 10
    while txt(server, CHALLENGE) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert txt(server, CHALLENGE) == []


def test_tsig_command(server: ServerProc) -> None:
    import base64
    import stat

    server.add_host(HOST)
    first = server.admin_json("host", "tsig", HOST, "--algorithm", "hmac-md5")
    assert isinstance(first, dict)
    assert first["name"] == HOST + "."
    assert first["algorithm"] == "hmac-md5"
    assert first["wire_algorithm"] == "HMAC-MD5.SIG-ALG.REG.INT."
    assert len(base64.b64decode(first["secret"])) == 16
    # The server key beside the database is the owner's alone; the secret is nowhere.
    key_file = server.data / "tsig-server.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    db = (server.data / "homeport.sqlite3").read_bytes()
    assert first["secret"].encode() not in db
    assert base64.b64decode(first["secret"]) not in db
    # Again: a new key; the old one stops working at once.
    old = tsig_key_from(first)
    tsig_key(server, HOST, "hmac-sha256")
    with pytest.raises(dns.tsig.PeerBadKey):
        update(server, old, add=[(CHALLENGE, V1)])
    for args in (
        ("host", "tsig", "nohost.dyn.example.net"),
        ("host", "tsig", HOST, "--algorithm", "rc4"),
    ):
        result = server.admin(*args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) <= 3, result.stderr


def tsig_key_from(value: dict[str, str]) -> dns.tsig.Key:
    return dns.tsig.Key(value["name"], value["secret"], value["wire_algorithm"])
