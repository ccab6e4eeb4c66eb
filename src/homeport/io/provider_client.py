"""The I/O shell that runs a provider's flow for real (or renders it for --dry-run).

A provider's :meth:`~homeport.providers.base.Provider.update` yields
:class:`HttpExchange` and :class:`DnsExchange` values; :func:`run_flow` sends
each one (HTTP through the caller's ``aiohttp.ClientSession``, TLS whenever the
URL is ``https``; DNS through dnspython's async TCP/UDP query) and feeds the
answer back, until the flow returns its per-host results.

Failures on the wire become :class:`~homeport.errors.TransportError` (refused,
reset, timeout) whose message names only ``scheme://host:port``, never a path,
query or header, so no secret can leak through it. :func:`update_hosts` wraps
the whole thing for the agent: a transport failure or an unparsable answer
becomes a RETRY result for every host of the flow.

aiohttp and dnspython are imported inside the functions that use them: an
agent whose providers are all HTTP never loads dnspython, and the agent's idle
RSS (a benchmark) pays only for what is configured.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import RemoteError, RemoteProtocolError, TransportError
from homeport.providers.base import DnsExchange, Flow, HttpExchange, HttpReply, Provider

if TYPE_CHECKING:
    import aiohttp
    import dns.message

# Provider answers are a few lines or a small JSON document; anything larger
# than this is not an answer we can use, so we stop reading there.
MAX_BODY = 1 << 20
# How long one exchange may take when the caller does not say: ddclient's
# default `timeout` is 10 s per request; APIs behind CDNs sometimes need more.
DEFAULT_TIMEOUT = 30.0


def _origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: what an error message may name."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _redact(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def redact_reply(reply: HttpReply, secrets: Sequence[str]) -> HttpReply:
    """``reply`` with any of our secrets it quotes replaced, before a provider
    reads it: a provider that echoes the request in an error would otherwise put
    a credential (or, once truncated, part of one) into a result message."""
    body = reply.body
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret.encode() in body:
            body = body.replace(secret.encode(), b"[redacted]")
    return reply if body is reply.body else replace(reply, body=body)


async def send_http(
    session: aiohttp.ClientSession,
    exchange: HttpExchange,
    timeout: float,  # noqa: ASYNC109 (per exchange, handed to aiohttp)
) -> HttpReply:
    """Send one HTTP exchange; TransportError when no answer came back."""
    import aiohttp

    where = f"{exchange.method} {_origin(exchange.url)}"
    try:
        async with session.request(
            exchange.method,
            exchange.url,
            headers=list(exchange.headers),
            data=exchange.body or None,
            timeout=aiohttp.ClientTimeout(total=timeout),
            # A redirect could carry our credentials to another origin; providers
            # do not redirect API calls, so a 3xx is reported as it is.
            allow_redirects=False,
        ) as response:
            body = await response.content.read(MAX_BODY)
            return HttpReply(response.status, body, tuple(response.headers.items()))
    except TimeoutError as exc:
        raise TransportError(f"{where}: no answer within {timeout:g} s") from exc
    except aiohttp.ClientSSLError as exc:
        # Certificate not trusted, wrong name, or no TLS at all: never retried in clear.
        raise TransportError(f"{where}: TLS failure ({type(exc).__name__})") from exc
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        raise TransportError(f"{where}: cannot connect ({reason})") from exc
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # Foreign messages may quote the URL; name only the kind of failure.
        raise TransportError(f"{where}: {type(exc).__name__}") from exc


async def send_dns(
    exchange: DnsExchange,
    timeout: float,  # noqa: ASYNC109 (per exchange, handed to dnspython)
) -> dns.message.Message:
    """Send one DNS message; a TSIG failure comes back as a NOTAUTH answer."""
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.tsig

    where = f"DNS {'TCP' if exchange.tcp else 'UDP'} {exchange.server}:{exchange.port}"
    query = exchange.message
    try:
        if exchange.tcp:
            return await dns.asyncquery.tcp(
                query, exchange.server, timeout=timeout, port=exchange.port
            )
        return await dns.asyncquery.udp(query, exchange.server, timeout=timeout, port=exchange.port)
    except dns.tsig.PeerError:
        # The server rejected our key, signature or clock (RFC 8945 §5.3: it
        # answers NOTAUTH with a TSIG error); dnspython raises instead of
        # returning that answer, so hand the flow the NOTAUTH it carried.
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.NOTAUTH)
        return response
    except (dns.exception.Timeout, TimeoutError) as exc:
        raise TransportError(f"{where}: no answer within {timeout:g} s") from exc
    except dns.exception.DNSException as exc:
        raise RemoteProtocolError(f"{where}: bad answer ({type(exc).__name__})") from exc
    except OSError as exc:
        raise TransportError(f"{where}: {exc.strerror or type(exc).__name__}") from exc


async def run_flow(
    flow: Flow,
    session: aiohttp.ClientSession | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (each exchange's limit, not the flow's)
) -> list[UpdateResult]:
    """Drive ``flow`` to its end over the network; its per-host results.

    ``session`` may be None for flows that only speak DNS. Raises
    TransportError (no answer) or RemoteProtocolError (an answer we cannot
    read); see :func:`update_hosts` for the variant that never raises them.
    """
    secrets: list[str] = []
    try:
        exchange = next(flow)
        while True:
            reply: Any
            if isinstance(exchange, HttpExchange):
                secrets += exchange.secrets
                if session is None:
                    raise TypeError("an HTTP provider flow needs an aiohttp session")
                try:
                    reply = redact_reply(await send_http(session, exchange, timeout), secrets)
                except TransportError as exc:
                    # Belt and braces: the message is built without the URL's
                    # path and query, but never let a secret through.
                    raise TransportError(_redact(exc.message, exchange.secrets)) from exc
            else:
                reply = await send_dns(exchange, timeout)
            exchange = flow.send(reply)
    except StopIteration as done:
        results: list[UpdateResult] = done.value
        # A provider that echoes a credential back must not get it into our logs.
        return [replace(r, message=_redact(r.message, secrets)) for r in results]
    finally:
        flow.close()


def failed_results(hosts: Sequence[HostUpdate], error: RemoteError) -> list[UpdateResult]:
    """RETRY for every host: the provider could not be reached or understood."""
    code = "transport" if isinstance(error, TransportError) else "badresponse"
    return [UpdateResult(h.hostname, Status.RETRY, code, error.message) for h in hosts]


async def update_hosts(
    provider: Provider,
    hosts: Sequence[HostUpdate],
    session: aiohttp.ClientSession | None,
    *,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 (each exchange's limit)
) -> list[UpdateResult]:
    """One result per host, network trouble included (as RETRY)."""
    try:
        return await run_flow(provider.update(hosts), session, timeout=timeout)
    except (TransportError, RemoteProtocolError) as exc:
        return failed_results(hosts, exc)


def render_flow_dry_run(flow: Flow) -> list[str]:
    """The requests ``flow`` would send, secrets redacted, nothing sent.

    Each HTTP exchange is answered with the provider's own plausible success
    reply (``HttpExchange.example_reply``), so a multi-step flow (look up the
    zone and record ids, then write) renders its later requests too, with
    placeholder ids such as ``ZONE_ID``. A step without an example reply ends
    the rendering after that request. DNS UPDATEs are answered NOERROR.
    """
    rendered: list[str] = []
    try:
        exchange = next(flow)
        while True:
            rendered.append(exchange.render())
            reply: Any
            if isinstance(exchange, HttpExchange):
                if exchange.example_reply is None:
                    break
                reply = exchange.example_reply
            else:
                import dns.message

                reply = dns.message.make_response(exchange.message)
            exchange = flow.send(reply)
    except StopIteration:
        pass
    finally:
        flow.close()
    return rendered


__all__ = [
    "DEFAULT_TIMEOUT",
    "failed_results",
    "redact_reply",
    "render_flow_dry_run",
    "run_flow",
    "send_dns",
    "send_http",
    "update_hosts",
]
