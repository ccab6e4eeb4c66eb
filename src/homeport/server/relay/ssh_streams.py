"""An ssh channel as asyncio streams: the relay's splice reads and writes a visitor's
``forwarded-tcpip`` channel exactly as it does a TCP connection.

asyncssh delivers a channel's events to a session object (``data_received``,
``pause_writing``...), much like an asyncio protocol; :class:`ChannelSession` hands them
to an :class:`asyncio.StreamReaderProtocol`, and :class:`ChannelTransport` gives that
protocol (and the StreamWriter) the channel as its transport. Flow control carries
through both ways: a full channel window pauses the writer (``drain`` waits), and a
full reader buffer pauses the channel (no window updates, so the client stops sending).
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncssh


class ChannelSession(asyncssh.SSHTCPSession[bytes]):
    """A forwarded channel's events, handed to an asyncio stream protocol."""

    def __init__(self, protocol: asyncio.StreamReaderProtocol) -> None:
        self._protocol = protocol
        self.transport: ChannelTransport | None = None

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:
        self.transport = ChannelTransport(chan)
        self._protocol.connection_made(self.transport)

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self._protocol.data_received(data)

    def eof_received(self) -> bool:
        return bool(self._protocol.eof_received())

    def connection_lost(self, exc: Exception | None) -> None:
        self._protocol.connection_lost(exc)

    def pause_writing(self) -> None:
        self._protocol.pause_writing()

    def resume_writing(self) -> None:
        self._protocol.resume_writing()


class ChannelTransport(asyncio.Transport):
    """An ssh channel as an asyncio transport, so the splice sees ordinary streams
    (flow control included: the channel's window pauses and resumes the writer)."""

    def __init__(self, channel: asyncssh.SSHTCPChannel[bytes]) -> None:
        super().__init__()
        self._channel = channel
        self._reading = True

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._channel.write(bytes(data))

    def write_eof(self) -> None:
        self._channel.write_eof()

    def can_write_eof(self) -> bool:
        return True

    def close(self) -> None:
        self._channel.close()

    def abort(self) -> None:
        self._channel.abort()

    def is_closing(self) -> bool:
        return self._channel.is_closing()

    def pause_reading(self) -> None:
        self._reading = False
        self._channel.pause_reading()

    def resume_reading(self) -> None:
        self._reading = True
        self._channel.resume_reading()

    def is_reading(self) -> bool:
        return self._reading

    def get_write_buffer_size(self) -> int:
        return self._channel.get_write_buffer_size()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._channel.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._channel.get_extra_info(name, default)
