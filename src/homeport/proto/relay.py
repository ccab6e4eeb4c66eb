"""The relay's wire format, without I/O: control messages, PROXY v2, and the peeks
that route a visitor (TLS SNI, HTTP Host).

An agent reaches the relay over TLS 1.3 and opens two kinds of connection, each
starting with one JSON line (UTF-8, ``\\n``-terminated, at most :data:`MAX_LINE`
bytes):

- the **control** connection: ``hello`` -> ``welcome`` (or ``error``), then ``ping`` /
  ``pong`` heartbeats and the relay's ``want`` (open more spares);
- **spare** data connections: ``spare`` with the session, then they wait. When a
  visitor arrives the relay writes one ``open`` line on a spare and from then on the
  connection is a plain byte pipe to the visitor (the relay first sends the bytes it
  read to route the visitor, and a PROXY v2 header if the tunnel asked for one).

One data connection per visitor: no multiplexing, so one slow visitor never holds
up another (the head-of-line blocking frp's multiplexed mode suffers from).

Anything malformed is a :class:`~homeport.errors.RemoteProtocolError`.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final, Literal

from homeport.errors import RemoteProtocolError

VERSION: Final = 1
# A hello names one host and a few tunnels; anything longer is not a hello.
MAX_LINE: Final = 4096
# The kinds of public listener a tunnel can claim: HTTP routed by Host, TLS routed by
# SNI (passthrough: the relay never holds keys), raw TCP on a port of its own.
Kind = Literal["http", "tls", "tcp"]
KINDS: Final = ("http", "tls", "tcp")
# Fatal error codes stop the client from retrying until its config changes (the
# dyndns2 lesson: a client hammering with a bad secret gets the account blocked).
FATAL_CODES: Final = frozenset({"badauth", "forbidden", "badrequest", "version"})
ERROR_CODES: Final = FATAL_CODES | {"limit", "throttled", "unavailable"}


@dataclass(frozen=True)
class TunnelSpec:
    """One public entry point a client asks for. ``port``: the relay's listener port
    for http/tls; for tcp the public port wanted (0: let the relay allocate one)."""

    kind: Kind
    port: int
    proxy: bool = False  # put a PROXY v2 header before the visitor's bytes


@dataclass(frozen=True)
class Granted:
    kind: Kind
    port: int  # as asked
    public_port: int  # where visitors connect at the relay


@dataclass(frozen=True)
class Hello:
    host: str
    secret: str
    tunnels: tuple[TunnelSpec, ...]
    version: int = VERSION

    def __repr__(self) -> str:  # never the secret, not even in a debug log
        return f"Hello(host={self.host!r}, tunnels={self.tunnels!r})"


@dataclass(frozen=True)
class Welcome:
    session: str
    tunnels: tuple[Granted, ...]
    heartbeat: float  # seconds between pings; silence for 4/3 of it means dead


@dataclass(frozen=True)
class Error:
    code: str
    message: str

    @property
    def fatal(self) -> bool:
        return self.code in FATAL_CODES


@dataclass(frozen=True)
class Spare:
    session: str

    def __repr__(self) -> str:
        return "Spare(session=...)"


@dataclass(frozen=True)
class Open:
    kind: Kind
    port: int  # the tunnel's port as granted (TunnelSpec.port)
    peer: str  # the visitor, "address:port" ("[v6]:port")


@dataclass(frozen=True)
class Want:
    count: int  # spares the relay would like opened now


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class Pong:
    pass


Message = Hello | Welcome | Error | Spare | Open | Want | Ping | Pong


def encode(message: Message) -> bytes:
    body: dict[str, Any]
    match message:
        case Hello():
            body = {
                "op": "hello",
                "v": message.version,
                "host": message.host,
                "secret": message.secret,
                "tunnels": [
                    {"kind": t.kind, "port": t.port, "proxy": t.proxy} for t in message.tunnels
                ],
            }
        case Welcome():
            body = {
                "op": "welcome",
                "session": message.session,
                "heartbeat": message.heartbeat,
                "tunnels": [
                    {"kind": t.kind, "port": t.port, "public_port": t.public_port}
                    for t in message.tunnels
                ],
            }
        case Error():
            body = {"op": "error", "code": message.code, "message": message.message}
        case Spare():
            body = {"op": "spare", "session": message.session}
        case Open():
            body = {"op": "open", "kind": message.kind, "port": message.port, "peer": message.peer}
        case Want():
            body = {"op": "want", "count": message.count}
        case Ping():
            body = {"op": "ping"}
        case Pong():
            body = {"op": "pong"}
    line = json.dumps(body, separators=(",", ":")).encode() + b"\n"
    if len(line) > MAX_LINE:
        raise RemoteProtocolError(f"relay message longer than {MAX_LINE} bytes")
    return line


def decode(line: bytes) -> Message:
    """One line (with or without its ``\\n``) as a message."""
    if len(line) > MAX_LINE:
        raise RemoteProtocolError(f"relay message longer than {MAX_LINE} bytes")
    try:
        body = json.loads(line)
    except ValueError as exc:
        raise RemoteProtocolError("relay message is not JSON") from exc
    if not isinstance(body, dict):
        raise RemoteProtocolError("relay message is not a JSON object")
    op = body.get("op")
    match op:
        case "hello":
            version = _int(body, "v", 0, 255)
            tunnels = body.get("tunnels")
            if not isinstance(tunnels, list) or len(tunnels) > 64:
                raise RemoteProtocolError("hello: tunnels must be a list")
            return Hello(
                _str(body, "host"),
                _str(body, "secret"),
                tuple(_spec(t) for t in tunnels),
                version,
            )
        case "welcome":
            tunnels = body.get("tunnels")
            if not isinstance(tunnels, list):
                raise RemoteProtocolError("welcome: tunnels must be a list")
            heartbeat = body.get("heartbeat")
            if not isinstance(heartbeat, int | float) or not 0 < heartbeat <= 3600:
                raise RemoteProtocolError("welcome: bad heartbeat")
            return Welcome(
                _str(body, "session"), tuple(_granted(t) for t in tunnels), float(heartbeat)
            )
        case "error":
            return Error(_str(body, "code"), _str(body, "message", allow_empty=True))
        case "spare":
            return Spare(_str(body, "session"))
        case "open":
            return Open(_kind(body), _int(body, "port", 0, 65535), _str(body, "peer"))
        case "want":
            return Want(_int(body, "count", 1, 1024))
        case "ping":
            return Ping()
        case "pong":
            return Pong()
    raise RemoteProtocolError(f"unknown relay message {str(op)[:20]!r}")


def _str(body: dict[str, Any], key: str, *, allow_empty: bool = False) -> str:
    value = body.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise RemoteProtocolError(f"relay message: {key} must be a string")
    return value


def _int(body: dict[str, Any], key: str, low: int, high: int) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RemoteProtocolError(f"relay message: {key} must be an integer {low}-{high}")
    return value


def _kind(body: dict[str, Any]) -> Kind:
    match body.get("kind"):
        case "http":
            return "http"
        case "tls":
            return "tls"
        case "tcp":
            return "tcp"
    raise RemoteProtocolError("relay message: kind must be http, tls or tcp")


def _spec(item: object) -> TunnelSpec:
    if not isinstance(item, dict):
        raise RemoteProtocolError("hello: each tunnel is an object")
    proxy = item.get("proxy", False)
    if not isinstance(proxy, bool):
        raise RemoteProtocolError("hello: proxy must be true or false")
    return TunnelSpec(_kind(item), _int(item, "port", 0, 65535), proxy)


def _granted(item: object) -> Granted:
    if not isinstance(item, dict):
        raise RemoteProtocolError("welcome: each tunnel is an object")
    return Granted(_kind(item), _int(item, "port", 0, 65535), _int(item, "public_port", 1, 65535))


def format_peer(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def parse_peer(text: str) -> tuple[IPv4Address | IPv6Address, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise RemoteProtocolError(f"bad peer {text[:60]!r}")
    try:
        return ip_address(host.removeprefix("[").removesuffix("]")), int(port)
    except ValueError as exc:
        raise RemoteProtocolError(f"bad peer {text[:60]!r}") from exc


# -- PROXY protocol version 2 (haproxy's proxy-protocol.txt §2.2) -------------------

PROXY_V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
_PROXY_CMD = 0x21  # version 2, command PROXY
_AF_INET_STREAM = 0x11
_AF_INET6_STREAM = 0x21


def proxy_v2_header(source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """The binary header telling the home service who the visitor is (TCP over IPv4
    or IPv6; a mixed pair is given as IPv6 with the IPv4 address mapped)."""
    src, dst = ip_address(source[0]), ip_address(destination[0])
    if isinstance(src, IPv4Address) and isinstance(dst, IPv4Address):
        body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
        family = _AF_INET_STREAM
    else:
        body = _v6(src).packed + _v6(dst).packed + struct.pack("!HH", source[1], destination[1])
        family = _AF_INET6_STREAM
    return PROXY_V2_SIGNATURE + bytes([_PROXY_CMD, family]) + struct.pack("!H", len(body)) + body


def _v6(address: IPv4Address | IPv6Address) -> IPv6Address:
    if isinstance(address, IPv6Address):
        return address
    return IPv6Address(b"\x00" * 10 + b"\xff\xff" + address.packed)


def parse_proxy_v2(data: bytes) -> tuple[tuple[str, int], tuple[str, int], int] | None:
    """(source, destination, header length), or None when more bytes are needed."""
    head = PROXY_V2_SIGNATURE + b"\x00\x00\x00\x00"
    if len(data) < len(head):
        if not data.startswith(PROXY_V2_SIGNATURE[: len(data)]):
            raise RemoteProtocolError("not a PROXY v2 header")
        return None
    if not data.startswith(PROXY_V2_SIGNATURE) or data[12] >> 4 != 2:
        raise RemoteProtocolError("not a PROXY v2 header")
    family = data[13]
    (length,) = struct.unpack("!H", data[14:16])
    if len(data) < 16 + length:
        return None
    body = data[16 : 16 + length]
    if family == _AF_INET_STREAM and length >= 12:
        src, dst = IPv4Address(body[0:4]), IPv4Address(body[4:8])
        sport, dport = struct.unpack("!HH", body[8:12])
    elif family == _AF_INET6_STREAM and length >= 36:
        src6, dst6 = IPv6Address(body[0:16]), IPv6Address(body[16:32])
        sport, dport = struct.unpack("!HH", body[32:36])
        return (
            (str(src6.ipv4_mapped or src6), sport),
            (str(dst6.ipv4_mapped or dst6), dport),
            16 + length,
        )
    else:
        raise RemoteProtocolError(f"PROXY v2 family {family:#x} not supported")
    return (str(src), sport), (str(dst), dport), 16 + length


# -- routing peeks -----------------------------------------------------------------

# Enough for any ClientHello a browser sends (post-quantum key shares make them ~1.8 KB;
# RFC 8446 §4.1.2 allows up to 2^14 per record) and for any request head worth serving.
MAX_PEEK: Final = 16 * 1024


@dataclass(frozen=True)
class NeedMore:
    """Not enough bytes yet to decide."""


NEED_MORE: Final = NeedMore()


def tls_server_name(data: bytes) -> str | NeedMore | None:
    """The SNI host name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3), lower-case;
    None when the hello names none; NEED_MORE until the whole hello is here."""
    if len(data) < 5:
        return NEED_MORE
    if data[0] != 0x16 or data[1] != 0x03:
        raise RemoteProtocolError("not a TLS handshake")
    (record_len,) = struct.unpack("!H", data[3:5])
    if len(data) < 5 + record_len:
        return NEED_MORE if 5 + record_len <= MAX_PEEK else _too_long()
    hello = data[5 : 5 + record_len]
    if len(hello) < 4 or hello[0] != 0x01:
        raise RemoteProtocolError("not a ClientHello")
    hello_len = int.from_bytes(hello[1:4], "big")
    if hello_len > len(hello) - 4:
        # A ClientHello split over several records: rare (huge key shares); not routed.
        raise RemoteProtocolError("ClientHello spans records")
    reader = _Reader(hello[4 : 4 + hello_len])
    reader.skip(2 + 32)  # legacy_version, random
    reader.skip(reader.u8())  # legacy_session_id
    reader.skip(reader.u16())  # cipher_suites
    reader.skip(reader.u8())  # legacy_compression_methods
    if reader.done():
        return None
    extensions = _Reader(reader.take(reader.u16()))
    while not extensions.done():
        kind, body = extensions.u16(), extensions.take(extensions.u16())
        if kind != 0:  # server_name
            continue
        names = _Reader(body)
        names = _Reader(names.take(names.u16()))
        while not names.done():
            name_type, name = names.u8(), names.take(names.u16())
            if name_type == 0:  # host_name
                try:
                    return name.decode("ascii").lower().rstrip(".")
                except UnicodeDecodeError as exc:
                    raise RemoteProtocolError("SNI is not ASCII") from exc
        return None
    return None


def _too_long() -> NeedMore:
    raise RemoteProtocolError(f"ClientHello longer than {MAX_PEEK} bytes")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.data):
            raise RemoteProtocolError("truncated ClientHello")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def skip(self, n: int) -> None:
        self.take(n)

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        value: int = struct.unpack("!H", self.take(2))[0]
        return value

    def done(self) -> bool:
        return self.at >= len(self.data)


def http_host(data: bytes) -> str | NeedMore | None:
    """The Host of an HTTP/1.x request head (RFC 9112 §3.2), lower-case, without port
    or trailing dot; None when the head has no Host; NEED_MORE until the head is here."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        if len(data) >= MAX_PEEK:
            raise RemoteProtocolError(f"request head longer than {MAX_PEEK} bytes")
        if data and not data[:1].isalpha():
            raise RemoteProtocolError("not an HTTP request")
        return NEED_MORE
    lines = data[:end].split(b"\r\n")
    if len(lines[0].split(b" ")) != 3 or not lines[0].split(b" ")[2].startswith(b"HTTP/1."):
        raise RemoteProtocolError("not an HTTP/1.x request line")
    hosts = [
        line.partition(b":")[2].strip()
        for line in lines[1:]
        if line.partition(b":")[0].strip().lower() == b"host"
    ]
    if len(hosts) > 1:
        raise RemoteProtocolError("more than one Host header")  # RFC 9112 §3.2: 400
    if not hosts:
        return None
    try:
        text = hosts[0].decode("ascii").lower()
    except UnicodeDecodeError as exc:
        raise RemoteProtocolError("Host is not ASCII") from exc
    if text.startswith("["):
        return text[1 : text.find("]")] if "]" in text else text
    return text.partition(":")[0].rstrip(".")
