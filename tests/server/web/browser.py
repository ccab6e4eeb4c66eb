"""Headless Chromium from Debian's packages, driven by selenium, for the dashboard's tests.

Never any traffic off this machine: Chromium's background services are off, and its
resolver maps every name to nothing (the tests use 127.0.0.1 literals). selenium is given
the driver and the browser explicitly, so Selenium Manager never looks for (or downloads)
either.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SESSION_COOKIE = "__Host-homeport-session"

FLAGS = [
    "--headless",
    "--no-sandbox",  # tests run as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    # No name resolves but 127.0.0.1: nothing can leave by accident.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

needs_chromium = pytest.mark.skipif(
    not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)),
    reason="needs Debian's chromium and chromium-driver (scripts/debian-test-packages.txt)",
)


@contextlib.contextmanager
def chromium(profile: Path, *extra_flags: str) -> Iterator[WebDriver]:
    """A fresh headless Chromium (its own --user-data-dir) under selenium's control."""
    # Selenium Manager's usage statistics: off (and it is never run: paths are given).
    os.environ["SE_AVOID_STATS"] = "true"

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*FLAGS, *extra_flags, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: WebDriver, tmp_path: Path, name: str) -> Path:
    """Save a screenshot into the test's tmp dir and, with HOMEPORT_SCREENSHOTS=DIR, there."""
    path = tmp_path / f"{name}.png"
    assert driver.save_screenshot(str(path)), name
    extra = os.environ.get("HOMEPORT_SCREENSHOTS")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / path.name)
    return path


# A page load waited for (never a duration asserted): generous for a loaded 2-core machine.
PAGE_WAIT = 30


def follow(driver: WebDriver, element: WebElement) -> None:
    """Click ``element`` (a submit button or a link) and wait until its page is replaced."""
    element.click()
    WebDriverWait(driver, PAGE_WAIT).until(lambda _: _replaced(element))


def _replaced(element: WebElement) -> bool:
    """True once ``element`` has left the page. selenium's staleness_of knows only the
    stale-element error; asked mid-navigation, chromedriver may instead answer "Node with
    given id does not belong to the document" (seen once in CI), which says the same."""
    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise
    return False


def sign_in(driver: WebDriver, base: str, name: str, password: str) -> None:
    driver.get(base + "/dash/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    follow(driver, driver.find_element(By.ID, "sign-in"))


def text(driver: WebDriver, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def page_csrf(driver: WebDriver) -> str:
    """The CSRF token of the page shown (as a form on it would send it)."""
    source = str(driver.page_source)
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', source)
    assert match, "no CSRF field on the page"
    return match.group(1)


def post(
    base: str, path: str, fields: dict[str, str], cookie: str | None, origin: str | None = None
) -> tuple[int, str]:
    """A form POST outside the browser (a hand-made request, cookie and token as given)."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if cookie is not None:
        headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
    if origin is not None:
        headers["Origin"] = origin
    try:
        conn.request("POST", path, urlencode(fields), headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()
