"""Join two byte streams both ways until either ends: the tunnel's data path.

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
from typing import Final

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
