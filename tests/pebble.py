"""Let's Encrypt's test CA (Debian's pebble) on 127.0.0.1, validating DNS-01 against our DNS.

Every ACME test (homeport's own client, certbot, lego) gets its CA from here, so they all run
against the same peer the same way. Pebble keeps no state between runs and signs with a fresh
root each time: read the root from ``root_pem()`` after the start, never from a file of ours.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.tls import make_certificate
from tests.providers.dns_peers import free_port

STARTUP_LIMIT = 20.0  # seconds; pebble starts in well under one, a loaded 2-core machine is slower

# Pebble's test-only chaos, switched off: it sleeps up to 15 s before each validation and rejects
# 5 % of nonces on purpose (its README, "Testing at full speed" and "Invalid Anti-Replay Nonce
# Errors"). Clients retry bad nonces, but a test must not depend on luck.
QUIET_ENV = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0"}


@dataclass(frozen=True)
class Pebble:
    directory: str  # the ACME directory URL, https://127.0.0.1:PORT/dir
    management: str  # https://127.0.0.1:PORT (roots, intermediates, cert status)
    api_ca: Path  # the certificate pebble's own HTTPS API presents (trust it to talk ACME)
    workdir: Path

    def client_env(self) -> dict[str, str]:
        """Environment that makes certbot (requests) and lego trust pebble's API."""
        env = dict(os.environ)
        env["REQUESTS_CA_BUNDLE"] = str(self.api_ca)
        env["LEGO_CA_CERTIFICATES"] = str(self.api_ca)
        return env

    def root_pem(self) -> str:
        """The root that signs this run's certificates (changes every start)."""
        return _get(f"{self.management}/roots/0", self.api_ca)

    def write_root(self) -> Path:
        path = self.workdir / "pebble-root.pem"
        path.write_text(self.root_pem())
        return path


def _get(url: str, ca: Path) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return str(response.read().decode())


def write_config(
    workdir: Path, host: str, *, eab: dict[str, str] | None = None
) -> tuple[Path, Pebble]:
    """Pebble's config for listening on ``host`` (its API certificate is for that IP), and
    where it will be once started."""
    workdir.mkdir(parents=True, exist_ok=True)
    cert, key = make_certificate(workdir, host)
    api, management = free_port(), free_port()
    config = {
        "pebble": {
            "listenAddress": f"{host}:{api}",
            "managementListenAddress": f"{host}:{management}",
            "certificate": str(cert),
            "privateKey": str(key),
            # HTTP-01/TLS-ALPN-01 are not used; the ports must still be somewhere harmless.
            "httpPort": free_port(),
            "tlsPort": free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": eab is not None,
            **({"externalAccountMACKeys": eab} if eab is not None else {}),
        }
    }
    config_path = workdir / "pebble-config.json"
    config_path.write_text(json.dumps(config))
    pebble = Pebble(
        directory=f"https://{host}:{api}/dir",
        management=f"https://{host}:{management}",
        api_ca=cert,
        workdir=workdir,
    )
    return config_path, pebble


@contextmanager
def running_pebble(
    workdir: Path, dns_port: int, *, eab: dict[str, str] | None = None
) -> Iterator[Pebble]:
    """Start pebble resolving through 127.0.0.1:``dns_port``; stop it afterwards, failure or not.

    ``eab``: key id -> base64url HMAC key; when given, pebble requires External Account Binding.
    """
    config_path, pebble = write_config(workdir, "127.0.0.1", eab=eab)
    log = workdir / "pebble.log"
    env = dict(os.environ, **QUIET_ENV)
    with log.open("wb") as out:
        process = subprocess.Popen(
            ["pebble", "-config", str(config_path), "-dnsserver", f"127.0.0.1:{dns_port}"],
            stdout=out,
            stderr=out,
            env=env,
        )
    cert = pebble.api_ca
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            try:
                json.loads(_get(pebble.directory, cert))
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pebble did not start: {log.read_text()[-2000:]}") from None
                time.sleep(0.1)
        yield pebble
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
