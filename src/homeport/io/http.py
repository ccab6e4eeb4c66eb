"""A tiny HTTP/1.1 client on asyncio streams, for checkip polls and webhooks.

The idle agent's memory is a benchmark (<= 2x ddclient's RSS) and aiohttp
alone costs ~20 MB; a checkip poll needs one GET. This sends one request with
``Connection: close``, feeds the answer to :mod:`homeport.proto.http1` (which
knows Content-Length, chunked and read-to-EOF framing, and the size caps) and
can pin the address family, which is how an IPv4 and an IPv6
detection reach the same dual-stack service separately. ``ssl`` is imported
only for https URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from urllib.parse import urlsplit

from homeport import __version__
from homeport.errors import TransportError, UsageError
from homeport.proto import http1
from homeport.proto.http1 import Response

USER_AGENT = f"homeport/{__version__} (+https://github.com/homeport)"
# How much to ask the socket for at a time; answers are usually one read.
READ_SIZE = 64 * 1024


async def request(
    method: str,
    url: str,
    *,
    time_limit: float,
    headers: tuple[tuple[str, str], ...] = (),
    body: bytes = b"",
    family: int | None = None,
    local_address: str | None = None,
) -> Response:
    """Send one request; TransportError for network trouble, RemoteProtocolError for garbage.

    ``local_address`` pins the source address (the doctor speaks from the IPv6 address
    the agent publishes, not from whichever one the kernel would choose)."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)  # ValueError: bad port
    except ValueError:
        port = 0
    if parts.scheme not in {"http", "https"} or not parts.hostname or not port:
        # Only the scheme and host: a webhook's path, query or user part often is its token.
        shown = f"scheme {parts.scheme[:20]!r}, host {(parts.hostname or '')[:100]!r}"
        raise UsageError(f"not an http(s) URL ({shown})")
    host = parts.hostname
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sock_family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(family or 0, socket.AF_UNSPEC)
    context = None
    if parts.scheme == "https":
        import ssl

        context = ssl.create_default_context()
    host_header = f"[{host}]" if ":" in host else host
    if parts.port:
        host_header += f":{parts.port}"
    if not http1.header_value(headers, "user-agent"):
        headers = (("User-Agent", USER_AGENT), *headers)
    wire = http1.encode_request(method, target, host=host_header, headers=headers, body=body)
    try:
        async with asyncio.timeout(time_limit):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=context,
                family=sock_family,
                server_hostname=host if context else None,
                local_addr=(local_address, 0) if local_address else None,
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
    parser = http1.ResponseParser()
    while data := await reader.read(READ_SIZE):
        response = parser.feed(data)
        if response is not None:
            return response
    return parser.feed_eof()
