"""A tiny blocking HTTP GET for tests, exact about what it sends."""

from __future__ import annotations

import base64
import http.client


def get(
    server: tuple[str, int],
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, str, dict[str, str]]:
    conn = http.client.HTTPConnection(server[0], server[1], timeout=timeout)
    sent = {"User-Agent": "homeport-tests - test - 1.0", **(headers or {})}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        sent["Authorization"] = f"Basic {token}"
    try:
        conn.request("GET", path, headers=sent)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, body, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()
