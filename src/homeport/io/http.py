"""A tiny HTTP/1.1 client on asyncio streams, for checkip polls and webhooks.

The idle agent's memory is a benchmark (<= 2x ddclient's RSS) and aiohttp
alone costs ~20 MB; a checkip poll needs one GET. This sends one request with
``Connection: close``, reads the whole answer (Content-Length, chunked, or to
EOF; capped) and can pin the address family, which is how an IPv4 and an IPv6
detection reach the same dual-stack service separately. ``ssl`` is imported
only for https URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from homeport import __version__
from homeport.errors import RemoteProtocolError, TransportError, UsageError

USER_AGENT = f"homeport/{__version__} (+https://github.com/homeport)"
# Checkip answers are a few hundred bytes; anything near this is not a checkip answer.
MAX_BODY = 256 * 1024
MAX_HEADER = 64 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), "")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


async def request(
    method: str,
    url: str,
    *,
    time_limit: float,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    family: int | None = None,
) -> Response:
    """Send one request; TransportError for network trouble, RemoteProtocolError for garbage."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UsageError(f"not an http(s) URL: {url[:100]!r}")
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock_family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
    context = None
    if parts.scheme == "https":
        import ssl

        context = ssl.create_default_context()
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    if not any(k.lower() == "user-agent" for k, _ in headers):
        lines.append(f"User-Agent: {USER_AGENT}")
    lines += [f"{k}: {v}" for k, v in headers] + ["Connection: close"]
    if body or method in {"POST", "PUT"}:
        lines.append(f"Content-Length: {len(body)}")
    wire = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    try:
        async with asyncio.timeout(time_limit):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=context,
                family=sock_family,
                server_hostname=host if context else None,
            )
            try:
                writer.write(wire)
                await writer.drain()
                return await _read_response(reader)
            finally:
                writer.close()
                # The peer may reset after answering; we have what we came for.
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except TimeoutError as exc:
        raise TransportError(f"{host}: no answer within {time_limit:g} s") from exc
    except OSError as exc:  # includes ssl.SSLError and socket.gaierror
        raise TransportError(f"{host}: {exc.strerror or exc}") from exc


async def _read_response(reader: asyncio.StreamReader) -> Response:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise RemoteProtocolError("connection closed before an HTTP response") from exc
    except asyncio.LimitOverrunError as exc:
        raise RemoteProtocolError("HTTP response header too long") from exc
    if len(head) > MAX_HEADER:
        raise RemoteProtocolError("HTTP response header too long")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    words = status_line.split(" ", 2)
    if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
        raise RemoteProtocolError(f"not an HTTP response: {status_line[:60]!r}")
    headers = tuple(
        (name.strip(), value.strip())
        for line in header_lines
        if ":" in line
        for name, value in [line.split(":", 1)]
    )
    response = Response(int(words[1]), headers, b"")
    if response.header("transfer-encoding").lower() == "chunked":
        data = await _read_chunked(reader)
    elif response.header("content-length").isdigit():
        length = int(response.header("content-length"))
        if length > MAX_BODY:
            raise RemoteProtocolError("HTTP response body too large")
        try:
            data = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise RemoteProtocolError("HTTP response body cut short") from exc
    else:
        data = await reader.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise RemoteProtocolError("HTTP response body too large")
    return Response(response.status, headers, data)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    data = b""
    while True:
        size_line = await reader.readline()
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise RemoteProtocolError("bad chunk size in HTTP response") from exc
        if size == 0:
            return data
        if len(data) + size > MAX_BODY:
            raise RemoteProtocolError("HTTP response body too large")
        try:
            data += await reader.readexactly(size + 2)
        except asyncio.IncompleteReadError as exc:
            raise RemoteProtocolError("HTTP response body cut short") from exc
        data = data[:-2]
