"""The HTTP client shell: it moves bytes between a socket and proto/http1, over real loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from homeport.errors import RemoteProtocolError, TransportError, UsageError
from homeport.io import http
from homeport.proto.http1 import Response


async def serve_once(pieces: Sequence[bytes]) -> tuple[asyncio.Server, str, list[bytes]]:
    """A raw server that reads one request head and writes ``pieces``, draining after each."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", heads


def fetch(pieces: Sequence[bytes], path: str = "/ip") -> tuple[Response, list[bytes]]:
    async def main() -> tuple[Response, list[bytes]]:
        server, base, heads = await serve_once(pieces)
        async with server:
            response = await http.request("GET", base + path, time_limit=10)
        return response, heads

    return asyncio.run(main())


def test_a_chunked_answer_written_in_pieces() -> None:
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [head + b"4\r\n192.", b"\r\n5\r\n0.2.1\r\n", b"9\r\n (public)\r\n", b"0\r\n\r\n"]
    response, [head] = fetch(pieces, "/ip?family=4")
    assert (response.status, response.text) == (200, "192.0.2.1 (public)")
    assert head.startswith(b"GET /ip?family=4 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nUser-Agent: homeport/" in head
    assert b"\r\nConnection: close\r\n" in head


def test_garbage_is_a_remote_protocol_error() -> None:
    with pytest.raises(RemoteProtocolError, match="not an HTTP response"):
        fetch([b"SSH-2.0-OpenSSH_9.2\r\n\r\n"])


def test_a_refused_connection_is_a_transport_error() -> None:
    async def main() -> None:
        server, base, _ = await serve_once([])
        server.close()
        await server.wait_closed()
        await http.request("GET", base, time_limit=10)

    with pytest.raises(TransportError, match=r"127\.0\.0\.1: "):
        asyncio.run(main())


def test_a_body_to_eof_is_read_to_the_end_not_to_the_first_read() -> None:
    # The first piece is read before the rest exists: the shell must keep reading until EOF.
    async def main() -> Response:
        reader = asyncio.StreamReader()
        reader.feed_data(b"HTTP/1.0 200 OK\r\n\r\nCurrent IP ")
        task = asyncio.create_task(http._read_response(reader))
        for _ in range(5):  # let the task take the first piece and wait for more
            await asyncio.sleep(0)
        reader.feed_data(b"Address: 192.0.2.1")
        reader.feed_eof()
        return await task

    assert asyncio.run(main()).text == "Current IP Address: 192.0.2.1"


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "http:///path", "http://127.0.0.1:99999/", "http://127.0.0.1:x/"]
)
def test_a_url_we_cannot_use_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="not an http"):
        asyncio.run(http.request("GET", url, time_limit=1))


def test_a_rejected_url_does_not_quote_its_path_query_or_user() -> None:
    url = "htps://user:pw-SECRET@hooks.example/hook/tok-SECRET?key=q-SECRET"
    with pytest.raises(UsageError) as caught:
        asyncio.run(http.request("GET", url, time_limit=1))
    assert "SECRET" not in str(caught.value)
    assert "hooks.example" in str(caught.value)
