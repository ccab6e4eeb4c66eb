"""Join two transports both ways until either ends: the tunnel client's data path.

:class:`Pipe` protocols, one per transport: bytes go from one transport's
``data_received`` straight to the other's ``write`` (no stream buffer, no task per
direction), and a peer whose buffer is full pauses the reading side (``pause_writing``)
instead of filling memory. TLS has no half-close in asyncio (``write_eof`` is not
supported on an SSL transport), so when the side that can half-close (plain TCP)
finishes sending, the other direction is given the chance to finish; when the TLS side
ends, both close once their buffered bytes are written (relay-spec, "Closing").
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast


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
        self.got_eof = False

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
        self.got_eof = True
        peer = self.peer.transport if self.peer is not None else None
        if peer is None or peer.is_closing():
            return False
        if self.peer is not None and self.peer.got_eof:  # both directions are done
            peer.close()
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
