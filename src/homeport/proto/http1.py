"""HTTP/1.1 message framing for our small client (RFC 9112), without I/O.

:func:`encode_request` turns one request into bytes; :class:`ResponseParser`
takes the answer's bytes as they arrive, in pieces of any size, and gives back
a :class:`Response` as soon as the framing says the body is complete:
Content-Length (§6.3 rule 5), chunked (§7.1), or, with neither, everything up to
the end of the connection (§6.3 rule 8). The shell (:mod:`homeport.io.http`)
only reads from the socket and feeds. Every request says ``Connection: close``,
so one parser serves one response; bytes after it are ignored.

Malformed or oversized input is a :class:`~homeport.errors.RemoteProtocolError`;
nothing else escapes, whatever the peer sends.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from homeport.errors import RemoteProtocolError

# Limits for answers that are a few hundred bytes (checkip, webhooks) or a small
# JSON document (provider APIs): anything near them is not an answer we can use.
MAX_HEADER = 64 * 1024  # asyncio's StreamReader line limit, which bounded the head before
MAX_BODY = 256 * 1024
# A chunk-size line is a hex number plus optional extensions (RFC 9112 §7.1.1);
# a peer sending more than this without a line end is not sending chunked framing.
MAX_CHUNK_LINE = 4096
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str:
        return header_value(self.headers, name)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str:
    """The first value of header ``name`` (any case), or ""."""
    lowered = name.lower()
    return next((v for k, v in headers if k.lower() == lowered), "")


def encode_request(
    method: str,
    target: str,
    *,
    host: str,
    headers: Sequence[tuple[str, str]] = (),
    body: bytes = b"",
) -> bytes:
    """One request with ``Connection: close``, its head in Latin-1 as RFC 9112 §5 allows.

    Content-Length is sent with a body and for POST/PUT without one: some servers
    answer 411 Length Required to a bodiless POST (RFC 9110 §8.6).
    """
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in headers] + ["Connection: close"]
    if body or method in {"POST", "PUT"}:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Framing(enum.Enum):
    LENGTH = "content-length"
    CHUNKED = "chunked"
    UNTIL_EOF = "until-eof"


class ResponseParser:
    """Bytes of one response in (:meth:`feed`, :meth:`feed_eof`), a :class:`Response` out."""

    def __init__(self, *, max_header: int = MAX_HEADER, max_body: int = MAX_BODY) -> None:
        self._max_header = max_header
        self._max_body = max_body
        self._buffer = bytearray()
        self._head_read = False
        self._status = 0
        self._headers: tuple[tuple[str, str], ...] = ()
        self._framing = _Framing.UNTIL_EOF
        self._length = 0  # Content-Length, once the head is read
        self._chunk: int | None = None  # size of the chunk being read; None: a size line is next
        self._body = bytearray()
        self._done: Response | None = None

    def feed(self, data: bytes) -> Response | None:
        """Take the next bytes read; the response once it is complete, else None."""
        if self._done is None:
            self._buffer += data
            self._done = self._advance()
        return self._done

    def feed_eof(self) -> Response:
        """The peer closed the connection: the response, or why there is none."""
        if self._done is not None:
            return self._done
        if not self._head_read:
            raise RemoteProtocolError("connection closed before an HTTP response")
        if self._framing is not _Framing.UNTIL_EOF:
            raise RemoteProtocolError("HTTP response body cut short")
        self._done = self._response(bytes(self._body))
        return self._done

    def _advance(self) -> Response | None:
        if not self._head_read and not self._read_head():
            return None
        if self._framing is _Framing.LENGTH:
            if len(self._buffer) < self._length:
                return None
            return self._response(bytes(self._buffer[: self._length]))
        if self._framing is _Framing.CHUNKED:
            return self._read_chunks()
        self._body += self._buffer
        self._buffer.clear()
        if len(self._body) > self._max_body:
            raise RemoteProtocolError("HTTP response body too large")
        return None

    def _read_head(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if (end < 0 and len(self._buffer) > self._max_header) or end + 4 > self._max_header:
            raise RemoteProtocolError("HTTP response header too long")
        if end < 0:
            return False
        head = bytes(self._buffer[: end + 4])
        del self._buffer[: end + 4]
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
        self._head_read, self._status, self._headers = True, int(words[1]), headers
        # RFC 9112 §6.3: chunked wins over Content-Length; with neither, the body runs to EOF.
        length = header_value(headers, "content-length")
        if header_value(headers, "transfer-encoding").lower() == "chunked":
            self._framing = _Framing.CHUNKED
        elif length.isdigit():
            self._framing = _Framing.LENGTH
            self._length = int(length)
            if self._length > self._max_body:
                raise RemoteProtocolError("HTTP response body too large")
        return True

    def _read_chunks(self) -> Response | None:
        while True:
            if self._chunk is None:
                line_end = self._buffer.find(b"\n")
                if line_end < 0:
                    if len(self._buffer) > MAX_CHUNK_LINE:
                        raise RemoteProtocolError("bad chunk size in HTTP response")
                    return None
                size_field = bytes(self._buffer[:line_end]).split(b";")[0].strip()
                del self._buffer[: line_end + 1]
                if not size_field or not _HEXDIGITS.issuperset(size_field):
                    raise RemoteProtocolError("bad chunk size in HTTP response")
                size = int(size_field, 16)
                if size == 0:
                    # The last chunk; trailers, if any, are left unread (RFC 9112 §7.1.2
                    # lets a recipient discard them, and the connection closes anyway).
                    return self._response(bytes(self._body))
                if len(self._body) + size > self._max_body:
                    raise RemoteProtocolError("HTTP response body too large")
                self._chunk = size
            # The chunk's data and the CRLF that ends it.
            if len(self._buffer) < self._chunk + 2:
                return None
            self._body += self._buffer[: self._chunk]
            del self._buffer[: self._chunk + 2]
            self._chunk = None

    def _response(self, body: bytes) -> Response:
        return Response(self._status, self._headers, body)


__all__ = [
    "MAX_BODY",
    "MAX_HEADER",
    "Response",
    "ResponseParser",
    "encode_request",
    "header_value",
]
