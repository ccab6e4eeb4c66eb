"""The dashboard over plain HTTP (no browser): sign in, read a page, post a form.

For checks that need no rendering (a restart, an API's answer to a token made on a
page); the browser tests drive the same pages in Chromium.
"""

from __future__ import annotations

import base64
import http.client
import re
import urllib.parse

from tests.server.conftest import ServerProc
from tests.server.web.browser import SESSION_COOKIE

PASSWORD = "correct horse battery staple"


def add_user(server: ServerProc, name: str, password: str = PASSWORD, *extra: str) -> None:
    result = server.admin("user", "add", name, "--password-stdin", *extra, input=password + "\n")
    assert result.returncode == 0, result.stderr


def _conn(base: str) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(base)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)


def login(base: str, name: str, password: str, code: str | None = None) -> tuple[int, str, str]:
    """GET the form (its cookie and token), then POST it: what a browser does.

    Returns the status, the page and the session id set (if any)."""
    conn = _conn(base)
    try:
        conn.request("GET", "/dash/login")
        response = conn.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        fields = {"csrf": csrf_of(page), "name": name, "password": password}
        if code is not None:
            fields["code"] = code
        body = urllib.parse.urlencode(fields)
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
        conn.request("POST", "/dash/login", body, headers)
        response = conn.getresponse()
        cookie = response.getheader("Set-Cookie", "")
        session = ""
        if cookie.startswith(SESSION_COOKIE + "="):
            session = cookie.split(";", 1)[0].split("=", 1)[1]
        return response.status, response.read().decode(), session
    finally:
        conn.close()


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "no CSRF field on the page"
    return match.group(1)


def get(base: str, path: str, session: str) -> tuple[int, str]:
    conn = _conn(base)
    try:
        conn.request("GET", path, headers={"Cookie": f"{SESSION_COOKIE}={session}"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


Fields = dict[str, str] | list[tuple[str, str]]


def post(base: str, path: str, session: str, fields: Fields) -> tuple[int, str]:
    """A form of this session posted as our own page posts it (Origin: the dashboard's)."""
    return post_from(base, path, session, fields, base)


def post_from(base: str, path: str, session: str, fields: Fields, origin: str) -> tuple[int, str]:
    """The same form as a page at ``origin`` would post it."""
    conn = _conn(base)
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"{SESSION_COOKIE}={session}",
            "Origin": origin,
        }
        conn.request("POST", path, urllib.parse.urlencode(fields), headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def nic_update(
    server: ServerProc,
    login_name: str,
    password: str,
    myip: str,
    agent: str = "test/1.0",
    hostname: str | None = None,
) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    auth = base64.b64encode(f"{login_name}:{password}".encode()).decode()
    try:
        conn.request(
            "GET",
            f"/nic/update?hostname={hostname or login_name}&myip={myip}",
            headers={"Authorization": f"Basic {auth}", "User-Agent": agent},
        )
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def token_update(server: ServerProc, **params: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    try:
        conn.request("GET", "/update?" + urllib.parse.urlencode(params))
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
