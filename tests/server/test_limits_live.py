"""Throttles on a running server with the default [limits]."""

from __future__ import annotations

from tests.server.conftest import ServerProc
from tests.server.httpget import get

HOST = "myhome.dyn.example.net"


def test_failed_logins_from_one_address_get_abuse(limited_server: ServerProc) -> None:
    secret = limited_server.add_host(HOST)
    answers = [
        get(
            limited_server.http,
            f"/nic/update?hostname={HOST}&myip=192.0.2.1",
            auth=(HOST, f"bad{i}"),
        )[:2]
        for i in range(14)
    ]
    assert answers[0] == (200, "badauth\n")
    assert answers[-1] == (429, "abuse\n")
    # Only failures are refused: the right secret from the same address (a NAT) still works.
    status, body, _ = get(
        limited_server.http, f"/nic/update?hostname={HOST}&myip=192.0.2.1", auth=(HOST, secret)
    )
    assert (status, body) == (200, "good 192.0.2.1\n")


def test_host_request_rate(limited_server: ServerProc) -> None:
    secret = limited_server.add_host(HOST)
    bodies = [
        get(
            limited_server.http,
            f"/nic/update?hostname={HOST}&myip=192.0.2.{i}",
            auth=(HOST, secret),
        )[1].strip()
        for i in range(1, 14)
    ]
    assert bodies[0] == "good 192.0.2.1"
    assert bodies[-1] == "abuse"
    assert limited_server.dig(HOST) == [f"192.0.2.{bodies.index('abuse')}"]


def test_dns_rate_limited_by_default(limited_server: ServerProc) -> None:
    """A burst from one client network is cut down (RRL), yet the client is still served."""
    import socket

    import dns.flags
    import dns.message

    query = dns.message.make_query(f"x.{HOST}", "A")
    sent = 500
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        for i in range(sent):
            query.id = i
            sock.sendto(query.to_wire(), limited_server.dns)
        full = truncated = 0
        try:
            while True:
                response = dns.message.from_wire(sock.recv(4096))
                if response.flags & dns.flags.TC:
                    truncated += 1
                else:
                    full += 1
        except TimeoutError:
            pass
    assert 50 <= full < sent // 2
    assert truncated > 0  # slip: some limited answers become TC=1 so real clients retry on TCP
