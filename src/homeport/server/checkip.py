"""checkip answers: dyndns's HTML (what ddclient's ``web-skip`` expects), text and JSON."""

from __future__ import annotations

import json

# The exact page checkip.dyndns.com serves, so every client that
# scrapes it scrapes us.
HTML_TEMPLATE = (
    "<html><head><title>Current IP Check</title></head>"
    "<body>Current IP Address: {ip}</body></html>\r\n"
)

FORMATS = ("html", "text", "json")


def choose_format(query_format: str | None, accept: str) -> str:
    if query_format in FORMATS:
        return query_format
    accept = accept.lower()
    if "application/json" in accept:
        return "json"
    if "text/plain" in accept and "text/html" not in accept:
        return "text"
    return "html"


def render(ip: str, fmt: str) -> tuple[str, str]:
    """(body, content type)."""
    if fmt == "json":
        return json.dumps({"ip": ip}) + "\n", "application/json"
    if fmt == "text":
        return ip + "\n", "text/plain"
    return HTML_TEMPLATE.format(ip=ip), "text/html"
