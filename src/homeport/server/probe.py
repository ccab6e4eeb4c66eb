"""The reachability probe: "test from outside" as an API call.

``POST /probe`` with a host's credentials asks the server to connect back to the
requester's own address (the connection's, or X-Forwarded-For from a trusted
proxy) on one port: a TCP connect, optionally an HTTP request or a TLS handshake
that reports the certificate's names and expiry. The target is never taken from
the request, so the probe cannot be aimed at a third party; probes are
rate-limited per host and per source address, so it cannot be turned into a scanner.

The requester's address is not always a home network's: behind a proxy that is
not in ``trusted_proxies`` (or one that forwards ``X-Forwarded-For: unknown``)
it is the proxy's, often 127.0.0.1, and a probe would reach the server's own
loopback services. So the probe connects only to public unicast addresses that
are not the server's own (:func:`target_refusal`), unless ``[probe]
lab_networks`` names the non-public networks of a test lab or a LAN. Whatever
the request says travels as validated, encoded bytes: ``server_name`` must be
a DNS name or an IP address, and the HTTP path is percent-encoded.
"""

from __future__ import annotations

import asyncio
import datetime
import re
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from pathlib import Path
from typing import Any
from urllib.parse import quote

from homeport.core.consensus import CGNAT
from homeport.core.hostdata import MAX_NAME_LENGTH
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

# RFC 1035 §2.3.1 with RFC 1123 §2.1 (a label may start with a digit): a host name's
# labels are 1-63 letters, digits and hyphens, not starting or ending with a hyphen,
# 253 characters in all (RFC 1035 §2.3.4's 255 octets in wire form). SNI (RFC 6066 §3)
# carries exactly such a name; an IDN travels as its A-label (xn--...). Stricter than
# hostdata.name_problem: no underscore (service labels are no host names) and one label
# suffices.
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")
NAME_RULE = (
    "server_name must be a DNS name (letters, digits and hyphens; labels of 1 to 63"
    " characters, 253 in all; an IDN as xn--...) or an IP address"
)
# Path characters sent as they are (RFC 3986 §3.3 pchar, "/" and "?", and "%" so an
# already encoded path stays as it is); everything else goes out percent-encoded.
PATH_SAFE = "/?:@!$&'()*+,;=-._~%"

Network = IPv4Network | IPv6Network
# RFC 6052 §2.1 well-known NAT64 prefix: the IPv4 address inside is where it goes.
NAT64 = IPv6Network("64:ff9b::/96")


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
        if any(c <= " " or c == "\x7f" for c in path):
            raise UsageError("path must not contain spaces, line breaks or control characters")
        name = value.get("server_name")
        return cls(
            port=port,
            check=check,
            path=path,
            server_name=None if name is None else parse_server_name(name),
        )


def parse_server_name(value: object) -> str:
    """A DNS host name (without its final dot) or an IP address; UsageError otherwise."""
    if not isinstance(value, str) or not value.isascii() or "%" in value:
        raise UsageError(NAME_RULE)
    try:
        return str(ip_address(value))
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not 0 < len(name) <= MAX_NAME_LENGTH or not all(
        _HOST_LABEL.match(label) for label in name.split(".")
    ):
        raise UsageError(NAME_RULE)
    return name


def target_refusal(
    target: IPv4Address | IPv6Address, lab_networks: Sequence[Network] = ()
) -> str | None:
    """Why the probe must not connect to ``target``, or None when it may.

    Only public unicast addresses that are not this machine's own, unless the target
    is inside one of ``lab_networks`` ([probe] lab_networks: a test lab, a LAN-only
    server). IPv6 addresses that carry an IPv4 address (mapped, NAT64, 6to4, Teredo)
    are judged by that IPv4 address too.
    """
    if any(target in net for net in lab_networks):
        return None
    for address in (*_embedded_ipv4(target), target):
        kind = _not_public(address)
        if kind:
            return f"the probe connects only to public addresses; {target} is {kind}"
    if _is_own_address(target):
        return f"the probe does not connect to the server itself ({target})"
    return None


def _embedded_ipv4(address: IPv4Address | IPv6Address) -> list[IPv4Address]:
    if isinstance(address, IPv4Address):
        return []
    found = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        found.append(address.teredo[1])
    if address in NAT64:
        found.append(IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in found if a is not None]


def _not_public(address: IPv4Address | IPv6Address) -> str | None:
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified:
        return "unspecified"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, IPv4Address) and address in CGNAT:
        return "shared (CGNAT) address space"
    if address.is_private:
        return "private or reserved"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _is_own_address(address: IPv4Address | IPv6Address) -> bool:
    """True if this machine holds ``address``: binding to it succeeds (nothing is sent)."""
    family = socket.AF_INET6 if isinstance(address, IPv6Address) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((str(address), 0))
    except OSError:
        return False  # EADDRNOTAVAIL: not ours
    return True


def host_header(name: str) -> str:
    """``name`` as an HTTP Host value: an IPv6 literal in brackets (RFC 9110 §7.2)."""
    return f"[{name}]" if ":" in name else name


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
            # The path is percent-encoded and the name validated (ProbeRequest), so no
            # request text reaches the wire as it came: nothing can add a header line.
            writer.write(
                f"GET {quote(request.path, safe=PATH_SAFE)} HTTP/1.1\r\n"
                f"Host: {host_header(name)}\r\n"
                "User-Agent: homeport-probe\r\nConnection: close\r\n\r\n".encode("ascii")
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
