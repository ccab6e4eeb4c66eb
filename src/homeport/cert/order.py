"""One ACME order (RFC 8555) for NAME and ``*.NAME`` over DNS-01, with certbot's ``acme``.

The library speaks the protocol (JWS, nonces, EAB, polling); this module decides the
order of things: account (created once per CA, EAB when the CA requires it), order,
every challenge value published through the provider and *seen served* by the zone's
authoritative DNS, then the challenges answered, the order finalized, the files
written, and the TXT values deleted again whatever happened.

The ``acme`` client is synchronous (requests); its calls run in a worker thread so
the TXT work (asyncio, like every other provider flow) shares one event loop.
Foreign errors are translated here: ``acme.messages.Error`` (the CA's problem
document) and ``acme.errors.Error`` become RemoteError, ``requests`` failures
TransportError; none of them can carry the EAB key, which is never sent as it is.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import requests
from acme import challenges, client, crypto_util, errors, messages
from cryptography import x509
from josepy.jwa import ES256
from josepy.jwk import JWKEC

from homeport import __version__
from homeport.cert import dns01, store
from homeport.errors import HomeportError, RemoteError, TransportError, UsageError
from homeport.providers.base import Provider, TxtChange

log = logging.getLogger("homeport.cert")

# Let's Encrypt's directories (https://letsencrypt.org/docs/acme-protocol-updates/,
# https://letsencrypt.org/docs/staging-environment/): production by default, staging for
# trying a setup without touching production's rate limits.
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETSENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
DIRECTORIES = {"letsencrypt": LETSENCRYPT, "letsencrypt-staging": LETSENCRYPT_STAGING}
# The CA validates within seconds of our answer; 90 s is the acme library's own default.
ORDER_LIMIT = 90.0
AUTHZ_POLL = 0.25  # the library polls once a second; the CA answers in milliseconds
NETWORK_TIMEOUT = 30  # per ACME request (acme's default is 45)
USER_AGENT = f"homeport/{__version__} acme-python"

_T = TypeVar("_T")


@dataclass(frozen=True)
class Request:
    """What to obtain: ``name`` and, with ``wildcard``, ``*.name`` in one certificate."""

    name: str
    directory: str = LETSENCRYPT
    wildcard: bool = True
    key_type: str = "ec256"
    email: str | None = None
    ca_bundle: str | None = None  # PEM file to trust for the CA's own HTTPS
    eab_kid: str | None = None
    eab_hmac_key: str | None = field(default=None, repr=False)  # base64url, a secret
    dns: tuple[str, int] | None = None  # where to see the TXT served; default: provider's

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, f"*.{self.name}") if self.wildcard else (self.name,)


@dataclass(frozen=True)
class Issued:
    path: Path
    names: tuple[str, ...]
    not_after: float
    dns_wait: float  # seconds between the last TXT written and the server serving it


def directory_url(value: str) -> str:
    """A directory URL from a URL or a named default (``letsencrypt``, ``letsencrypt-staging``)."""
    if value in DIRECTORIES:
        return DIRECTORIES[value]
    if not value.startswith("https://"):
        raise UsageError(
            f"ACME directory must be an https:// URL or one of {', '.join(DIRECTORIES)}"
        )
    return value


async def _call(function: Callable[..., _T], *args: Any) -> _T:
    """Run one blocking ``acme`` call in a thread, its errors translated."""
    try:
        return await asyncio.to_thread(function, *args)
    except messages.Error as exc:
        raise RemoteError(f"the CA said: {exc.detail or exc.typ}") from exc
    except errors.ValidationError as exc:
        problems = [
            f"{a.body.identifier.value}: {c.error.detail or c.error.typ}"
            for a in exc.failed_authzrs
            for c in a.body.challenges
            if c.error is not None
        ]
        raise RemoteError(f"validation failed: {'; '.join(problems)}") from exc
    except errors.TimeoutError as exc:
        raise TransportError(f"the CA did not finish within {ORDER_LIMIT:g} s") from exc
    except errors.Error as exc:
        raise RemoteError(f"ACME: {type(exc).__name__}: {exc}") from exc
    except requests.exceptions.SSLError as exc:
        raise TransportError(
            "the CA's TLS certificate is not trusted (use --ca-bundle for a private CA)"
        ) from exc
    except requests.exceptions.RequestException as exc:
        raise TransportError(f"cannot talk to the CA ({type(exc).__name__})") from exc


class Session:
    """A logged-in ACME client for one CA directory."""

    def __init__(self, acme: client.ClientV2, key: JWKEC) -> None:
        self.acme = acme
        self.key = key

    @classmethod
    async def open(cls, request: Request, root: Path) -> Session:
        url = directory_url(request.directory)
        key = JWKEC(key=store.account_key(root, url))
        net = client.ClientNetwork(key, alg=ES256, user_agent=USER_AGENT, timeout=NETWORK_TIMEOUT)
        if request.ca_bundle:
            # requests takes a CA file path where acme's annotation says bool.
            net.verify_ssl = request.ca_bundle  # type: ignore[assignment]
        directory = await _call(client.ClientV2.get_directory, url, net)
        acme = client.ClientV2(directory, net)
        eab = None
        if request.eab_kid and request.eab_hmac_key:
            eab = messages.ExternalAccountBinding.from_data(
                key.public_key(), request.eab_kid, request.eab_hmac_key, directory
            )
        elif acme.external_account_required():
            raise UsageError(
                "this CA requires External Account Binding: give --eab-kid and the HMAC "
                "key (HOMEPORT_EAB_HMAC_KEY, or eab_hmac_key in [[certificate]])"
            )
        registration = messages.NewRegistration.from_data(
            email=request.email, terms_of_service_agreed=True, external_account_binding=eab
        )
        try:
            await _call(acme.new_account, registration)
        except RemoteError as exc:
            # The account exists already (same key): the CA answered with its URL.
            if not isinstance(exc.__cause__, errors.ConflictError):
                raise
            location = exc.__cause__.location
            net.account = messages.RegistrationResource(body=messages.Registration(), uri=location)
        return cls(acme, key)


async def issue(
    request: Request,
    provider: Provider,
    root: Path,
    *,
    time_limit: float = 30.0,
    emit: Callable[[str], None] = log.info,
) -> Issued:
    """Obtain a certificate for ``request.names`` and write it under ``root/NAME``."""
    # Fail before the order if this provider cannot set TXT at all (its generator raises
    # at the first step; one that can stops there, before yielding anything to send).
    _can_set_txt(provider, request.name)
    server = request.dns or provider.txt_server()
    if server is None:
        raise UsageError(f"say where {request.name}'s zone is served: --dns HOST:PORT")
    session = await Session.open(request, root)
    key = store.new_key(request.key_type)
    key_pem = store.key_pem(key)
    csr = crypto_util.make_csr(key_pem, list(request.names))
    order = await _call(session.acme.new_order, csr)
    pending = []
    for authz in order.authorizations:
        if authz.body.status == messages.STATUS_VALID:
            continue  # validated recently for this account (the CA may reuse it)
        challenge = next(
            (c for c in authz.body.challenges if isinstance(c.chall, challenges.DNS01)), None
        )
        if challenge is None:
            raise RemoteError(f"the CA offers no dns-01 challenge for {authz.body.identifier}")
        domain = authz.body.identifier.value
        fqdn = challenge.chall.validation_domain_name(domain)
        value = challenge.chall.validation(session.key)
        pending.append((authz, challenge, TxtChange(fqdn, value, present=True)))
    written: list[TxtChange] = []
    try:
        for _, _, change in pending:
            await dns01.change(provider, change, time_limit=time_limit)
            written.append(change)
        wanted: dict[str, set[str]] = {}
        for change in written:
            wanted.setdefault(change.fqdn, set()).add(change.value)
        waited = await dns01.wait_served(server, wanted) if wanted else 0.0
        emit(f"{request.name}: challenge served by {server[0]}:{server[1]} after {waited:.2f} s")
        for _, challenge, _ in pending:
            response = challenge.chall.response(session.key)
            await _call(session.acme.answer_challenge, challenge, response)
        deadline = time.monotonic() + ORDER_LIMIT
        for authz, _, _ in pending:
            await _until_valid(session.acme, authz, deadline)
        finish = datetime.datetime.now() + datetime.timedelta(seconds=ORDER_LIMIT)
        order = await _call(session.acme.finalize_order, order, finish)
    finally:
        for change in written:
            cleanup = TxtChange(change.fqdn, change.value, present=False)
            try:
                await dns01.change(provider, cleanup, time_limit=time_limit)
            except HomeportError as exc:
                log.warning("%s: challenge not cleaned up: %s", change.fqdn, exc)
    fullchain = order.fullchain_pem.encode()
    path = store.write(root, request.name, fullchain, key_pem)
    cert = x509.load_pem_x509_certificate(fullchain)
    return Issued(path, request.names, cert.not_valid_after_utc.timestamp(), waited)


def _can_set_txt(provider: Provider, name: str) -> None:
    flow = provider.txt(TxtChange(f"_acme-challenge.{name}", "-", present=True))
    try:
        next(flow)
    finally:
        flow.close()


async def _until_valid(
    acme: client.ClientV2, authz: messages.AuthorizationResource, deadline: float
) -> None:
    while True:
        authz, _ = await _call(acme.poll, authz)
        status = authz.body.status
        if status == messages.STATUS_VALID:
            return
        if status != messages.STATUS_PENDING:
            problems = [c.error.detail for c in authz.body.challenges if c.error is not None]
            raise RemoteError(
                f"{authz.body.identifier.value}: validation {status.name}: "
                + ("; ".join(str(p) for p in problems) or "no reason given")
            )
        if time.monotonic() > deadline:
            raise TransportError(f"the CA did not validate within {ORDER_LIMIT:g} s")
        await asyncio.sleep(AUTHZ_POLL)


async def revoke(request: Request, root: Path) -> None:
    """Revoke NAME's certificate with the account that ordered it (reason unspecified)."""
    stored = store.read(root, request.name)
    path = stored.path / store.FULLCHAIN
    if stored.current is None:
        raise UsageError(f"no certificate for {request.name} in {stored.path}")
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    session = await Session.open(request, root)
    await _call(session.acme.revoke, cert, 0)
