"""The dyndns2 API of a running server, code by code, checked through real dig."""

from __future__ import annotations

import pytest

from tests.server.conftest import ServerProc
from tests.server.httpget import get

HOST = "myhome.dyn.example.net"


def update(
    srv: ServerProc, query: str, auth: tuple[str, str] | None, **kw: object
) -> tuple[int, str]:
    status, body, _ = get(srv.http, f"/nic/update?{query}", auth=auth, **kw)  # type: ignore[arg-type]
    return status, body.strip()


def test_good_then_nochg_and_dns_follows(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    assert update(server, f"hostname={HOST}&myip=192.0.2.10", (HOST, secret)) == (
        200,
        "good 192.0.2.10",
    )
    assert server.dig(HOST) == ["192.0.2.10"]
    assert update(server, f"hostname={HOST}&myip=192.0.2.10", (HOST, secret)) == (
        200,
        "nochg 192.0.2.10",
    )
    assert update(server, f"hostname={HOST}&myip=192.0.2.11", (HOST, secret)) == (
        200,
        "good 192.0.2.11",
    )
    assert server.dig(HOST) == ["192.0.2.11"]


def test_every_address_form(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    auth = (HOST, secret)
    assert update(server, f"hostname={HOST}&myip=2001:db8::5,192.0.2.5", auth) == (
        200,
        "good 192.0.2.5,2001:db8::5",
    )
    assert server.dig(HOST, "AAAA") == ["2001:db8::5"]
    # inadyn style: a separate myipv6= request leaves A alone.
    assert update(server, f"hostname={HOST}&myipv6=2001:db8::6", auth) == (200, "good 2001:db8::6")
    assert server.dig(HOST) == ["192.0.2.5"]
    assert server.dig(HOST, "AAAA") == ["2001:db8::6"]
    assert update(server, f"hostname={HOST}&myipv4=192.0.2.7", auth)[1] == "good 192.0.2.7"
    assert server.dig(HOST, "AAAA") == ["2001:db8::6"]
    assert update(server, f"hostname={HOST}&ip=192.0.2.8&ipv6=2001:db8::8", auth)[1] == (
        "good 192.0.2.8,2001:db8::8"
    )
    # No address: the connection's own (loopback here: a zone allowing private addresses).
    assert server.admin("zone", "set", "dyn.example.net", "--allow-private").returncode == 0
    assert update(server, f"hostname={HOST}", auth) == (200, "good 127.0.0.1")
    assert server.dig(HOST) == ["127.0.0.1"]


def test_account_errors(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    assert update(server, f"hostname={HOST}&myip=192.0.2.1", (HOST, "wrong")) == (200, "badauth")
    assert update(server, f"hostname={HOST}&myip=192.0.2.1", ("nobody.example", secret)) == (
        200,
        "badauth",
    )
    status, body = update(server, f"hostname={HOST}&myip=192.0.2.1", None)
    assert (status, body) == (401, "badauth")
    many = ",".join(f"h{i}.dyn.example.net" for i in range(21))
    assert update(server, f"hostname={many}&myip=192.0.2.1", (HOST, secret)) == (200, "numhost")
    status, _ = update(server, f"hostname={HOST}&myip=300.1.2.3", (HOST, secret))
    assert status == 400
    assert server.dig(HOST) == []  # nothing was published by any of these


def test_per_host_codes_in_request_order(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    other = server.add_host("other.dyn.example.net")
    assert other
    query = (
        f"hostname={HOST},bad_name!,other.dyn.example.net,nothere.dyn.example.net&myip=192.0.2.9"
    )
    assert update(server, query, (HOST, secret)) == (200, "good 192.0.2.9\nnotfqdn\nnohost\nnohost")
    assert server.dig("other.dyn.example.net") == []


def test_account_login_updates_owned_hosts(server: ServerProc) -> None:
    result = server.admin("user", "add", "alice", "--password-stdin", input="correct horse\n")
    assert result.returncode == 0, result.stderr
    server.add_host("a.dyn.example.net", "--user", "alice")
    server.add_host("b.dyn.example.net", "--user", "alice")
    server.add_host("c.dyn.example.net")
    auth = ("alice", "correct horse")
    query = "hostname=a.dyn.example.net,b.dyn.example.net,c.dyn.example.net&myip=198.51.100.4"
    assert update(server, query, auth) == (200, "good 198.51.100.4\ngood 198.51.100.4\nnohost")
    assert server.dig("b.dyn.example.net") == ["198.51.100.4"]
    assert update(server, query, ("alice", "wrong password")) == (200, "badauth")


def test_offline_and_back(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    auth = (HOST, secret)
    update(server, f"hostname={HOST}&myip=192.0.2.20,2001:db8::20", auth)
    assert update(server, f"hostname={HOST}&offline=yes", auth)[1].startswith("good")
    assert server.dig(HOST) == []
    assert server.dig(HOST, "AAAA") == []
    assert update(server, f"hostname={HOST}&myip=192.0.2.20", auth)[1] == "good 192.0.2.20"
    assert server.dig(HOST, "AAAA") == ["2001:db8::20"]


def test_forwarded_for_ignored_from_untrusted_peer(server: ServerProc) -> None:
    assert server.admin("zone", "set", "dyn.example.net", "--allow-private").returncode == 0
    secret = server.add_host(HOST)
    status, body = update(
        server, f"hostname={HOST}", (HOST, secret), headers={"X-Forwarded-For": "192.0.2.99"}
    )
    assert (status, body) == (200, "good 127.0.0.1")


@pytest.mark.parametrize(
    ("path", "content_type", "needle"),
    [
        ("/checkip", "text/html", "Current IP Address: 127.0.0.1"),
        ("/checkip?format=text", "text/plain", "127.0.0.1"),
        ("/checkip?format=json", "application/json", '"ip": "127.0.0.1"'),
    ],
)
def test_checkip(server: ServerProc, path: str, content_type: str, needle: str) -> None:
    status, body, headers = get(server.http, path)
    assert status == 200
    assert headers["content-type"].startswith(content_type)
    assert needle in body


def test_checkip_by_accept_header(server: ServerProc) -> None:
    _, body, headers = get(server.http, "/checkip", headers={"Accept": "application/json"})
    assert headers["content-type"].startswith("application/json")
    assert body.strip() == '{"ip": "127.0.0.1"}'


def test_health_and_metrics(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    update(server, f"hostname={HOST}&myip=192.0.2.1", (HOST, secret))
    update(server, f"hostname={HOST}&myip=192.0.2.1", (HOST, "nope"))
    server.dig(HOST)
    assert get(server.http, "/healthz")[:2] == (200, "ok\n")
    status, body, _ = get(server.http, "/metrics")
    assert status == 200
    assert 'homeport_updates_total{api="dyndns2",result="good"} 1.0' in body
    assert 'homeport_updates_total{api="dyndns2",result="badauth"} 1.0' in body
    assert "homeport_dns_queries_total" in body


def test_secrets_never_in_output(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    update(server, f"hostname={HOST}&myip=192.0.2.1", (HOST, secret))
    update(server, f"hostname={HOST}&myip=192.0.2.1", (HOST, "wrong-secret-value"))
    get(server.http, f"/update?domains=myhome&token={secret}&ip=192.0.2.3")
    log = "".join(server.output)
    assert secret not in log
    assert "wrong-secret-value" not in log
