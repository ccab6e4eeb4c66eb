"""The reachability probe: "test from outside" as an API call.

``POST /probe`` with a host's credentials asks the server to connect back to the
requester's own address (the connection's, or X-Forwarded-For from a trusted
proxy) on one port: a TCP connect, optionally an HTTP request or a TLS handshake
that reports the certificate's names and expiry. The target is never taken from
the request, so the probe cannot be aimed at a third party; probes are
rate-limited per host and per source address (DESIGN §8).
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from homeport.errors import UsageError

# Long enough for a home uplink's worst round trip plus a slow TLS handshake,
# short enough that a filtered port answers "timeout" before a user gives up.
DEFAULT_TIMEOUT = 5.0
# Probes per minute per host and per source address: a doctor run needs a few
# (IPv4 and IPv6, a couple of ports); a scan would need thousands.
DEFAULT_RATE_PER_MINUTE = 6.0
DEFAULT_BURST = 6
# How much of an HTTP answer we read: the status line and headers are enough.
MAX_HTTP_BYTES = 16 * 1024

CHECKS = ("tcp", "http", "tls")


@dataclass(frozen=True)
class ProbeRequest:
    port: int
    check: str = "tcp"  # tcp | http | tls
    path: str = "/"  # for http
    server_name: str | None = None  # SNI and Host header; default: the host's name

    @classmethod
    def from_json(cls, value: object) -> ProbeRequest:
        if not isinstance(value, dict):
            raise UsageError("the probe body must be a JSON object")
        port = value.get("port")
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise UsageError("port must be an integer from 1 to 65535")
        check = value.get("check", "tcp")
        if check not in CHECKS:
            raise UsageError(f"check must be one of {', '.join(CHECKS)}")
        path = value.get("path", "/")
        if not isinstance(path, str) or not path.startswith("/") or len(path) > 1024:
            raise UsageError("path must start with / (at most 1024 characters)")
        if any(c in path for c in "\r\n "):
            raise UsageError("path must not contain spaces or line breaks")
        name = value.get("server_name")
        if name is not None and (not isinstance(name, str) or not 0 < len(name) <= 253):
            raise UsageError("server_name must be a host name")
        return cls(port=port, check=check, path=path, server_name=name)


@dataclass(frozen=True)
class ProbeResult:
    target: str
    port: int
    check: str
    reachable: bool
    connect_ms: float | None = None
    error: str | None = None  # refused | timeout | unreachable | reset | tls: ... | http: ...
    http_status: int | None = None
    http_server: str | None = None
    tls: dict[str, Any] | None = None
    total_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("extra")
        return data


def _error_word(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, ssl.SSLError):
        return f"tls: {exc.reason or exc}"
    if isinstance(exc, OSError):
        return f"unreachable: {exc.strerror or exc}"
    return type(exc).__name__


def _cert_summary(cert: dict[str, Any], now: float) -> dict[str, Any]:
    names = [value for kind, value in cert.get("subjectAltName", ()) if kind == "DNS"]
    not_after = cert.get("notAfter")
    expires = ssl.cert_time_to_seconds(not_after) if not_after else None
    return {
        "names": names,
        "not_after": (
            datetime.datetime.fromtimestamp(expires, datetime.UTC).isoformat() if expires else None
        ),
        "days_left": round((expires - now) / 86400, 1) if expires else None,
        "verified": True,
    }


def client_tls_context(extra_ca_file: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if extra_ca_file is not None:
        context.load_verify_locations(cafile=str(extra_ca_file))
    return context


async def run_probe(
    target: IPv4Address | IPv6Address,
    request: ProbeRequest,
    default_name: str,
    *,
    wait: float = DEFAULT_TIMEOUT,
    tls_context: ssl.SSLContext | None = None,
) -> ProbeResult:
    """Connect to ``target`` (the requester itself) as ``request`` asks."""
    started = time.perf_counter()
    name = request.server_name or default_name
    host = str(target)

    def done(**kw: Any) -> ProbeResult:
        return ProbeResult(
            target=host,
            port=request.port,
            check=request.check,
            total_ms=round((time.perf_counter() - started) * 1000, 2),
            **kw,
        )

    context = None
    if request.check == "tls":
        context = tls_context or ssl.create_default_context()
    try:
        async with asyncio.timeout(wait):
            reader, writer = await asyncio.open_connection(
                host, request.port, ssl=context, server_hostname=name if context else None
            )
    except ssl.SSLCertVerificationError as exc:
        return done(reachable=True, error=f"tls: {exc.verify_message}", tls={"verified": False})
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        return done(reachable=False, error=_error_word(exc))
    connect_ms = round((time.perf_counter() - started) * 1000, 2)
    try:
        if request.check == "tls":
            ssl_object = writer.get_extra_info("ssl_object")
            cert = ssl_object.getpeercert() if ssl_object else None
            summary = _cert_summary(cert or {}, time.time())
            return done(reachable=True, connect_ms=connect_ms, tls=summary)
        if request.check == "http":
            writer.write(
                f"GET {request.path} HTTP/1.1\r\nHost: {name}\r\n"
                "User-Agent: homeport-probe\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            try:
                async with asyncio.timeout(wait):
                    head = await reader.read(MAX_HTTP_BYTES)
            except (OSError, TimeoutError) as exc:
                return done(
                    reachable=True, connect_ms=connect_ms, error=f"http: {_error_word(exc)}"
                )
            return done(reachable=True, connect_ms=connect_ms, **_parse_http_head(head))
        return done(reachable=True, connect_ms=connect_ms)
    finally:
        writer.close()
        try:
            async with asyncio.timeout(1):
                await writer.wait_closed()
        except (OSError, TimeoutError, ssl.SSLError):
            pass


def _parse_http_head(head: bytes) -> dict[str, Any]:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2) if lines and lines[0] else []
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return {"error": "http: not an HTTP response"}
    server = None
    for line in lines[1:]:
        if line.lower().startswith(b"server:"):
            server = line.split(b":", 1)[1].strip().decode("latin-1")[:100]
    return {"http_status": int(parts[1]), "http_server": server}
