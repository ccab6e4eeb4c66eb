"""Admin commands, alone and against a running server (which sees their effect at once)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.httpget import get


def admin(data: Path, *args: str, input: str | None = None) -> tuple[int, str, str]:
    result = run_homeport("server", *args, "--data", str(data), input=input)
    return result.returncode, result.stdout, result.stderr


def test_zone_and_host_lifecycle(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert (
        admin(data, "zone", "add", "Dyn.Example.NET", "--ns", "ns1.dyn.example.net=192.0.2.53")[0]
        == 0
    )
    code, out, _ = admin(data, "zone", "list", "--json")
    assert code == 0
    assert [z["zone"] for z in json.loads(out)] == ["dyn.example.net."]
    code, out, _ = admin(data, "host", "add", "pi.dyn.example.net", "--json")
    secret = json.loads(out)["secret"]
    assert code == 0
    assert len(secret) >= 43
    code, out, _ = admin(data, "host", "list", "--json")
    assert json.loads(out) == [
        {
            "host": "pi.dyn.example.net",
            "ipv4": None,
            "ipv6": None,
            "updated": None,
            "state": "never updated",
            "owner": None,
        }
    ]
    code, out, _ = admin(data, "host", "rotate-secret", "pi.dyn.example.net", "--json")
    assert json.loads(out)["secret"] != secret
    assert admin(data, "host", "rm", "pi.dyn.example.net")[0] == 0
    code, out, _ = admin(data, "host", "list", "--json")
    assert json.loads(out) == []
    code, out, _ = admin(data, "audit", "--json")
    actions = [e["action"] for e in json.loads(out)]
    assert actions[:4] == ["host rm", "host rotate", "host add", "zone add"]
    assert secret not in out


def test_errors_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "d"
    cases = [
        ("host", "add", "pi.nowhere.example"),
        ("zone", "add", "a.example", "--ns", "ns1.a.example=not-ip"),
        ("host", "rm", "missing.a.example"),
        ("zone", "import", str(tmp_path / "missing.zone"), "--zone", "a.example"),
        ("user", "add", "x:y"),
    ]
    for args in cases:
        code, _out, err = admin(data, *args, input="password123\n")
        assert code != 0, args
        assert "Traceback" not in err, args
        assert len(err.strip().splitlines()) <= 3, (args, err)
    assert admin(data, "zone", "add", "a.example")[0] == 0
    code, _, err = admin(data, "zone", "add", "a.example")
    assert code != 0
    assert "exists already" in err
    code, _, err = admin(data, "host", "add", "a.example")
    assert code != 0
    assert err.count("\n") == 1


def test_running_server_sees_admin_changes_at_once(server: ServerProc) -> None:
    secret = server.add_host("new.dyn.example.net")
    # No wait: a host added while the server runs can update immediately.
    status, body, _ = get(
        server.http,
        "/nic/update?hostname=new.dyn.example.net&myip=192.0.2.40",
        auth=("new.dyn.example.net", secret),
    )
    assert (status, body) == (200, "good 192.0.2.40\n")
    new = json.loads(server.admin("host", "rotate-secret", "new.dyn.example.net", "--json").stdout)[
        "secret"
    ]
    _, body, _ = get(
        server.http,
        "/nic/update?hostname=new.dyn.example.net&myip=192.0.2.41",
        auth=("new.dyn.example.net", secret),
    )
    assert body == "badauth\n"
    _, body, _ = get(
        server.http,
        "/nic/update?hostname=new.dyn.example.net&myip=192.0.2.41",
        auth=("new.dyn.example.net", new),
    )
    assert body == "good 192.0.2.41\n"
    assert server.admin("host", "rm", "new.dyn.example.net").returncode == 0
    deadline = time.monotonic() + 5
    while server.dig("new.dyn.example.net") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.dig("new.dyn.example.net") == []


ZONE_TEXT = """$ORIGIN imported.example.
$TTL 300
@   IN SOA ns1 hostmaster 2024010101 3600 600 1209600 60
    IN NS  ns1
ns1 IN A   192.0.2.53
www IN A   192.0.2.80
www IN AAAA 2001:db8::80
txt IN TXT "hello world"
"""


def test_zone_import_is_served_without_restart(server: ServerProc, tmp_path: Path) -> None:
    zonefile = tmp_path / "imported.zone"
    zonefile.write_text(ZONE_TEXT)
    result = server.admin("zone", "import", str(zonefile), "--zone", "imported.example")
    assert result.returncode == 0, result.stderr
    deadline = time.monotonic() + 5
    while not server.dig("www.imported.example") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.dig("www.imported.example") == ["192.0.2.80"]
    assert server.dig("www.imported.example", "AAAA") == ["2001:db8::80"]
    assert server.dig("txt.imported.example", "TXT") == ['"hello world"']


DESCENDANTS_FIRST = """$ORIGIN late.example.
$TTL 300
@   IN SOA ns1 hostmaster 2024010101 3600 600 1209600 60
    IN NS  ns1
_acme-challenge.home IN TXT "x"
home                 IN A   203.0.113.7
x.y.deep             IN A   192.0.2.31
deep                 IN AAAA 2001:db8::30
ns1 IN A   192.0.2.53
"""


def test_zone_import_keeps_names_defined_after_their_descendants(
    server: ServerProc, tmp_path: Path
) -> None:
    # A regression: imported without a word, then "home A" was NODATA
    zonefile = tmp_path / "late.zone"
    zonefile.write_text(DESCENDANTS_FIRST)
    out = server.admin_json("zone", "import", str(zonefile), "--zone", "late.example")
    assert out == {**out, "records": 6, "served": 6, "duplicates": 0}
    deadline = time.monotonic() + 5
    while not server.dig("ns1.late.example") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.dig("home.late.example") == ["203.0.113.7"]
    assert server.dig("_acme-challenge.home.late.example", "TXT") == ['"x"']
    assert server.dig("deep.late.example", "AAAA") == ["2001:db8::30"]
    assert server.dig("x.y.deep.late.example") == ["192.0.2.31"]


def test_zone_import_refuses_what_it_would_not_serve(server: ServerProc, tmp_path: Path) -> None:
    zonefile = tmp_path / "bad.zone"
    zonefile.write_text(DESCENDANTS_FIRST + "home IN CNAME ns1\n")
    result = server.admin("zone", "import", str(zonefile), "--zone", "late.example")
    assert result.returncode != 0
    assert result.stderr == (
        f"homeport: error: {zonefile}:10: CNAME and other data at home.late.example."
        " (RFC 1034 §3.6.2) (see line 6)\n"
    )
    assert server.dig("home.late.example") == []  # nothing was imported


def test_cname_to_the_apex_answers_the_soa_over_udp_and_tcp(
    server: ServerProc, tmp_path: Path
) -> None:
    # NSD and BIND put the apex SOA in the answer, after the CNAME
    zonefile = tmp_path / "late.zone"
    zonefile.write_text(DESCENDANTS_FIRST + "www IN CNAME @\n")
    assert server.admin("zone", "import", str(zonefile), "--zone", "late.example").returncode == 0
    deadline = time.monotonic() + 5
    while not server.dig("ns1.late.example") and time.monotonic() < deadline:
        time.sleep(0.05)
    soa = "ns1.late.example. hostmaster.late.example. 2024010101 3600 600 1209600 60"
    for transport in ((), ("+tcp",)):
        assert server.dig("www.late.example", "SOA", *transport) == sorted(["late.example.", soa])


def test_restart_serves_what_was_acknowledged(data_dir: Path) -> None:
    assert admin(data_dir, "zone", "add", "dyn.example.net")[0] == 0
    srv = start_server(data_dir, "--limits", "off")
    try:
        secret = srv.add_host("r.dyn.example.net")
        _, body, _ = get(
            srv.http,
            "/nic/update?hostname=r.dyn.example.net&myip=192.0.2.77,2001:db8::77",
            auth=("r.dyn.example.net", secret),
        )
        assert body.startswith("good")
        serial = srv.dig("dyn.example.net", "SOA")[0].split()[2]
    finally:
        stop_server(srv)
    srv = start_server(data_dir, "--limits", "off")
    try:
        assert srv.dig("r.dyn.example.net") == ["192.0.2.77"]
        assert srv.dig("r.dyn.example.net", "AAAA") == ["2001:db8::77"]
        assert srv.dig("dyn.example.net", "SOA")[0].split()[2] == serial
    finally:
        stop_server(srv)
