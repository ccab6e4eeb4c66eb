"""The dashboard in a real browser (Debian's headless Chromium) against a real server.

The dashboard story: sign in, add a host, copy its ddclient snippet, run real ddclient
3.10 with it, see the address in the host list and its history, rotate the secret and see
ddclient get ``badauth``. Then the attacks: another origin's form, ``<script>`` in
user-controlled strings, another account's host names guessed in URLs.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.wait import WebDriverWait

from tests.fakes.tls import make_certificate
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.test_peers import run_ddclient
from tests.server.web.browser import (
    PAGE_WAIT,
    SESSION_COOKIE,
    chromium,
    follow,
    needs_chromium,
    page_csrf,
    post,
    screenshot,
    sign_in,
    text,
)

pytestmark = [pytest.mark.peer, needs_chromium]

ZONE = "dyn.example.net"
HOST = f"myhome.{ZONE}"
PASSWORD = "correct horse battery staple"


def run_axe(driver: WebDriver) -> dict[str, list[dict[str, object]]]:
    """Inject the axe-core that axe-selenium-python ships and run all its rules on the page.

    Injected by WebDriver, not by the page: the page's CSP (no script) stays as it is.
    """
    import axe_selenium_python

    package = Path(axe_selenium_python.__file__).parent
    script = next(package.rglob("axe.min.js"))
    driver.execute_script(script.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, (err, r) => done(err ? {error: String(err)} : r));"
    )
    assert isinstance(result, dict)
    assert "error" not in result, result
    return result


def add_user(server: ServerProc, name: str, password: str = PASSWORD) -> None:
    result = server.admin("user", "add", name, "--password-stdin", input=password + "\n")
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def shared_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One Chromium for the module (starting one costs seconds on a loaded machine)."""
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture
def browser(shared_browser: WebDriver) -> WebDriver:
    """The module's Chromium with no cookies: each test starts signed out (cookies do not
    tell ports apart, and each test's server has its own)."""
    shared_browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    shared_browser.get("about:blank")
    return shared_browser


def hosts_json(server: ServerProc) -> dict[str, dict[str, object]]:
    rows = server.admin_json("host", "list")
    assert isinstance(rows, list)
    return {str(r["host"]): r for r in rows}


def add_host_in_browser(driver: WebDriver, base: str, label: str) -> str:
    """Add ``label`` in the dashboard; returns the secret the page shows once."""
    driver.get(base + "/dash/hosts")
    driver.find_element(By.ID, "label").send_keys(label)
    follow(driver, driver.find_element(By.ID, "add"))
    return text(driver, "secret")


def test_sign_in_add_host_ddclient_history_and_rotation(
    server: ServerProc, browser: WebDriver, tmp_path: Path
) -> None:
    # checkip sees loopback here: only a zone that allows private addresses publishes it.
    assert server.admin("zone", "set", ZONE, "--allow-private").returncode == 0
    add_user(server, "alice")
    base = server.url

    sign_in(browser, base, "alice", PASSWORD)
    assert browser.current_url == base + "/dash/hosts"
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
    screenshot(browser, tmp_path, "hosts-empty")

    secret = add_host_in_browser(browser, base, "myhome")
    assert hosts_json(server)[HOST]["owner"] == "alice"
    screenshot(browser, tmp_path, "host-new-secret")
    # Copy the ddclient snippet as the page shows it, and use it unchanged.
    snippet = text(browser, "snippet-ddclient")
    assert f"password='{secret}'" in snippet
    conf = tmp_path / "ddclient.conf"
    conf.write_text(snippet + "\n")
    conf.chmod(0o600)
    output = run_ddclient(conf, tmp_path / "ddclient.cache")
    assert f"SUCCESS:  updating {HOST}: good: IP address set to 127.0.0.1" in output, output
    assert server.dig(HOST) == ["127.0.0.1"]

    browser.get(base + "/dash/hosts")
    row = browser.find_element(By.ID, "hosts").text
    assert HOST in row
    assert "127.0.0.1" in row
    assert "ddclient" in row  # the client's User-Agent
    screenshot(browser, tmp_path, "hosts-updated")
    follow(browser, browser.find_element(By.LINK_TEXT, HOST))
    assert text(browser, "ipv4") == "127.0.0.1"
    history = browser.find_element(By.ID, "history").text
    assert "127.0.0.1" in history
    assert "YOUR-SECRET" in text(browser, "snippet-ddclient")  # the secret is shown once only
    screenshot(browser, tmp_path, "host-history")

    follow(browser, browser.find_element(By.ID, "rotate"))
    new_secret = text(browser, "secret")
    assert new_secret != secret
    output = run_ddclient(conf, tmp_path / "ddclient-after.cache")
    assert "badauth" in output, output
    # The new snippet works.
    conf.write_text(text(browser, "snippet-ddclient") + "\n")
    output = run_ddclient(conf, tmp_path / "ddclient-new.cache")
    assert "nochg" in output or "good" in output, output
    assert secret not in "".join(server.output)
    assert new_secret not in "".join(server.output)
    browser.get(f"{base}/dash/hosts/{HOST}")
    assert text(browser, "results") == "good 1, nochg 1, fault 0"  # badauth is no host's

    follow(browser, browser.find_element(By.ID, "remove"))
    assert browser.current_url == base + "/dash/hosts"
    assert HOST not in hosts_json(server)
    assert server.dig(HOST) == []

    follow(browser, browser.find_element(By.XPATH, "//button[text()='Sign out']"))
    assert browser.current_url == base + "/dash/login"
    browser.get(base + "/dash/hosts")
    assert browser.current_url == base + "/dash/login"


class _AttackerPage(http.server.BaseHTTPRequestHandler):
    """Another origin (another port): a page whose forms post to the dashboard by themselves."""

    target = ""
    pages: dict[str, str] = {}  # noqa: RUF012 (set per test before serving)

    def do_GET(self) -> None:
        body = self.pages.get(self.path, "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _autosubmit(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
    return (
        f'<html><body><form id="f" method="post" action="{action}">{inputs}</form>'
        "<script>document.getElementById('f').submit()</script></body></html>"
    )


@pytest.fixture
def attacker() -> Iterator[tuple[str, dict[str, str]]]:
    pages: dict[str, str] = {}
    handler = type("Handler", (_AttackerPage,), {"pages": pages})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", pages
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_another_origin_cannot_change_anything(
    server: ServerProc, browser: WebDriver, attacker: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    add_user(server, "alice")
    base = server.url
    sign_in(browser, base, "alice", PASSWORD)
    secret = add_host_in_browser(browser, base, "myhome")
    evil, pages = attacker
    # Same host, another port: the *same site*, so the SameSite=Strict cookie goes along.
    pages["/remove"] = _autosubmit(f"{base}/dash/hosts/{HOST}/remove", {})
    pages["/add"] = _autosubmit(f"{base}/dash/hosts", {"label": "evil", "zone": ZONE})
    pages["/rotate"] = _autosubmit(f"{base}/dash/hosts/{HOST}/rotate", {"csrf": "0" * 64})
    for page in ("/remove", "/add", "/rotate"):
        browser.get(evil + page)
        # The page submits itself: the browser lands on the dashboard's refusal (the
        # cookie was sent along, the form refused).
        WebDriverWait(browser, PAGE_WAIT).until(lambda b: b.current_url.startswith(base))
        assert "came from another site" in browser.page_source, page
    screenshot(browser, tmp_path, "csrf-refused")
    hosts = hosts_json(server)
    assert set(hosts) == {HOST}
    assert server.dig(HOST) == []
    # The secret still works: nothing was rotated.
    status, body = _nic_update(server, HOST, secret, "192.0.2.7")
    assert (status, body) == (200, "good 192.0.2.7")


def _nic_update(
    server: ServerProc,
    login: str,
    password: str,
    myip: str,
    agent: str = "test/1.0",
    hostname: str | None = None,
) -> tuple[int, str]:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    auth = base64.b64encode(f"{login}:{password}".encode()).decode()
    try:
        conn.request(
            "GET",
            f"/nic/update?hostname={hostname or login}&myip={myip}",
            headers={"Authorization": f"Basic {auth}", "User-Agent": agent},
        )
        response = conn.getresponse()
        return response.status, response.read().decode().strip()
    finally:
        conn.close()


def test_script_in_user_strings_is_shown_as_text(
    server: ServerProc, browser: WebDriver, tmp_path: Path
) -> None:
    add_user(server, "alice")
    base = server.url
    sign_in(browser, base, "alice", PASSWORD)
    secret = add_host_in_browser(browser, base, "myhome")
    txt = "<script>document.title='owned-txt'</script><img src=x>"
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    query = urllib.parse.urlencode({"domains": "myhome", "token": secret, "txt": txt})
    conn.request("GET", f"/update?{query}")
    assert conn.getresponse().read() == b"OK"
    conn.close()
    # The client shown is the last changing update's: this one.
    agent = "<script>document.title='owned-agent'</script>"
    assert _nic_update(server, HOST, secret, "192.0.2.8", agent=agent) == (200, "good 192.0.2.8")

    browser.get(base + "/dash/hosts")
    row = browser.find_element(By.ID, "hosts").text
    assert agent in row
    assert txt in row
    browser.get(f"{base}/dash/hosts/{HOST}")
    assert text(browser, "agent") == agent
    assert text(browser, "txt") == txt
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert browser.find_elements(By.TAG_NAME, "img") == []
    assert "owned" not in browser.title
    screenshot(browser, tmp_path, "host-hostile-strings")

    # A host label: refused, and the refusal shows it as text.
    browser.get(base + "/dash/hosts")
    label = "<script>document.title='owned-label'</script>"
    browser.find_element(By.ID, "label").send_keys(label)
    follow(browser, browser.find_element(By.ID, "add"))
    assert label in text(browser, "error")
    assert browser.find_elements(By.TAG_NAME, "script") == []
    assert "owned" not in browser.title


def test_a_user_cannot_see_or_touch_another_users_hosts(
    server: ServerProc, browser: WebDriver
) -> None:
    add_user(server, "alice")
    add_user(server, "bob")
    bob_secret = server.add_host(f"bobs.{ZONE}", "--user", "bob")
    base = server.url
    sign_in(browser, base, "alice", PASSWORD)
    browser.get(base + "/dash/hosts")
    assert "bobs" not in browser.page_source
    # Guessed in the URL: the same answer as a name that does not exist.
    browser.get(f"{base}/dash/hosts/bobs.{ZONE}")
    assert browser.find_element(By.TAG_NAME, "body").text == "no such host"
    # Alice's own valid session and CSRF token, posted at bob's host by hand.
    browser.get(base + "/dash/hosts")
    csrf = page_csrf(browser)
    cookie = browser.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    for action in ("rotate", "remove"):
        status, _ = post(
            base, f"/dash/hosts/bobs.{ZONE}/{action}", {"csrf": csrf}, str(cookie["value"])
        )
        assert status == 404, action
    assert f"bobs.{ZONE}" in hosts_json(server)
    assert _nic_update(server, f"bobs.{ZONE}", bob_secret, "192.0.2.9") == (200, "good 192.0.2.9")


def test_password_change_signs_out_elsewhere_and_reaches_the_api(
    server: ServerProc, browser: WebDriver, tmp_path: Path
) -> None:
    add_user(server, "alice")
    base = server.url
    sign_in(browser, base, "alice", PASSWORD)
    # A second browser session of the same account, by hand.
    status, _, other = _login(base, "alice", PASSWORD)
    assert status == 303
    browser.get(base + "/dash/account")
    new = "a brand new passphrase"
    for field, value in (("current", "wrong password"), ("new", new), ("again", new)):
        browser.find_element(By.ID, field).send_keys(value)
    follow(browser, browser.find_element(By.ID, "change"))
    assert text(browser, "error") == "The current password is wrong."
    for field, value in (("current", PASSWORD), ("new", new), ("again", new)):
        browser.find_element(By.ID, field).send_keys(value)
    follow(browser, browser.find_element(By.ID, "change"))
    assert "Password changed" in text(browser, "done")
    screenshot(browser, tmp_path, "account-changed")
    # This browser stays signed in; the other session is gone.
    browser.get(base + "/dash/hosts")
    assert browser.current_url == base + "/dash/hosts"
    assert _get_status(base, "/dash/hosts", other) == 303
    # The API takes the new password at once, not the old one.
    server.add_host(f"pw.{ZONE}", "--user", "alice")
    assert _nic_update(server, "alice", PASSWORD, "192.0.2.3", hostname=f"pw.{ZONE}") == (
        200,
        "badauth",
    )
    assert _nic_update(server, "alice", new, "192.0.2.3", hostname=f"pw.{ZONE}") == (
        200,
        "good 192.0.2.3",
    )
    assert _login(base, "alice", PASSWORD)[0] == 401
    assert _login(base, "alice", new)[0] == 303


def test_a_new_api_token_replaces_the_old(server: ServerProc, browser: WebDriver) -> None:
    result = server.admin("user", "add", "alice", "--password-stdin", "--json", input=PASSWORD)
    old = json.loads(result.stdout)["token"]
    server.add_host(HOST, "--user", "alice")
    base = server.url
    sign_in(browser, base, "alice", PASSWORD)
    browser.get(base + "/dash/account")
    follow(browser, browser.find_element(By.ID, "new-token"))
    token = text(browser, "token")
    assert token != old
    assert _token_update(server, old, "192.0.2.4") == "KO"
    assert _token_update(server, token, "192.0.2.4") == "OK"
    browser.get(base + "/dash/account")
    assert browser.find_elements(By.ID, "token") == []  # shown once


def _token_update(server: ServerProc, token: str, ip: str) -> str:
    conn = http.client.HTTPConnection(*server.http, timeout=30)
    query = urllib.parse.urlencode({"domains": "myhome", "token": token, "ip": ip})
    try:
        conn.request("GET", f"/update?{query}")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def _get_status(base: str, path: str, session: str) -> int:
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": f"{SESSION_COOKIE}={session}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_failed_sign_ins_share_the_apis_failure_budget(limited_server: ServerProc) -> None:
    """Wrong passwords on the dashboard spend the same per-name budget as dyndns2's."""
    add_user(limited_server, "alice")
    base = limited_server.url
    statuses = []
    for _ in range(12):
        status, _, _ = _login(base, "alice", "wrong")
        statuses.append(status)
    assert statuses[0] == 401
    assert statuses[-1] == 429, statuses
    # Verified failures are audited; throttled ones write nothing (no flood of rows).
    audit = limited_server.admin_json("audit", "--limit", "100")
    assert isinstance(audit, list)
    failed = [e for e in audit if e["action"] == "sign-in failed"]
    assert len(failed) == statuses.count(401), statuses
    # The API sees the same budget spent: even the right password is not verified now.
    status, body = _nic_update(limited_server, "alice", PASSWORD, "192.0.2.1")
    assert (status, body) == (429, "911"), body
    assert "Too many failed sign-ins" in _login(base, "alice", PASSWORD)[1]


def _login(base: str, name: str, password: str) -> tuple[int, str, str]:
    """GET the form (its cookie and token), then POST it: what a browser does.

    Returns the status, the page and the session id set (if any)."""
    parts = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request("GET", "/dash/login")
        response = conn.getresponse()
        page = response.read().decode()
        cookie = response.getheader("Set-Cookie", "").split(";", 1)[0]
        csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        body = urllib.parse.urlencode({"csrf": csrf, "name": name, "password": password})
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


def test_pages_pass_an_accessibility_check(
    server: ServerProc, browser: WebDriver, tmp_path: Path
) -> None:
    """axe-core (bundled by axe-selenium-python) on each main page: labels, contrast, ..."""
    add_user(server, "alice")
    base = server.url
    browser.get(base + "/dash/login")
    pages = {"login": base + "/dash/login"}
    sign_in(browser, base, "alice", PASSWORD)
    add_host_in_browser(browser, base, "myhome")
    pages["host-new"] = browser.current_url
    pages["hosts"] = base + "/dash/hosts"
    pages["host"] = f"{base}/dash/hosts/{HOST}"
    pages["account"] = base + "/dash/account"
    report = {}
    for name, url in pages.items():
        if name != "host-new":
            browser.get(url)
        result = run_axe(browser)
        report[name] = result["violations"]
        screenshot(browser, tmp_path, f"a11y-{name}")
        assert result["passes"], name  # the checker ran and checked something
        checked = {rule["id"] for rule in result["passes"]}
        assert "color-contrast" in checked, name
    (tmp_path / "axe.json").write_text(json.dumps(report, indent=2))
    assert all(not v for v in report.values()), json.dumps(report, indent=2)[:4000]


def test_over_the_https_listener(browser: WebDriver, data_dir: Path, tmp_path: Path) -> None:
    """The dashboard where it is meant to be: HTTPS; the snippets then say ssl=yes."""
    cert, key = make_certificate(tmp_path)
    conf = tmp_path / "server.toml"
    conf.write_text(f'[server]\nhttps = ["127.0.0.1:0"]\ntls_cert = "{cert}"\ntls_key = "{key}"\n')
    assert run_homeport("server", "zone", "add", ZONE, "--data", str(data_dir)).returncode == 0
    srv = start_server(data_dir, "--limits", "off", "--config", str(conf))
    try:
        add_user(srv, "alice")
        ready = json.loads(next(line for line in srv.output if line.startswith("ready "))[6:])
        base = "https://" + ready["https"][0]
        # The throw-away certificate is trusted by this browser alone, for this test alone.
        browser.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": True})
        sign_in(browser, base, "alice", PASSWORD)
        assert browser.current_url == base + "/dash/hosts"
        secret = add_host_in_browser(browser, base, "myhome")
        snippet = text(browser, "snippet-ddclient")
        assert "ssl=yes" in snippet
        assert f"use=web, web={base}/checkip, web-skip='IP Address'" in snippet
        assert f"password='{secret}'" in snippet
        screenshot(browser, tmp_path, "https-host")
    finally:
        browser.execute_cdp_cmd("Security.setIgnoreCertificateErrors", {"ignore": False})
        stop_server(srv)
