"""The one provider runner: drive a provider's flow over the transports the agent ships.

A provider's :meth:`~homeport.providers.base.Provider.update` is a generator
that yields :class:`~homeport.providers.base.HttpExchange` and
:class:`~homeport.providers.base.DnsExchange` values and receives the answers;
:func:`run` sends each exchange and feeds the answer back until the flow returns
its per-host results. The agent (daemon and ``--once``), ``--dry-run``
(:func:`render`) and every provider test go through this module, so the tests
exercise the transport the product uses:

- HTTP through :mod:`homeport.io.http`, our small HTTP/1.1 client: aiohttp alone
  costs ~20 MB of resident memory, which would put the idle agent over its
  budget (<= 2x ddclient's RSS). It never follows a redirect (a 3xx could carry
  our credentials to another origin; providers do not redirect API calls), and
  verifies TLS against the system trust store (``SSL_CERT_FILE`` adds a private CA).
- DNS (RFC 2136 UPDATE) through dnspython's async query, imported only when a
  flow yields one, so an agent whose providers all speak HTTP never loads it.

Secrets: every secret an exchange declares is taken out of error messages, out
of the provider's answers before the flow reads them (some quote the request
back) and out of the results' messages, with :func:`homeport.core.redact.redact`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from homeport.core.redact import redact
from homeport.core.update import HostUpdate, Status, UpdateResult
from homeport.errors import (
    HomeportError,
    LocalError,
    RemoteError,
    RemoteProtocolError,
    TransportError,
)
from homeport.providers.base import DnsExchange, Flow, HttpExchange, HttpReply, Provider

if TYPE_CHECKING:
    import dns.message


async def send_http(exchange: HttpExchange, time_limit: float) -> HttpReply:
    """Send one HTTP exchange; TransportError when no answer came back."""
    from homeport.io import http

    response = await http.request(
        exchange.method,
        exchange.url,
        headers=exchange.headers,
        body=exchange.body,
        time_limit=time_limit,
    )
    return HttpReply(response.status, response.body, response.headers)


async def send_dns(exchange: DnsExchange, time_limit: float) -> dns.message.Message:
    """Send one DNS message; a TSIG failure comes back as a NOTAUTH answer."""
    import dns.asyncquery
    import dns.exception
    import dns.message
    import dns.rcode
    import dns.tsig

    where = f"DNS {'TCP' if exchange.tcp else 'UDP'} {exchange.server}:{exchange.port}"
    query, server, port = exchange.message, exchange.server, exchange.port
    try:
        if exchange.tcp:
            return await dns.asyncquery.tcp(query, server, timeout=time_limit, port=port)
        return await dns.asyncquery.udp(query, server, timeout=time_limit, port=port)
    except dns.tsig.PeerError:
        # The server rejected our key, signature or clock (RFC 8945 §5.3: it
        # answers NOTAUTH with a TSIG error); dnspython raises instead of
        # returning that answer, so hand the flow the NOTAUTH it carried.
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.NOTAUTH)
        return response
    except (dns.exception.Timeout, TimeoutError) as exc:
        raise TransportError(f"{where}: no answer within {time_limit:g} s") from exc
    except dns.exception.DNSException as exc:
        raise RemoteProtocolError(f"{where}: bad answer ({type(exc).__name__})") from exc
    except OSError as exc:
        raise TransportError(f"{where}: {exc.strerror or type(exc).__name__}") from exc


async def run(flow: Flow, *, time_limit: float) -> list[UpdateResult]:
    """Drive ``flow`` to its end over the network; its per-host results.

    ``time_limit`` bounds each exchange. Raises the RemoteError (no answer, an
    answer we cannot read) or LocalError (a request we must not send) that
    stopped the flow, its message free of the flow's secrets;
    :func:`update` is the variant that turns them into results.
    """
    secrets: list[str] = []
    try:
        exchange = next(flow)
        while True:
            reply: Any
            if isinstance(exchange, HttpExchange):
                secrets += exchange.secrets
                reply = await send_http(exchange, time_limit)
                # A provider that quotes our request in an error would otherwise put a
                # credential (or, once the message is cut short, part of one) in a result.
                reply = replace(reply, body=redact(reply.body, secrets))
            else:
                reply = await send_dns(exchange, time_limit)
            exchange = flow.send(reply)
    except StopIteration as done:
        results: list[UpdateResult] = done.value
        return [replace(r, message=redact(r.message, secrets)) for r in results]
    except HomeportError as exc:
        # Our transport errors name the host only, but a bad URL is quoted whole and a
        # flow's own error may quote a reply: never let a secret through, in str or repr.
        exc.message = redact(exc.message, secrets)
        exc.args = (exc.message,)
        raise
    finally:
        flow.close()


async def update(
    provider: Provider, hosts: Sequence[HostUpdate], *, time_limit: float
) -> list[UpdateResult]:
    """One result per host; network trouble is RETRY, a flow's own LocalError is FATAL."""
    try:
        return await run(provider.update(hosts), time_limit=time_limit)
    except RemoteError as exc:
        code = "transport" if isinstance(exc, TransportError) else "badresponse"
        return [UpdateResult(h.hostname, Status.RETRY, code, exc.message) for h in hosts]
    except LocalError as exc:
        # The provider refused our own request (bad setting): retrying cannot help.
        return [UpdateResult(h.hostname, Status.FATAL, "config", exc.message) for h in hosts]


def render(provider: Provider, hosts: Sequence[HostUpdate]) -> list[str]:
    """The requests ``hosts`` would cause, secrets redacted, nothing sent (``--dry-run``).

    Each HTTP exchange is answered with the provider's own plausible success
    reply (``HttpExchange.example_reply``), so a multi-step flow (look up the
    zone and record ids, then write) renders its later requests too, with
    placeholder ids such as ``ZONE_ID``. A step without an example reply ends
    the rendering after that request. DNS UPDATEs are answered NOERROR.
    """
    flow = provider.update(hosts)
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


__all__ = ["render", "run", "send_dns", "send_http", "update"]
