"""`homeport doctor` against a real server on loopback (router checks off: no router here)."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server
from tests.server.httpget import get
from tests.server.test_probe import Listener, make_cert

HOST = "doc.dyn.example.net"


@pytest.fixture
def doc_server(tmp_path: Path) -> Iterator[tuple[ServerProc, str]]:
    data = tmp_path / "data"
    # The name server's glue is the server itself, so the doctor asks only loopback; the
    # host's service is on loopback too, so the zone must allow publishing 127.0.0.1.
    result = run_homeport(
        "server",
        "zone",
        "add",
        "dyn.example.net",
        "--ns",
        "ns1.dyn.example.net=127.0.0.1",
        "--allow-private",
        "--data",
        str(data),
    )
    assert result.returncode == 0, result.stderr
    secret = add_hosts(data, [HOST])[HOST]
    # The doctor's probe connects back to 127.0.0.1: a lab network, never allowed by default.
    config = tmp_path / "server.toml"
    config.write_text('[probe]\nlab_networks = ["127.0.0.0/8"]\n')
    srv = start_server(data, "--limits", "off", "--config", str(config))
    try:
        yield srv, secret
    finally:
        stop_server(srv)


def run_doctor(
    port: int, url: str, dns: str, secret: str, timeout: int = 2
) -> tuple[int, dict[str, object]]:
    """`homeport doctor --json` for HOST:port against the server at ``url``."""
    result = run_homeport(
        "doctor", f"{HOST}:{port}", "--server", url, "--login", HOST,
        "--password-env", "DOC_SECRET", "--dns", dns, "--no-router",
        "--timeout", str(timeout), "--json",
        env={"DOC_SECRET": secret},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    assert secret not in result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def doctor(srv: ServerProc, secret: str, port: int) -> tuple[int, dict[str, object]]:
    return run_doctor(port, srv.url, f"{srv.dns[0]}:{srv.dns[1]}", secret)


def by_hop(report: dict[str, object]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = {}
    for check in report["checks"]:  # type: ignore[attr-defined]
        out.setdefault(check["hop"], []).append(check)
    return out


def test_doctor_finds_the_broken_hops(doc_server: tuple[ServerProc, str]) -> None:
    srv, secret = doc_server
    get(srv.http, f"/nic/update?hostname={HOST}&myip=127.0.0.1", auth=(HOST, secret))
    with socket.create_server(("0.0.0.0", 0)) as service:
        port = service.getsockname()[1]
        _, report = doctor(srv, secret, port)
        hops = by_hop(report)
        assert hops["listening"][0]["verdict"] == "ok"
        assert hops["dns"][0]["verdict"] == "ok", hops["dns"]
        assert hops["reachable"][0]["verdict"] == "ok", hops["reachable"]
        assert hops["router"][0]["verdict"] == "skipped"

        # DNS changed behind the agent's back: stale.
        get(srv.http, f"/nic/update?hostname={HOST}&myip=192.0.2.99", auth=(HOST, secret))
        code, report = doctor(srv, secret, port)
        dns_check = by_hop(report)["dns"][0]
        assert dns_check["verdict"] == "fail"
        assert "192.0.2.99" in dns_check["evidence"]
        assert code == 2
    # The service stopped: nothing listens and the probe is refused.
    code, report = doctor(srv, secret, port)
    hops = by_hop(report)
    assert hops["listening"][0]["verdict"] == "fail"
    assert "nothing is listening" in hops["listening"][0]["evidence"]
    assert hops["reachable"][0]["verdict"] == "fail"
    assert report["verdict"] == "fail"
    assert code == 2


def test_doctor_bad_usage_is_one_line() -> None:
    for args in (["doctor"], ["doctor", "nohost"], ["doctor", "a.example:99999"]):
        result = run_homeport(*args)
        assert result.returncode != 0
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_doctor_from_the_agents_config(doc_server: tuple[ServerProc, str], tmp_path: Path) -> None:
    srv, secret = doc_server
    get(srv.http, f"/nic/update?hostname={HOST}&myip=127.0.0.1", auth=(HOST, secret))
    with socket.create_server(("0.0.0.0", 0)) as service:
        port = service.getsockname()[1]
        config = tmp_path / "agent.toml"
        config.write_text(
            f"""
[[ipv4.source]]
type = "static"
address = "203.0.113.7"

[[provider]]
protocol = "homeport"
hosts = ["{HOST}"]
server = "{srv.url}"
login = "{HOST}"
password_env = "DOC_SECRET"

[[mapping]]
internal_port = {port}
"""
        )
        dns = f"{srv.dns[0]}:{srv.dns[1]}"
        result = run_homeport(
            "doctor",
            "--config",
            str(config),
            "--no-router",
            "--dns",
            dns,
            "--json",
            env={"DOC_SECRET": secret},
        )
        assert "Traceback" not in result.stderr, result.stderr
        hops = by_hop(json.loads(result.stdout))
        assert hops["reachable"][0]["verdict"] == "ok"
        assert hops["reachable"][0]["subject"] == f"port {port} IPv4"
        assert hops["dns"][0]["verdict"] == "ok"
        assert secret not in result.stdout + result.stderr


def doctor_against(url: str, dns: str, secret: str) -> dict[str, list[dict[str, str]]]:
    """The doctor's checks by hop, for a service on a closed port (9), with 1 s to wait."""
    return by_hop(run_doctor(9, url, dns, secret, timeout=1)[1])


def test_doctor_shows_why_the_server_could_not_be_asked() -> None:
    """A refused connection and a silent peer each come back with their reason, not as
    "unknown": the reason is what the user needs to fix the hop."""
    # Bound but not listening: the kernel answers a SYN with a reset (connection refused).
    with socket.socket() as closed, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        closed.bind(("127.0.0.1", 0))
        mute.bind(("127.0.0.1", 0))  # a DNS server that never answers
        dns = f"127.0.0.1:{mute.getsockname()[1]}"
        hops = doctor_against(f"http://127.0.0.1:{closed.getsockname()[1]}", dns, "s3cret-x")
        assert "connection refused" in hops["nat"][0]["evidence"], hops["nat"]
        assert "connection refused" in hops["reachable"][0]["evidence"], hops["reachable"]
        dns_check = hops["dns"][0]
        assert dns_check["verdict"] == "fail"
        assert "no answer within 1 s" in dns_check["evidence"], dns_check

        # Listening, but never answering: the HTTP exchange times out.
        with socket.create_server(("127.0.0.1", 0)) as silent:
            url = f"http://127.0.0.1:{silent.getsockname()[1]}"
            hops = doctor_against(url, dns, "s3cret-x")
        assert "no answer within 1 s" in hops["nat"][0]["evidence"], hops["nat"]
        assert "no answer within 1 s" in hops["reachable"][0]["evidence"], hops["reachable"]


def test_doctor_shows_a_tls_failure(tmp_path: Path) -> None:
    """An https server whose certificate the doctor cannot trust: the reason is the
    verification error, not "unknown"."""
    cert, key = make_cert(tmp_path, "self-signed.example")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = Listener(context=context)
    try:
        hops = doctor_against(f"https://127.0.0.1:{listener.port}", "127.0.0.1:9", "s3cret-x")
    finally:
        listener.close()
    assert "CERTIFICATE_VERIFY_FAILED" in hops["nat"][0]["evidence"], hops["nat"]
    assert "CERTIFICATE_VERIFY_FAILED" in hops["reachable"][0]["evidence"], hops["reachable"]


def test_doctor_shows_the_probes_refusal(doc_server: tuple[ServerProc, str]) -> None:
    srv, secret = doc_server
    hops = doctor_against(srv.url, f"{srv.dns[0]}:{srv.dns[1]}", secret + "-wrong")
    reachable = hops["reachable"][0]
    assert reachable["verdict"] == "skipped"
    assert "HTTP 401 badauth" in reachable["evidence"], reachable
    assert hops["nat"][0]["verdict"] == "ok"  # checkip needs no credentials: it worked
