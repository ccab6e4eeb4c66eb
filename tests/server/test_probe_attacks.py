"""The probe attacked: bad names, CRLF injection, loopback targets.

Live tests talk to a running server and only ever let it connect to loopback (on
today's main too, where the refusals below are missing). The other non-public
ranges are checked on the rule itself (test_probe_rules.py), so no test can make
the server connect to an address outside loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.test_probe import HOST, LAB_CONFIG, Listener, post_probe

BAD_NAMES = [
    "..",
    ".a",
    "a..b",
    "a" * 64 + ".example",
    "a\u0000b",
    "x\r\nX-Injected: yes\r\n\r\nPOST /internal HTTP/1.1\r\nHost: x",
    "-a.example",
    "a-.example",
    ("a" * 62 + ".") * 4 + "abc",  # 255 characters
    "bücher.example",
    "fe80::1%eth0",
    "a b.example",
    "a_b.example",
    "",
    ".",
    5,
    ["a.example"],
]


def server_with(tmp_path: Path, config: str) -> tuple[ServerProc, str]:
    data = tmp_path / "data"
    path = tmp_path / "server.toml"
    path.write_text(config + "[limits]\nenabled = false\n")
    result = run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data))
    assert result.returncode == 0, result.stderr
    secret = add_hosts(data, [HOST])[HOST]
    return start_server(data, "--config", str(path)), secret


@pytest.fixture
def lab_server(tmp_path: Path) -> Iterator[tuple[ServerProc, str]]:
    srv, secret = server_with(tmp_path, LAB_CONFIG)
    try:
        yield srv, secret
    finally:
        stop_server(srv)


@pytest.fixture
def public_server(tmp_path: Path) -> Iterator[tuple[ServerProc, str]]:
    """No lab networks; 127.0.0.1 is a trusted proxy (as a local nginx would be)."""
    srv, secret = server_with(tmp_path, '[server]\ntrusted_proxies = ["127.0.0.1/32"]\n')
    try:
        yield srv, secret
    finally:
        stop_server(srv)


def test_bad_server_names_are_400_and_never_sent(lab_server: tuple[ServerProc, str]) -> None:
    srv, secret = lab_server
    listener = Listener(http=True)
    try:
        for name in BAD_NAMES:
            for check in ("tls", "http"):  # main: 500 and a traceback (tls), or sent as is
                body = {"port": listener.port, "check": check, "server_name": name}
                status, result = post_probe(srv, body, (HOST, secret))
                assert status == 400, (name, check, result)
                assert "server_name must be a DNS name" in str(result["error"])
        # A good name and an awkward path: exactly one request line and our headers.
        body = {
            "port": listener.port,
            "check": "http",
            "server_name": "Probe.Dyn.Example.NET.",
            "path": '/a"b<c>/ü?q=1&r=%41#frag',
        }
        status, result = post_probe(srv, body, (HOST, secret))
        assert (status, result["http_status"]) == (200, 200), result
    finally:
        listener.close()
    assert listener.received == [
        b"GET /a%22b%3Cc%3E/%C3%BC?q=1&r=%41%23frag HTTP/1.1\r\n"
        b"Host: Probe.Dyn.Example.NET\r\n"
        b"User-Agent: homeport-probe\r\nConnection: close\r\n\r\n"
    ]
    assert "Traceback" not in "".join(srv.output)


def test_control_characters_in_the_path_are_400(lab_server: tuple[ServerProc, str]) -> None:
    srv, secret = lab_server
    for path in ("/a\r\nX-Injected: yes", "/a\u0000b", "/a\tb", "/a b", "/\x7f"):
        status, result = post_probe(srv, {"port": 9, "check": "http", "path": path}, (HOST, secret))
        assert status == 400, (path, result)
        assert "control characters" in str(result["error"])


@pytest.mark.parametrize(
    "forwarded",
    [
        None,  # the connection's own address: 127.0.0.1
        "unknown",  # a trusted proxy that does not know: the proxy's address is left
        "127.0.0.5",
        "::ffff:127.0.0.1",
        "127.0.0.1, 127.0.0.1",  # hops the trusted proxy appended, all loopback
    ],
)
def test_loopback_requester_is_refused_without_a_lab(
    public_server: tuple[ServerProc, str], forwarded: str | None
) -> None:
    srv, secret = public_server
    listener = Listener()
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    try:
        status, result = post_probe(srv, {"port": listener.port}, (HOST, secret), headers)
    finally:
        listener.close()
    assert status == 403, result
    assert "the probe connects only to public addresses" in str(result["error"])
    assert "is loopback" in str(result["error"])
    assert "reachable" not in result
