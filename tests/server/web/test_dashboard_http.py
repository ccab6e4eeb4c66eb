"""The dashboard against a real server process, over plain HTTP: what survives a restart,
per-host TTLs as DNS serves them, scoped tokens as the update APIs enforce them."""

from __future__ import annotations

import asyncio
import base64
import html
import http.client
import json
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.core import totp
from homeport.errors import ConfigError
from homeport.server.auth import new_secret, sha256_hex
from homeport.server.config import ServerConfig
from homeport.server.store import ApiTokenRow, AuditEntry, Store
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.pg import pg_socket, pg_url  # noqa: F401 - fixtures
from tests.server.web.dash_http import (
    PASSWORD,
    add_user,
    csrf_of,
    get,
    login,
    nic_update,
    post,
    post_from,
    token_update,
)

ZONE = "dyn.example.net"
HOST = f"myhome.{ZONE}"
TOTP_HOST = f"totp.{ZONE}"
CSRF_HOST = f"csrf.{ZONE}"
DIG_FLAGS = ("+noall", "+answer", "+norec", "+time=2", "+tries=2")


@pytest.fixture
def restartable(data_dir: Path) -> Iterator[list[ServerProc]]:
    """A server (limits off) in a one-item list: a test may replace it by a restarted one."""
    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data_dir))
    assert result.returncode == 0, result.stderr
    servers = [start_server(data_dir, "--limits", "off")]
    try:
        yield servers
    finally:
        stop_server(servers[-1])


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    """One server for the tests that need no restart (each uses names of its own)."""
    data = tmp_path_factory.mktemp("data")
    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data))
    assert result.returncode == 0, result.stderr
    server = start_server(data, "--limits", "off")
    try:
        yield server
    finally:
        stop_server(server)


def restart(servers: list[ServerProc]) -> ServerProc:
    stop_server(servers[-1])
    servers.append(start_server(servers[-1].data, "--limits", "off"))
    return servers[-1]


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The store the server and the admin commands use ($HOMEPORT_DATABASE, as in
    test_pg_server); set before ``restartable`` starts the server."""
    if request.param == "postgresql":
        monkeypatch.setenv("HOMEPORT_DATABASE", str(request.getfixturevalue("pg_url")))
    return str(request.param)


def test_request_counts_and_the_last_client_survive_a_restart(
    engine: str, restartable: list[ServerProc]
) -> None:
    server = restartable[0]
    ready = json.loads(next(line for line in server.output if line.startswith("ready "))[6:])
    assert ready["database"].startswith("postgresql:" if engine == "postgresql" else "/")
    add_user(server, "alice")
    secret = server.add_host(HOST, "--user", "alice")
    assert nic_update(server, HOST, secret, "192.0.2.7", agent="ddclient/3.10.0") == (
        200,
        "good 192.0.2.7",
    )
    assert nic_update(server, HOST, secret, "192.0.2.7", agent="ddclient/3.10.0")[1] == (
        "nochg 192.0.2.7"
    )
    # A private address in a public zone: refused (a fault), and the newest request.
    status, body = nic_update(server, HOST, secret, "10.0.0.1", agent="router-x/2")
    assert not body.startswith(("good", "nochg")), body
    server = restart(restartable)
    status, _, session = login(server.url, "alice", PASSWORD)
    assert status == 303
    status, page = get(server.url, "/dash/hosts", session)
    assert status == 200
    cells = re.search(r'<td class="results">([^<]*)</td>', page)
    assert cells is not None, page
    assert cells.group(1).split() == ["1", "/", "1", "/", "1"]
    status, page = get(server.url, f"/dash/hosts/{HOST}", session)
    assert 'id="results">good 1, nochg 1, fault 1<' in page
    last = re.search(r'id="last-request">(.*?)</dd>', page, re.S)
    assert last is not None
    assert "127.0.0.1" in last.group(1)
    assert "router-x/2" in last.group(1)


def _answer_ttl(server: ServerProc, name: str) -> list[tuple[int, str]]:
    """(TTL, address) of each A record DNS serves at ``name``."""
    result = subprocess.run(
        ["dig", f"@{server.dns[0]}", "-p", str(server.dns[1]), name, "A", *DIG_FLAGS],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()]
    return sorted((int(r[1]), r[4]) for r in rows)


def test_a_hosts_ttl_is_served_kept_within_limits_and_survives_a_restart(
    restartable: list[ServerProc],
) -> None:
    server = restartable[0]
    add_user(server, "alice")
    secret = server.add_host(HOST, "--user", "alice")
    assert nic_update(server, HOST, secret, "192.0.2.7")[1] == "good 192.0.2.7"
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.7")]  # the zone's default
    _, _, session = login(server.url, "alice", PASSWORD)
    _, page = get(server.url, f"/dash/hosts/{HOST}", session)
    csrf = csrf_of(page)
    path = f"/dash/hosts/{HOST}/ttl"
    for bad in ("5", "86401", "-60", "1e3", "<b>60</b>", "9" * 40):
        status, page = post(server.url, path, session, {"csrf": csrf, "ttl": bad})
        assert status == 400, bad
        assert "from 30 to 86400" in page
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.7")]
    status, _ = post(server.url, path, session, {"csrf": csrf, "ttl": "300"})
    assert status == 303
    assert _answer_ttl(server, HOST) == [(300, "192.0.2.7")]  # served at once
    # Another account's session cannot set it (the same 404 as no such host).
    add_user(server, "bob")
    _, _, bob = login(server.url, "bob", PASSWORD)
    _, page = get(server.url, "/dash/hosts", bob)
    assert post(server.url, path, bob, {"csrf": csrf_of(page), "ttl": "30"})[0] == 404
    # An update keeps the TTL; a restart serves it.
    assert nic_update(server, HOST, secret, "192.0.2.8")[1] == "good 192.0.2.8"
    server = restart(restartable)
    assert _answer_ttl(server, HOST) == [(300, "192.0.2.8")]
    _, _, session = login(server.url, "alice", PASSWORD)
    _, page = get(server.url, f"/dash/hosts/{HOST}", session)
    assert 'id="ttl">300 s<' in page
    # Empty: back to the zone's default.
    assert post(server.url, path, session, {"csrf": csrf_of(page), "ttl": ""})[0] == 303
    assert _answer_ttl(server, HOST) == [(60, "192.0.2.8")]
    audit = server.admin_json("audit")
    assert isinstance(audit, list)
    assert [e["detail"] for e in audit if e["action"] == "host ttl"][:2] == [
        "dashboard ttl=None",
        "dashboard ttl=300",
    ]


def test_ttl_limits_must_make_sense() -> None:
    with pytest.raises(ConfigError, match="host_ttl_min is larger"):
        ServerConfig.build({"host_ttl_min": 600, "host_ttl_max": 60})


def _make_token(server: ServerProc, session: str, fields: list[tuple[str, str]]) -> tuple[str, str]:
    """Make a token on the tokens page; returns (token, its public id)."""
    _, page = get(server.url, "/dash/tokens", session)
    status, page = post(server.url, "/dash/tokens", session, [("csrf", csrf_of(page)), *fields])
    assert status == 201, page
    token = re.search(r'<code id="token">([^<]+)</code>', page)
    made = re.search(r"Token ([0-9a-f]+) made", page)
    assert token is not None, page
    assert made is not None, page
    return token.group(1), made.group(1)


def _acmedns_register(server: ServerProc, user: str, password: str, host: str) -> int:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    try:
        body = json.dumps({"host": host})
        conn.request("POST", "/register", body, {"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _challenge(server: ServerProc, user: str, password: str, name: str) -> int:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    body = json.dumps({"fqdn": f"_acme-challenge.{name}.", "value": "a" * 43})
    try:
        conn.request("POST", "/present", body, {"Authorization": f"Basic {auth}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_scoped_tokens_update_only_what_they_were_made_for(
    shared: ServerProc,
) -> None:
    server = shared
    add_user(server, "tom")
    a, b = f"a.{ZONE}", f"b.{ZONE}"
    for name in (a, b):
        server.add_host(name, "--user", "tom")
    _, _, session = login(server.url, "tom", PASSWORD)

    # Host A's addresses only.
    only_a, only_a_id = _make_token(
        server, session, [("label", "router"), ("host", a), ("type", "A")]
    )
    assert token_update(server, domains="b", token=only_a, ip="192.0.2.1")[1] == "KO"
    assert token_update(server, domains="a,b", token=only_a, ip="192.0.2.1")[1] == "KO"
    assert token_update(server, domains="a", token=only_a, ip="2001:db8::1")[1] == "KO"  # AAAA
    assert token_update(server, domains="a", token=only_a, ip="192.0.2.1")[1] == "OK"
    assert nic_update(server, "tom", only_a, "192.0.2.2", hostname=b)[1] == "nohost"
    assert nic_update(server, "tom", only_a, "192.0.2.2", hostname=a)[1] == "good 192.0.2.2"
    assert server.dig(a) == ["192.0.2.2"]
    assert server.dig(b) == []
    # Not a way into the dashboard, nor into another account's name.
    assert login(server.url, "tom", only_a)[0] == 401
    assert nic_update(server, "tbob", only_a, "192.0.2.2", hostname=a)[1] == "badauth"

    # TXT only (every host): sets TXT, never an address.
    txt_only, _ = _make_token(server, session, [("type", "TXT")])
    assert token_update(server, domains="b", token=txt_only, txt="hello")[1] == "OK"
    assert server.dig(b, "TXT") == ['"hello"']
    assert token_update(server, domains="b", token=txt_only, ip="192.0.2.3")[1] == "KO"
    assert nic_update(server, "tom", txt_only, "192.0.2.3", hostname=b)[1] == "nohost"
    assert server.dig(b) == []

    # The ACME challenge only: httpreq takes it (user name: the owner), an A token not.
    acme, _ = _make_token(server, session, [("host", b), ("type", "ACME")])
    assert _challenge(server, "tom", acme, b) == 200
    assert _challenge(server, "tom", acme, a) == 403  # not its host
    assert _challenge(server, "tom", only_a, a) == 403  # not its type
    assert token_update(server, domains="b", token=acme, txt="x")[1] == "KO"
    # Nor can it register with acme-dns (that account would outlive the token's limits).
    assert _acmedns_register(server, "tom", acme, b) == 403

    # From a network the client is not in: refused; from its own: taken.
    elsewhere, _ = _make_token(server, session, [("type", "A"), ("subnets", "192.0.2.0/24")])
    assert token_update(server, domains="a", token=elsewhere, ip="192.0.2.4")[1] == "KO"
    assert nic_update(server, "tom", elsewhere, "192.0.2.4", hostname=a)[1] == "badauth"
    loopback, loopback_id = _make_token(
        server, session, [("type", "A"), ("subnets", "127.0.0.0/8, ::1/128")]
    )
    assert token_update(server, domains="a", token=loopback, ip="192.0.2.5")[1] == "OK"

    # Expired (a token the store holds with a past expiry): refused by both APIs.
    expired = _store_token(server, "tom", expires=time.time() - 1)
    assert token_update(server, domains="a", token=expired, ip="192.0.2.6")[1] == "KO"
    assert nic_update(server, "tom", expired, "192.0.2.6", hostname=a)[1] == "badauth"
    assert server.dig(a) == ["192.0.2.5"]

    # Bad forms: refused with a reason, nothing made.
    _, page = get(server.url, "/dash/tokens", session)
    csrf = csrf_of(page)
    for fields, reason in (
        ([("type", "MX")], "record types are"),
        ([], "at least one record type"),
        ([("type", "A"), ("host", f"bobs.{ZONE}")], "not one of this account"),
        ([("type", "A"), ("subnets", "192.0.2.7/24")], "is not a network"),
        ([("type", "A"), ("days", "0")], "days must be"),
    ):
        status, page = post(server.url, "/dash/tokens", session, [("csrf", csrf), *fields])
        assert status == 400, fields
        assert reason in page, (fields, page)

    # Listed (never the secret), revoked: stops at once.
    _, page = get(server.url, "/dash/tokens", session)
    assert page.count('<tr id="token-') == 6
    assert '<span class="tag">expired</span>' in page
    assert only_a not in page
    path = f"/dash/tokens/{only_a_id}/revoke"
    assert post(server.url, path, session, {"csrf": csrf})[0] == 303
    assert token_update(server, domains="a", token=only_a, ip="192.0.2.1")[1] == "KO"
    # Another account cannot revoke (or learn of) alice's tokens.
    add_user(server, "tbob")
    _, _, bob = login(server.url, "tbob", PASSWORD)
    _, bobs_page = get(server.url, "/dash/tokens", bob)
    assert loopback_id not in bobs_page
    path = f"/dash/tokens/{loopback_id}/revoke"
    assert post(server.url, path, bob, {"csrf": csrf_of(bobs_page)})[0] == 404
    assert token_update(server, domains="a", token=loopback, ip="192.0.2.5")[1] == "OK"
    output = "".join(server.output)
    for secret in (only_a, txt_only, acme, elsewhere, loopback):
        assert secret not in output


def _store_token(server: ServerProc, owner: str, *, expires: float) -> str:
    """A token put in the store directly (the dashboard makes none that is born expired)."""
    secret = new_secret()

    async def work() -> None:
        store = await Store.open(server.data, announce=True)
        try:
            row = ApiTokenRow(
                "0ld0ld00", owner, sha256_hex(secret), "old", "", "A AAAA", "", expires, 1.0
            )
            await store.add_api_token(row, AuditEntry("test", "token add", owner, ""))
        finally:
            await store.close()

    asyncio.run(work())
    return secret


def _signup(base: str, code: str, name: str, password: str) -> tuple[int, str]:
    """The invitation link's page (cookie and token), then its form posted."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("GET", "/dash/signup?" + urllib.parse.urlencode({"code": code}))
        response = conn.getresponse()
        page = response.read().decode()
        if response.status != 200:
            return response.status, page
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        fields = {"csrf": csrf_of(page), "code": code, "name": name}
        fields |= {"password": password, "again": password}
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", "/dash/signup", urllib.parse.urlencode(fields), headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


ADMIN_PAGES = ("zones", "users", "invitations", "audit", "secondaries")


def test_admin_pages_invitations_and_the_audit_of_sign_ins(
    shared: ServerProc,
) -> None:
    server = shared
    add_user(server, "root", PASSWORD, "--admin")
    add_user(server, "alice")
    base = server.url
    # Not an admin: the pages do not exist, their forms do nothing.
    _, _, alice = login(base, "alice", PASSWORD)
    _, page = get(base, "/dash/hosts", alice)
    assert "/dash/admin" not in page
    for name in ADMIN_PAGES:
        assert get(base, f"/dash/admin/{name}", alice)[0] == 404, name
    alice_csrf = csrf_of(page)
    fields = {"csrf": alice_csrf, "name": "mallory", "password": PASSWORD, "admin": "on"}
    assert post(base, "/dash/admin/users", alice, fields)[0] == 404
    assert post(base, "/dash/admin/invitations", alice, {"csrf": alice_csrf})[0] == 404
    assert (
        post(
            base,
            "/dash/admin/users/role",
            alice,
            {"csrf": alice_csrf, "name": "alice", "admin": "on"},
        )[0]
        == 404
    )
    # No open sign-up: without a valid code there is no form, and posting one makes nothing.
    assert _signup(base, "", "eve", PASSWORD)[0] == 404
    assert _signup(base, "x" * 43, "eve", PASSWORD)[0] == 404
    # A failed sign-in with a hostile name, for the audit log.
    assert login(base, "<script>x</script>", "wrong password")[0] == 401

    _, _, root = login(base, "root", PASSWORD)
    _, page = get(base, "/dash/hosts", root)
    assert 'href="/dash/admin"' in page
    for name in ADMIN_PAGES:
        status, page = get(base, f"/dash/admin/{name}", root)
        assert status == 200, name
    csrf = csrf_of(page)
    _, page = get(base, "/dash/admin/zones", root)
    assert f"<td>{ZONE}</td>" in page

    # An invitation: its link makes one account, once.
    status, page = post(base, "/dash/admin/invitations", root, {"csrf": csrf, "days": "2"})
    assert status == 201
    link = re.search(r'<code id="invitation-link">([^<]+)</code>', page)
    assert link is not None
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(link.group(1)).query)["code"][0]
    assert _signup(base, code, "bad name", PASSWORD)[0] == 400  # the code stays good
    assert _signup(base, code, "carol", "short")[0] == 400
    assert _signup(base, code, "alice", PASSWORD)[0] == 409  # taken: the code stays good
    status, page = _signup(base, code, "carol", PASSWORD)
    assert status == 201, page
    assert login(base, "carol", PASSWORD)[0] == 303
    assert _signup(base, code, "dave", PASSWORD)[0] == 404  # used
    _, page = get(base, "/dash/admin/invitations", root)
    assert "used by carol" in page
    assert code not in page
    for bad in ("0", "31", "x"):
        assert post(base, "/dash/admin/invitations", root, {"csrf": csrf, "days": bad})[0] == 400
    status, page = post(base, "/dash/admin/invitations", root, {"csrf": csrf})
    open_id = re.findall(r'name="id" value="([0-9a-f]+)"', page)
    assert len(open_id) == 1
    path = "/dash/admin/invitations/remove"
    assert post(base, path, root, {"csrf": csrf, "id": open_id[0]})[0] == 303

    # Accounts: add one, make alice an admin, remove one; never oneself.
    fields = {"csrf": csrf, "name": "erin", "password": PASSWORD}
    assert post(base, "/dash/admin/users", root, fields)[0] == 201
    assert post(base, "/dash/admin/users", root, fields)[0] == 409
    assert post(base, "/dash/admin/users", root, {**fields, "name": "a b"})[0] == 400
    role = "/dash/admin/users/role"
    assert post(base, role, root, {"csrf": csrf, "name": "alice", "admin": "on"})[0] == 200
    assert get(base, "/dash/admin/users", alice)[0] == 200  # at once, same session
    assert post(base, role, root, {"csrf": csrf, "name": "root"})[0] == 400
    remove = "/dash/admin/users/remove"
    assert post(base, remove, root, {"csrf": csrf, "name": "root"})[0] == 400
    assert post(base, remove, root, {"csrf": csrf, "name": "erin"})[0] == 200
    assert login(base, "erin", PASSWORD)[0] == 401
    users = server.admin_json("user", "list")
    assert isinstance(users, list)
    names = {u["user"] for u in users}
    assert {"alice", "carol", "root"} <= names
    assert "erin" not in names

    # Secondaries' status: this server itself stands in for one (it answers SOA).
    dns = f"{server.dns[0]}:{server.dns[1]}"
    assert server.admin("secondary", "add", "sec1", "--address", dns).returncode == 0
    _, page = get(base, "/dash/admin/secondaries", root)
    row = re.search(r"<td>sec1\.</td>(.*?)</tr>", page, re.S)
    assert row is not None, page
    assert re.findall(r"<td>([^<]*)</td>", row.group(1))[-1] == "0"  # behind by 0

    # The audit log: sign-ins (failed ones escaped), sign-outs, every change.
    status, _ = post(base, "/dash/logout", alice, {"csrf": alice_csrf})
    assert status == 303
    _, page = get(base, "/dash/admin/audit", root)
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>" not in page
    actions = re.findall(r"</td><td>([a-z -]+)</td>", page)
    for action in (
        "sign-in",
        "sign-in failed",
        "sign-out",
        "invitation add",
        "invitation rm",
        "user signup",
        "user add",
        "user admin",
        "user rm",
    ):
        assert action in actions, action
    assert PASSWORD not in page
    assert "wrong password" not in page


def test_two_step_sign_in_with_codes_computed_here(shared: ServerProc) -> None:
    server = shared
    add_user(server, "tina")
    base = server.url
    _, _, session = login(base, "tina", PASSWORD)
    _, page = get(base, "/dash/account", session)
    assert "Off: a password alone signs in here." in page
    csrf = csrf_of(page)
    status, page = post(base, "/dash/account/totp", session, {"csrf": csrf})
    assert status == 200
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    uri = re.search(r'<code id="totp-uri">([^<]+)</code>', page)
    assert secret is not None
    assert uri is not None
    assert html.unescape(uri.group(1)).startswith("otpauth://totp/homeport%20127.0.0.1:tina?")
    assert f"secret={secret.group(1)}" in html.unescape(uri.group(1))
    key = totp.decode_key(secret.group(1))
    # Each code for the current step or one after the last used (a code is good once):
    # still within the server's window of one step if a step ends while it travels.
    confirm_step = totp.time_step(time.time())
    fields = {"csrf": csrf, "secret": secret.group(1)}
    wrong = str((int(totp.hotp(key, confirm_step)) + 1) % 10**6).zfill(6)
    assert post(base, "/dash/account/totp/confirm", session, {**fields, "code": wrong})[0] == 400
    code = totp.hotp(key, confirm_step)
    status, page = post(base, "/dash/account/totp/confirm", session, {**fields, "code": code})
    assert status == 200
    assert "Two-step sign-in is on." in page

    assert login(base, "tina", PASSWORD)[0] == 401  # no code
    assert login(base, "tina", PASSWORD, wrong)[0] == 401
    assert login(base, "tina", PASSWORD, code)[0] == 401  # used to turn it on
    assert login(base, "tina", "wrong password", totp.hotp(key, confirm_step + 1))[0] == 401
    login_step = max(totp.time_step(time.time()), confirm_step + 1)  # see confirm_step
    status, _, session = login(base, "tina", PASSWORD, totp.hotp(key, login_step))
    assert status == 303
    assert login(base, "tina", PASSWORD, totp.hotp(key, login_step))[0] == 401  # replayed
    # The API's password logins are not asked for a code (routers cannot type one).
    secret_a = server.add_host(TOTP_HOST, "--user", "tina")
    assert (
        nic_update(server, "tina", PASSWORD, "192.0.2.1", hostname=TOTP_HOST)[1] == "good 192.0.2.1"
    )
    assert secret_a

    _, page = get(base, "/dash/account", session)
    assert "On: signing in here asks for a code" in page
    csrf = csrf_of(page)
    off = "/dash/account/totp/off"
    assert post(base, off, session, {"csrf": csrf, "password": "wrong password"})[0] == 401
    status, page = post(base, off, session, {"csrf": csrf, "password": PASSWORD})
    assert status == 200
    assert "Two-step sign-in is off." in page
    assert login(base, "tina", PASSWORD)[0] == 303
    audit = server.admin_json("audit", "--limit", "100")
    assert isinstance(audit, list)
    actions = [e["action"] for e in audit]
    assert "user totp on" in actions
    assert "user totp off" in actions
    details = [e["detail"] for e in audit if e["action"] == "sign-in failed"]
    assert "dashboard bad-totp" in details
    assert "dashboard no-totp" in details
    assert secret.group(1) not in "".join(server.output)
    assert secret.group(1) not in json.dumps(audit)


def test_every_new_form_needs_its_token_and_our_origin(shared: ServerProc) -> None:
    """A signed-in admin's cookie alone changes nothing: no token, a wrong one, or a right
    one from another origin get the refusal (403), and nothing changes."""
    server = shared
    add_user(server, "croot", PASSWORD, "--admin")
    server.add_host(CSRF_HOST, "--user", "croot")
    base = server.url
    _, _, session = login(base, "croot", PASSWORD)
    _, page = get(base, "/dash/hosts", session)
    csrf = csrf_of(page)
    forms = {
        "/dash/tokens": {"type": "A"},
        "/dash/tokens/abcd1234/revoke": {},
        f"/dash/hosts/{CSRF_HOST}/ttl": {"ttl": "300"},
        f"/dash/hosts/{CSRF_HOST}/tsig": {},
        "/dash/admin/users": {"name": "mallory", "password": PASSWORD, "admin": "on"},
        "/dash/admin/users/remove": {"name": "croot"},
        "/dash/admin/users/role": {"name": "croot"},
        "/dash/admin/invitations": {"days": "7"},
        "/dash/admin/invitations/remove": {"id": "abcd1234"},
        "/dash/account/totp": {},
        "/dash/account/totp/confirm": {"secret": "A" * 32, "code": "123456"},
        "/dash/account/totp/off": {"password": PASSWORD},
        "/dash/signup": {"code": "x" * 43, "name": "mallory", "password": PASSWORD},
    }
    audit_before = server.admin_json("audit", "--limit", "1000")
    assert isinstance(audit_before, list)
    for path, fields in forms.items():
        for token, origin in (("", base), ("0" * 64, base), (csrf, "http://127.0.0.1:1")):
            status, page = post_from(base, path, session, {**fields, "csrf": token}, origin)
            assert status == 403, (path, token[:4], origin)
            assert "came from another site" in page
    audit_after = server.admin_json("audit", "--limit", "1000")
    assert audit_after == audit_before  # nothing at all was changed
    users = server.admin_json("user", "list")
    assert isinstance(users, list)
    assert "mallory" not in {u["user"] for u in users}
    assert _answer_ttl(server, CSRF_HOST) == []
