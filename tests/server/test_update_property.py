"""docs/architecture.md "Validate at the edge" as a property: accepted => served by DNS => survives
a restart.

Hypothesis draws requests over every parameter of both update APIs (dyndns2
``/nic/update`` and the token ``/update``) with values from the nasty end
(scoped, mapped, private, reserved addresses, lists, prefixes, TXT with
escapes, multi-octet characters, control characters, long text). Each runs
in-process through the real aiohttp app, service and SQLite store; after every
request the store task still runs and DNS serves exactly the stored state, the
state holds what an acknowledged request asked for, and a fresh service started
on the same database (a restart) serves the same.

The same generated values also go to a real ``homeport server run`` process
(fewer of them) in :func:`test_real_server_serves_what_it_acknowledged`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import quote

import aiohttp
import dns.message
import dns.rdatatype
import prometheus_client
import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from yarl import URL

from homeport.core.zone import Catalog
from homeport.server import auth
from homeport.server.admin import add_zone
from homeport.server.app import build_app
from homeport.server.config import ServerConfig
from homeport.server.context import ApiContext
from homeport.server.service import DdnsService
from homeport.server.store import AuditEntry, HostRow, Store
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server

FAST_TMP = "/dev/shm" if Path("/dev/shm").is_dir() else None
PUBLIC = "pub.dyn.example.net."
LAN = "nas.lan.example."
HOSTS = (PUBLIC, LAN)

# -- the values -----------------------------------------------------------------------

_IFACES = st.sampled_from(["eth0", "x", "1", "%", ""])
ADDRESS = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=6).flatmap(lambda a: _IFACES.map(lambda i: f"{a}%{i}")),
    st.ip_addresses(v=4).map(lambda a: f"::ffff:{a}"),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
    st.sampled_from(
        [
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
            "fc00::1",
            "64:ff9b::1",
            "192.0.2.1",
            "2001:db8::1",
            "2001:db8::/64",
            "300.1.1.1",
            "1.2.3",
            " 192.0.2.9 ",
        ]
    ),
    st.text(max_size=20),
)
ADDRESSES = st.one_of(ADDRESS, st.lists(ADDRESS, min_size=2, max_size=3).map(",".join))
TXT = st.one_of(
    st.text(max_size=300),
    st.text(st.sampled_from(["a", "é", "\\", '"', " ", ";", "\n", "\x00", "😀"]), max_size=600),
    st.sampled_from(
        ["line1\nline2", "é" * 200, "a" * 254 + "\\b", "x" * 1024, "x" * 1025, "", "%", "\t"]
    ),
)
FLAG = st.sampled_from(["true", "false", "TRUE", "yes", "no", "1", "", "NOCHG"])
HOSTNAME = st.sampled_from([PUBLIC.rstrip("."), LAN.rstrip("."), "nope.dyn.example.net", ""])

DYNDNS_PARAMS = st.dictionaries(
    st.sampled_from(
        ["myip", "myipv4", "myipv6", "ip", "ipv6", "offline", "wildcard", "mx", "system"]
    ),
    st.one_of(ADDRESSES, FLAG),
    max_size=4,
)
TOKEN_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "domains": HOSTNAME,
        "ip": ADDRESSES,
        "ipv6": ADDRESSES,
        "txt": TXT,
        "clear": FLAG,
        "verbose": FLAG,
    },
)


@dataclass(frozen=True)
class Call:
    api: str  # "dyndns2" | "token"
    host: str  # whose secret authenticates
    params: dict[str, str]

    def path(self, secret: str) -> str:
        params = dict(self.params)
        if self.api == "token":
            params["token"] = secret
            base = "/update"
        else:
            params.setdefault("hostname", self.host.rstrip("."))
            base = "/nic/update"
        query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())
        return f"{base}?{query}"


CALL = st.one_of(
    st.builds(Call, st.just("dyndns2"), st.sampled_from(HOSTS), DYNDNS_PARAMS),
    st.builds(Call, st.just("token"), st.sampled_from(HOSTS), TOKEN_PARAMS),
)


# -- what DNS serves ------------------------------------------------------------------


def served(catalog: Catalog, fqdn: str) -> tuple[list[str], list[str], list[bytes]]:
    out: dict[int, list[object]] = {}
    for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.TXT):
        query = dns.message.make_query(fqdn, rdtype)
        wire = catalog.respond(query.to_wire(), tcp=True)
        assert wire is not None
        response = dns.message.from_wire(wire)
        out[rdtype] = [rd for rrset in response.answer if rrset.rdtype == rdtype for rd in rrset]
    return (
        sorted(str(rd) for rd in out[dns.rdatatype.A]),
        sorted(str(rd) for rd in out[dns.rdatatype.AAAA]),
        sorted(b"".join(rd.strings) for rd in out[dns.rdatatype.TXT]),  # type: ignore[attr-defined]
    )


def expected(host: HostRow) -> tuple[list[str], list[str], list[bytes]]:
    online = not host.offline
    return (
        [host.ipv4] if host.ipv4 and online else [],
        [host.ipv6] if host.ipv6 and online else [],
        [host.txt.encode()] if host.txt is not None else [],
    )


# -- one in-process server ------------------------------------------------------------


@contextlib.asynccontextmanager
async def service_on(data: Path) -> AsyncIterator[DdnsService]:
    store = await Store.open(data)
    service = DdnsService(store, Catalog())
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
        await store.close()


async def provision(data: Path) -> dict[str, str]:
    store = await Store.open(data, announce=True)
    try:
        await add_zone(store, "dyn.example.net.", [], 60)
        await add_zone(store, "lan.example.", [], 60, allow_private=True)
        secrets = {}
        for fqdn in HOSTS:
            secrets[fqdn] = auth.new_secret()
            zone = fqdn.split(".", 1)[1]
            row = HostRow(fqdn, zone, None, auth.sha256_hex(secrets[fqdn]), created=time.time())
            await store.add_host(row, AuditEntry("test", "host add", fqdn, ""))
        return secrets
    finally:
        await store.close()


def acknowledged(call: Call, status: int, body: str) -> bool:
    if call.api == "token":
        return status == 200 and body.startswith("OK")
    return status == 200 and body.split(" ", 1)[0] in ("good", "nochg")


def check_acknowledged(call: Call, body: str, host: HostRow) -> None:
    """The stored state holds what an acknowledged request asked for."""
    if call.api == "dyndns2":
        words = body.split()
        published = words[1].split(",") if len(words) > 1 else []
        for address in published:
            stored = host.ipv6 if ":" in address else host.ipv4
            assert stored == str(ip_address(address)), (address, host)
        return
    params = call.params
    clear = params.get("clear", "").lower() == "true"
    if "txt" in params:
        assert host.txt == (None if clear else params["txt"])
    elif clear:
        assert (host.ipv4, host.ipv6) == (None, None)
    else:
        for key in ("ip", "ipv6"):
            if params.get(key, "").strip():
                address = ip_address(params[key].strip().strip("[]"))
                assert str(address) in (host.ipv4, host.ipv6)


async def run_calls(data: Path, secrets: dict[str, str], calls: list[Call]) -> None:
    config = ServerConfig.build({"data": data, "limits": {"enabled": False}})
    async with service_on(data) as service:
        api = ApiContext(service, config, prometheus_client.CollectorRegistry())
        async with TestClient(TestServer(build_app(api))) as client:
            for call in calls:
                secret = secrets[call.host]
                response = await client.get(
                    URL(call.path(secret), encoded=True),
                    headers={
                        "Authorization": aiohttp.encode_basic_auth(call.host.rstrip("."), secret)
                    },
                    timeout=aiohttp.ClientTimeout(total=10),
                )
                body = await response.text()
                assert response.status < 500, (call, response.status, body)
                assert service.running, call
                for fqdn in HOSTS:
                    row = await service.store.host(fqdn)
                    assert row is not None
                    assert served(service.catalog, fqdn) == expected(row), (call, row)
                ok = acknowledged(call, response.status, body)
                event(f"{call.api} {'acknowledged' if ok else 'refused'}")
                if ok:
                    row = await service.store.host(call.host)
                    assert row is not None
                    if call.api == "dyndns2" or call.params.get("domains", "") in (
                        "",
                        call.host.rstrip("."),
                    ):
                        check_acknowledged(call, body, row)
        before = {fqdn: served(service.catalog, fqdn) for fqdn in HOSTS}
    # A restart: a new service on the same database serves the same.
    async with service_on(data) as again:
        assert {fqdn: served(again.catalog, fqdn) for fqdn in HOSTS} == before


@pytest.fixture(scope="module")
def provisioned() -> Iterator[tuple[Path, dict[str, str]]]:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template"
        secrets = asyncio.run(provision(template))
        yield template, secrets


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(calls=st.lists(CALL, min_size=1, max_size=6))
def test_accepted_is_served_and_survives_restart(
    provisioned: tuple[Path, dict[str, str]], calls: list[Call]
) -> None:
    template, secrets = provisioned
    # Memory-backed when possible: SQLite's fsync per commit is not what is tested here.
    with tempfile.TemporaryDirectory(dir=FAST_TMP) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for item in template.iterdir():
            (data / item.name).write_bytes(item.read_bytes())
        asyncio.run(run_calls(data, secrets, calls))


# -- the same values against a real server process ------------------------------------


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[tuple[ServerProc, dict[str, str]]]:
    data = tmp_path / "data"
    for args in (("dyn.example.net",), ("lan.example", "--allow-private")):
        result = run_homeport("server", "zone", "add", *args, "--data", str(data))
        assert result.returncode == 0, result.stderr
    secrets = add_hosts(data, list(HOSTS))
    srv = start_server(data, "--limits", "off")
    try:
        yield srv, secrets
    finally:
        stop_server(srv)


def _dig_all(srv: ServerProc, fqdn: str) -> tuple[list[str], list[str], list[bytes]]:
    from tests.server.test_poison import txt_bytes

    return srv.dig(fqdn), srv.dig(fqdn, "AAAA"), txt_bytes(srv, fqdn)


def test_real_server_serves_what_it_acknowledged(
    real_server: tuple[ServerProc, dict[str, str]],
) -> None:
    from tests.server.httpget import get

    srv, secrets = real_server
    calls = _sample_calls(40)
    for call in calls:
        secret = secrets[call.host]
        status, body, _ = get(srv.http, call.path(secret), auth=(call.host.rstrip("."), secret))
        assert status < 500, (call, status, body)
        assert get(srv.http, "/healthz")[0] == 200, call
    before = {fqdn: _dig_all(srv, fqdn) for fqdn in HOSTS}
    stop_server(srv)
    assert srv.proc.returncode == 0
    again = start_server(srv.data, "--limits", "off")
    try:
        assert {fqdn: _dig_all(again, fqdn) for fqdn in HOSTS} == before
    finally:
        stop_server(again)


def _sample_calls(count: int) -> list[Call]:
    """``count`` calls drawn from the same strategy, reproducibly, plus the issue's attacks."""
    calls: list[Call] = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None)
    @given(CALL)
    def collect(call: Call) -> None:
        calls.append(call)

    collect()
    attacks = [
        Call("dyndns2", PUBLIC, {"myipv6": "fe80::1%eth0"}),
        Call("token", PUBLIC, {"ipv6": "fe80::1%x"}),
        Call("token", PUBLIC, {"txt": "line1\nline2"}),
        Call("token", PUBLIC, {"txt": "é" * 200}),
        Call("token", LAN, {"txt": "a" * 254 + "\\b"}),
        Call("token", LAN, {"ip": "10.1.2.3"}),
    ]
    return calls[:count] + attacks
