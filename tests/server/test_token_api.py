"""The DuckDNS-style token API: OK/KO, ip/ipv6/txt/clear/verbose."""

from __future__ import annotations

from tests.server.conftest import ServerProc
from tests.server.httpget import get

HOST = "myhome.dyn.example.net"


def call(srv: ServerProc, query: str) -> tuple[int, str]:
    status, body, _ = get(srv.http, f"/update?{query}")
    return status, body


def test_host_secret_as_token(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    assert call(server, f"domains=myhome&token={secret}&ip=192.0.2.30") == (200, "OK")
    assert server.dig(HOST) == ["192.0.2.30"]
    assert call(server, f"domains={HOST}&token={secret}&ipv6=2001:db8::30") == (200, "OK")
    assert server.dig(HOST) == ["192.0.2.30"]  # the other family untouched
    assert server.dig(HOST, "AAAA") == ["2001:db8::30"]


def test_user_token_and_verbose(server: ServerProc) -> None:
    result = server.admin(
        "user", "add", "bob", "--password-stdin", "--json", input="long password\n"
    )
    assert result.returncode == 0, result.stderr
    import json

    token = json.loads(result.stdout)["token"]
    server.add_host("one.dyn.example.net", "--user", "bob")
    server.add_host("two.dyn.example.net", "--user", "bob")
    status, body = call(server, f"domains=one,two&token={token}&ip=198.51.100.7&verbose=true")
    assert status == 200
    assert body.splitlines() == ["OK", "198.51.100.7", "", "UPDATED"]
    _, body = call(server, f"domains=one,two&token={token}&ip=198.51.100.7&verbose=true")
    assert body.splitlines()[-1] == "NOCHANGE"
    assert server.dig("two.dyn.example.net") == ["198.51.100.7"]


def test_txt_and_clear(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    assert call(server, f"domains=myhome&token={secret}&ip=192.0.2.31")[1] == "OK"
    assert call(server, f"domains=myhome&token={secret}&txt=hello-acme")[1] == "OK"
    assert server.dig(HOST, "TXT") == ['"hello-acme"']
    assert server.dig(HOST) == ["192.0.2.31"]
    assert call(server, f"domains=myhome&token={secret}&txt=&clear=true")[1] == "OK"
    assert server.dig(HOST, "TXT") == []
    assert call(server, f"domains=myhome&token={secret}&clear=true")[1] == "OK"
    assert server.dig(HOST) == []


def test_ko_cases(server: ServerProc) -> None:
    secret = server.add_host(HOST)
    server.add_host("notmine.dyn.example.net")
    assert call(server, "domains=myhome&token=wrong&ip=192.0.2.1") == (200, "KO")
    assert call(server, "domains=myhome&ip=192.0.2.1") == (200, "KO")
    assert call(server, f"domains=notmine&token={secret}&ip=192.0.2.1") == (200, "KO")
    assert call(server, f"domains=myhome&token={secret}&ip=not-an-ip")[1] == "KO"
    assert server.dig(HOST) == []
