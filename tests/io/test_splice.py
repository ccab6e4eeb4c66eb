"""io.splice.Pipe: two transports joined both ways, with EOF and flow control (loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import os

from homeport.io.splice import Pipe, pair, wait_closed

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
PIPES: list[Pipe] = []


async def _joined() -> tuple[Streams, Streams, asyncio.Task[None]]:
    """A visitor stream and a service stream, joined through two Pipes in the middle."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def on_service(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await accepted.put((r, w))

    service_server = await asyncio.start_server(on_service, "127.0.0.1", 0)
    service_port = service_server.sockets[0].getsockname()[1]
    outer = Pipe(loop.create_future())
    inner = Pipe(loop.create_future())
    pair(outer, inner)
    PIPES[:] = [outer, inner]
    middle = await loop.create_server(lambda: outer, "127.0.0.1", 0)
    middle_port = middle.sockets[0].getsockname()[1]
    visitor = await asyncio.open_connection("127.0.0.1", middle_port)
    await loop.create_connection(lambda: inner, "127.0.0.1", service_port)
    service = await accepted.get()
    middle.close()
    service_server.close()
    return visitor, service, asyncio.create_task(wait_closed(outer, inner))


def test_bytes_flow_both_ways_and_a_half_close_lets_the_answer_come_back() -> None:
    async def story() -> None:
        (v_reader, v_writer), (s_reader, s_writer), done = await _joined()
        request = os.urandom(3 << 20)
        v_writer.write(request)
        v_writer.write_eof()  # the visitor has said everything
        assert await s_reader.read() == request  # ... and the service sees the EOF
        answer = os.urandom(5 << 20)
        s_writer.write(answer)
        s_writer.close()
        assert await v_reader.read() == answer  # the answer still comes back, whole
        v_writer.close()
        await asyncio.wait_for(done, 10)

    asyncio.run(story())


def test_a_slow_reader_pauses_the_sender_instead_of_filling_memory() -> None:
    async def story() -> None:
        (v_reader, v_writer), (_, s_writer), done = await _joined()
        outer, inner = PIPES
        assert outer.transport is not None
        assert inner.transport is not None
        # The service sends 64 MiB; the visitor reads nothing yet.
        s_writer.write(b"x" * (64 << 20))

        async def paused() -> None:
            while inner.transport.is_reading():  # type: ignore[union-attr]  # noqa: ASYNC110
                await asyncio.sleep(0.01)

        await asyncio.wait_for(paused(), 20)
        # The middle stopped reading the service: it holds about one read, not 64 MiB.
        assert outer.transport.get_write_buffer_size() < 4 << 20
        got = 0
        while got < 64 << 20:
            data = await v_reader.read(1 << 20)
            assert data
            got += len(data)
        s_writer.close()
        v_writer.close()
        await asyncio.wait_for(done, 10)

    asyncio.run(story())


def test_cancelling_drops_both_sides() -> None:
    async def story() -> None:
        (v_reader, v_writer), (s_reader, s_writer), done = await _joined()
        await asyncio.sleep(0)  # the join is running
        done.cancel()
        for reader in (v_reader, s_reader):  # closed at once (a reset, or an EOF)
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(), 10) == b""
        v_writer.close()
        s_writer.close()

    asyncio.run(story())
