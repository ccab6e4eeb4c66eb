"""Join two byte streams both ways until either ends: the tunnel's data path.

Two shells of one idea: :func:`splice` for a pair of asyncio streams, and :class:`Pipe`
protocols for a pair of transports (the tunnel client's data path: no stream buffer, no
task per direction, bytes passed from one transport's callback to the other's write).

Large reads (:data:`CHUNK`) and ``drain`` for flow control: Python touches each chunk
once, never each byte, and a slow reader pauses the fast writer instead of filling
memory. TLS has no half-close in asyncio (``write_eof`` is not supported on an SSL
transport), so when the side that can half-close (plain TCP) finishes sending, the
other direction is given the chance to finish; when the TLS side ends, both close once
their buffered bytes are written (relay-spec, "Closing").
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Final, cast

# One read's worth: big enough that per-chunk Python costs vanish next to the copy
# (a 1 GiB transfer is ~4000 reads), small enough to keep memory per visitor bounded.
CHUNK: Final = 256 * 1024
# Closing waits this long for buffered bytes to go out; a peer that reads nothing
# must not keep the connection's task alive.
CLOSE_WAIT: Final = 10.0


async def pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> bool:
    """Copy until EOF; True on a clean end, False when either side broke."""
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except (OSError, ssl.SSLError, EOFError, RuntimeError):
        # Reset, broken pipe, a TLS alert, "transport is closing": the pair is over.
        return False
    return True


async def splice(
    outer: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    inner: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Copy ``outer`` (the relay's TLS data connection) to ``inner`` (the home service)
    and back. When the outer side's sender finishes cleanly the inner side gets an EOF
    (``write_eof``) and may still answer; anything else closes both."""
    outer_reader, outer_writer = outer
    inner_reader, inner_writer = inner
    inbound = asyncio.create_task(pump(outer_reader, inner_writer))
    outbound = asyncio.create_task(pump(inner_reader, outer_writer))
    try:
        done, _ = await asyncio.wait((inbound, outbound), return_when=asyncio.FIRST_COMPLETED)
        finished = inbound in done and inbound.result() and not outbound.done()
        if finished and inner_writer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                inner_writer.write_eof()
            await outbound
    except asyncio.CancelledError:  # shutting down: drop both at once
        for writer in (inner_writer, outer_writer):
            writer.transport.abort()
        raise
    finally:
        for task in (inbound, outbound):
            task.cancel()
        for writer in (inner_writer, outer_writer):
            writer.close()
        for writer in (inner_writer, outer_writer):
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), CLOSE_WAIT)


# -- the same with Protocols: no stream buffers, no task per direction ----------------------


class Pipe(asyncio.Protocol):
    """One side of a spliced pair: what it receives is written to its peer's transport,
    and a full peer pauses it (``pause_writing`` on the peer's side pauses our reading).

    EOF: a side that can half-close (plain TCP) passes the EOF on and the other direction
    goes on; a side that cannot (TLS) closes both once their buffers are written."""

    def __init__(self, closed: asyncio.Future[None]) -> None:
        self.transport: asyncio.Transport | None = None
        self.peer: Pipe | None = None
        self.closed = closed
        self.early: list[bytes] = []  # received before the peer was connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)
        if self.peer is not None and self.peer.early:
            # A service that speaks first (SSH, SMTP) may have spoken already.
            self.transport.writelines(self.peer.early)
            self.peer.early.clear()

    def data_received(self, data: bytes) -> None:
        peer = self.peer.transport if self.peer is not None else None
        if peer is None:
            self.early.append(data)
        elif not peer.is_closing():
            peer.write(data)

    def eof_received(self) -> bool:
        peer = self.peer.transport if self.peer is not None else None
        if peer is None or peer.is_closing():
            return False
        if peer.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                peer.write_eof()
            # Keep ours open for the other direction (a TLS transport ignores this and
            # closes; its peer then closes in connection_lost).
            return True
        peer.close()
        return False

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            with contextlib.suppress(RuntimeError):
                self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            with contextlib.suppress(RuntimeError):
                self.peer.transport.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()  # after its buffered bytes are written
        if not self.closed.done():
            self.closed.set_result(None)


def pair(a: Pipe, b: Pipe) -> None:
    a.peer, b.peer = b, a


async def wait_closed(*pipes: Pipe) -> None:
    """Until every side is closed; cancelled: drop them all at once."""
    try:
        await asyncio.gather(*(p.closed for p in pipes))
    except asyncio.CancelledError:
        for pipe in pipes:
            if pipe.transport is not None:
                pipe.transport.abort()
        raise
