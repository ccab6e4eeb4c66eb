"""Moving a visitor's bytes: two copy loops with large reads, and per-host limits.

Each direction reads up to :data:`CHUNK` bytes at a time and waits for the writer to
drain before reading again, so a slow side pauses the fast one through the transports'
flow control (asyncio pauses reading when the peer's buffer is past its high-water
mark) and memory stays bounded; no Python runs per byte. When either side ends, the
other is closed once its buffered bytes are written: TLS (the agents' data connections)
has no half-close in asyncio, so a visitor that shuts down its sending side ends the
exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Final

# Per read: large enough that a gigabit stream costs a few thousand wake-ups a second.
CHUNK: Final = 256 * 1024
# StreamReader buffer limit for spliced connections: reading pauses past twice this.
STREAM_LIMIT: Final = 1024 * 1024


class Bucket:
    """A token bucket of bytes per second shared by a host's connections (both ways)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(rate, CHUNK)  # one chunk always fits, or nothing would move
        self.tokens = self.burst
        self.clock = clock
        self.stamp = clock()

    async def take(self, n: int) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        self.tokens -= n
        if self.tokens < 0:
            # In debt: wait until the refill has paid it back (others queue behind).
            await asyncio.sleep(-self.tokens / self.rate)


Counter = Callable[[int], None]


async def splice(
    a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    b: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    *,
    a_to_b: Counter,
    b_to_a: Counter,
    bucket: Bucket | None = None,
) -> None:
    """Copy both ways until either side ends or fails; then close both."""
    first = asyncio.ensure_future(_copy(a[0], b[1], a_to_b, bucket))
    second = asyncio.ensure_future(_copy(b[0], a[1], b_to_a, bucket))
    try:
        await asyncio.wait((first, second), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (first, second):
            task.cancel()
        for task in (first, second):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await close_quietly(a[1])
        await close_quietly(b[1])


async def _copy(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    count: Counter,
    bucket: Bucket | None,
) -> None:
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                return
            if bucket is not None:
                await bucket.take(len(data))
            writer.write(data)
            count(len(data))
            await writer.drain()
    except (OSError, ConnectionError, asyncio.IncompleteReadError):
        return


async def close_quietly(writer: asyncio.StreamWriter) -> None:
    """Close after the buffered bytes are written (a reset peer just ends it)."""
    with contextlib.suppress(Exception):
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), CLOSE_GRACE)
        except TimeoutError:
            writer.transport.abort()


# A peer that stops reading must not hold a closing connection (and its buffer) forever.
CLOSE_GRACE: Final = 10.0
