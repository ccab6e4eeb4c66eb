"""The dashboard's newer pages in Debian's headless Chromium, one browser and one server
for the module: scoped tokens, two-step sign-in, the admin pages, sign-up by invitation.
Each page is saved as a screenshot and checked by axe-core (labels, contrast, ...).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from homeport.core import totp
from tests.helpers import run_homeport
from tests.server.conftest import ServerProc, start_server, stop_server
from tests.server.web.browser import chromium, follow, needs_chromium, screenshot, sign_in, text
from tests.server.web.dash_http import PASSWORD, add_user, token_update
from tests.server.web.test_dashboard_browser import run_axe

pytestmark = [pytest.mark.peer, needs_chromium]

ZONE = "dyn.example.net"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screens")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProc]:
    data = tmp_path_factory.mktemp("data")
    result = run_homeport("server", "zone", "add", ZONE, "--data", str(data))
    assert result.returncode == 0, result.stderr
    server = start_server(data, "--limits", "off")
    try:
        add_user(server, "root", PASSWORD, "--admin")
        add_user(server, "alice")
        server.add_host(f"home.{ZONE}", "--user", "alice")
        server.add_host(f"nas.{ZONE}", "--user", "alice")
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def shared_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("profile")) as driver:
        yield driver


@pytest.fixture
def browser(shared_browser: WebDriver) -> WebDriver:
    """Signed out at the start of each test, whatever the one before left."""
    shared_browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    return shared_browser


def check_page(driver: WebDriver, shots: Path, name: str) -> None:
    """Screenshot, then axe-core: no violations, and contrast among the rules run."""
    screenshot(driver, shots, name)
    result = run_axe(driver)
    checked = {rule["id"] for rule in result["passes"]}  # type: ignore[index]
    assert "color-contrast" in checked, name
    assert not result["violations"], json.dumps(result["violations"], indent=2)[:4000]


def sign_out(driver: WebDriver) -> None:
    follow(driver, driver.find_element(By.XPATH, "//button[text()='Sign out']"))


def test_scoped_token_made_listed_and_revoked(
    srv: ServerProc, browser: WebDriver, shots: Path
) -> None:
    base = srv.url
    sign_in(browser, base, "alice", PASSWORD)
    browser.get(base + "/dash/tokens")
    check_page(browser, shots, "tokens-empty")
    browser.find_element(By.ID, "token-label").send_keys("<b>router</b>")
    browser.find_element(By.XPATH, f"//input[@name='host' and @value='home.{ZONE}']").click()
    browser.find_element(By.ID, "type-AAAA").click()  # A only (A and AAAA are preset)
    browser.find_element(By.ID, "subnets").send_keys("127.0.0.0/8")
    browser.find_element(By.ID, "days").send_keys("30")
    follow(browser, browser.find_element(By.ID, "make-token"))
    token = text(browser, "token")
    row = browser.find_element(By.ID, "tokens").text
    assert "<b>router</b>" in row  # the label as text
    assert f"home.{ZONE}" in row
    assert "127.0.0.0/8" in row
    check_page(browser, shots, "tokens-made")
    assert token_update(srv, domains="home", token=token, ip="192.0.2.10")[1] == "OK"
    assert token_update(srv, domains="nas", token=token, ip="192.0.2.10")[1] == "KO"
    browser.get(base + "/dash/tokens")
    assert token not in browser.page_source  # shown once
    follow(browser, browser.find_element(By.XPATH, "//button[text()='Revoke']"))
    assert browser.find_elements(By.ID, "tokens") == []
    assert token_update(srv, domains="home", token=token, ip="192.0.2.11")[1] == "KO"
    sign_out(browser)


def test_two_step_sign_in_in_the_browser(srv: ServerProc, browser: WebDriver, shots: Path) -> None:
    base = srv.url
    add_user(srv, "tina")
    sign_in(browser, base, "tina", PASSWORD)
    browser.get(base + "/dash/account")
    check_page(browser, shots, "account-totp-off")
    follow(browser, browser.find_element(By.ID, "totp-on"))
    secret = text(browser, "totp-secret")
    assert text(browser, "totp-uri").startswith("otpauth://totp/")
    check_page(browser, shots, "totp-enrol")
    key = totp.decode_key(secret)
    step = totp.time_step(time.time())  # the server takes it one step late too
    browser.find_element(By.ID, "totp-code").send_keys(totp.hotp(key, step))
    follow(browser, browser.find_element(By.ID, "totp-confirm"))
    assert text(browser, "done") == "Two-step sign-in is on."
    check_page(browser, shots, "account-totp-on")
    sign_out(browser)
    sign_in(browser, base, "tina", PASSWORD)  # no code
    assert "enter the code" in text(browser, "error")
    check_page(browser, shots, "login-needs-code")
    browser.find_element(By.ID, "name").send_keys("tina")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.ID, "code").send_keys(
        totp.hotp(key, max(step + 1, totp.time_step(time.time())))
    )
    follow(browser, browser.find_element(By.ID, "sign-in"))
    assert browser.current_url == base + "/dash/hosts"
    sign_out(browser)


def test_admin_pages_and_sign_up_by_invitation(
    srv: ServerProc, browser: WebDriver, shots: Path
) -> None:
    base = srv.url
    dns = f"{srv.dns[0]}:{srv.dns[1]}"
    assert srv.admin("secondary", "add", "sec1", "--address", dns).returncode == 0
    sign_in(browser, base, "root", PASSWORD)
    follow(browser, browser.find_element(By.LINK_TEXT, "Admin"))
    assert browser.current_url == base + "/dash/admin/zones"
    check_page(browser, shots, "admin-zones")
    browser.get(base + "/dash/admin/users")
    check_page(browser, shots, "admin-users")
    browser.get(base + "/dash/admin/secondaries")
    assert "sec1." in browser.find_element(By.ID, "secondaries").text
    check_page(browser, shots, "admin-secondaries")
    browser.get(base + "/dash/admin/invitations")
    follow(browser, browser.find_element(By.ID, "invite"))
    link = text(browser, "invitation-link")
    check_page(browser, shots, "admin-invitations")
    sign_out(browser)

    browser.get(link)
    check_page(browser, shots, "signup")
    for field, value in (("name", "zoe"), ("password", PASSWORD), ("again", PASSWORD + "x")):
        browser.find_element(By.ID, field).send_keys(value)
    follow(browser, browser.find_element(By.ID, "sign-up"))
    assert text(browser, "error") == "The two passwords differ."  # and the form again
    for field, value in (("name", "zoe"), ("password", PASSWORD), ("again", PASSWORD)):
        browser.find_element(By.ID, field).send_keys(value)
    follow(browser, browser.find_element(By.ID, "sign-up"))
    assert "zoe is ready" in text(browser, "done")
    check_page(browser, shots, "signed-up")
    browser.get(link)  # used: the link is dead
    assert "unknown, used or expired" in browser.page_source

    sign_in(browser, base, "root", PASSWORD)
    browser.get(base + "/dash/admin/audit")
    log = browser.find_element(By.ID, "audit").text
    for action in ("user signup", "sign-in", "sign-out", "invitation add"):
        assert action in log, action
    check_page(browser, shots, "admin-audit")
    sign_out(browser)
