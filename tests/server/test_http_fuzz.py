"""Malformed requests to the HTTP API: never a 5xx, every rejection a dyndns2 code or a 4xx."""

from __future__ import annotations

import base64
import http.client
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, add_hosts, start_server, stop_server

HOST = "fuzz.dyn.example.net"
DYNDNS_WORDS = {
    "good",
    "nochg",
    "badauth",
    "notfqdn",
    "nohost",
    "numhost",
    "abuse",
    "badagent",
    "dnserr",
    "911",
    "!donator",
    "badip",
}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProc, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    assert (
        run_homeport("server", "zone", "add", "dyn.example.net", "--data", str(data)).returncode
        == 0
    )
    secret = add_hosts(data, [HOST])[HOST]
    srv = start_server(data, "--limits", "off")
    try:
        yield srv, secret
    finally:
        stop_server(srv)


PARAM_NAMES = st.sampled_from(
    [
        "hostname",
        "myip",
        "myipv6",
        "myipv4",
        "ip",
        "ipv6",
        "offline",
        "wildcard",
        "domains",
        "token",
        "txt",
        "clear",
        "verbose",
        "format",
        "x",
    ]
)
VALUES = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "",
            ",",
            "1.2.3.4",
            "::1",
            "2001:db8::/64",
            "300.1.1.1",
            "yes",
            HOST,
            HOST + "," * 30,
            "a" * 300,
            "%00",
            "1.2.3.4," * 25,
            "fuzz",
            "true",
        ]
    ),
)


def request(srv: ServerProc, path: str, headers: dict[str, str]) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*srv.http, timeout=10)
    try:
        conn.putrequest("GET", path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(["/nic/update", "/update", "/checkip", "/v3/update"]),
    params=st.lists(st.tuples(PARAM_NAMES, VALUES), max_size=6),
    auth=st.one_of(
        st.none(),
        # Anything a header can carry (latin-1, no line breaks: http.client refuses those).
        st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=60),
        st.tuples(st.sampled_from([HOST, "nobody", "", ":"]), st.text(max_size=40)).map(
            lambda t: "Basic " + base64.b64encode(f"{t[0]}:{t[1]}".encode()).decode()
        ),
    ),
    real_secret=st.booleans(),
)
def test_api_survives_malformed_input(
    fuzz_server: tuple[ServerProc, str],
    path: str,
    params: list[tuple[str, str]],
    auth: str | None,
    real_secret: bool,
) -> None:
    srv, secret = fuzz_server
    if real_secret:
        auth = "Basic " + base64.b64encode(f"{HOST}:{secret}".encode()).decode()
    query = "&".join(f"{quote(k)}={quote(v, safe=',:')}" for k, v in params)
    headers = {"Authorization": auth} if auth is not None else {}
    status, body = request(srv, f"{path}?{query}", headers)
    assert status < 500, (status, body)
    if path in ("/nic/update", "/v3/update") and status == 200:
        for line in body.splitlines():
            assert line.split(" ", 1)[0] in DYNDNS_WORDS, body
    if path == "/update" and status == 200:
        assert body.splitlines()[0] in {"OK", "KO"}


def test_server_still_healthy_after_fuzz(fuzz_server: tuple[ServerProc, str]) -> None:
    srv, _ = fuzz_server
    assert request(srv, "/healthz", {}) == (200, "ok\n")
