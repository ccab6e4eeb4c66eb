"""Set-up snippets for one host, ready to copy: ddclient, inadyn, the homeport agent, routers,
and certificate clients (certbot, lego, acme.sh, Caddy) for its ACME DNS-01 challenge.

Pure text: the caller passes the server's public ``host[:port]`` (as the browser reached
it), whether that was HTTPS, the host's name and its secret (or a placeholder when the
secret is not known any more: it is shown once, at creation or rotation).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# Shown instead of the secret once it is gone: only its SHA-256 is stored.
SECRET_PLACEHOLDER = "YOUR-SECRET"  # noqa: S105 (a placeholder, not a secret)
# The same for a TSIG key not made on this page (or made before: shown once, too).
TSIG_PLACEHOLDER = "YOUR-TSIG-SECRET"
# RFC 2136 goes to the server's DNS port; the public default unless the listener says else.
DNS_PORT = 53


@dataclass(frozen=True)
class TsigKey:
    """A host's TSIG key for RFC 2136 (certbot, Caddy): name and algorithm as dnspython
    names them (``hmac-sha256``), the secret in base64 (None: not known any more)."""

    name: str  # absolute, with the dot
    algorithm: str
    secret: str | None = None


@dataclass(frozen=True)
class Snippet:
    title: str
    filename: str  # where it goes, as the client's documentation names it
    text: str


@dataclass(frozen=True)
class Target:
    server: str  # host[:port] the browser used: what the clients should use too
    https: bool
    fqdn: str  # without the trailing dot
    secret: str | None
    dns_port: int = DNS_PORT
    tsig: TsigKey | None = None

    @property
    def password(self) -> str:
        return self.secret if self.secret is not None else SECRET_PLACEHOLDER

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"

    @property
    def hostname(self) -> str:
        """The server's name or address as the browser reached it, without the port."""
        host = self.server.rsplit(":", 1)[0] if self.server.count(":") == 1 else self.server
        if host.startswith("[") and "]" in host:  # [v6]:port
            host = host[1 : host.index("]")]
        return host


def _quoted(value: str) -> str:
    """ddclient's single-quoted value: our secrets (token_urlsafe) need no escaping."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ddclient(t: Target) -> Snippet:
    # The seed guide's ddclient.conf (README "ddclient"), pointed at this server.
    text = (
        "daemon=600\n"
        "syslog=yes\n"
        f"ssl={'yes' if t.https else 'no'}\n"
        "protocol=dyndns2\n"
        f"use=web, web={t.scheme}://{t.server}/checkip, web-skip='IP Address'\n"
        f"server={t.server}\n"
        f"login={t.fqdn}\n"
        f"password={_quoted(t.password)}\n"
        f"{t.fqdn}\n"
    )
    return Snippet("ddclient", "/etc/ddclient.conf", text)


def inadyn(t: Target) -> Snippet:
    # inadyn 2.10 sends IPv6 as a separate request (myipv6=): one custom section per family.
    sections = []
    for name, key in (("homeport4", "myip"), ("homeport6", "myipv6")):
        sections.append(
            f"custom {name} {{\n"
            f"    username = {t.fqdn}\n"
            f'    password = "{t.password}"\n'
            f"    ssl = {'true' if t.https else 'false'}\n"
            f"    ddns-server = {t.server}\n"
            f'    ddns-path = "/nic/update?hostname=%h&{key}=%i"\n'
            f"    hostname = {t.fqdn}\n"
            "}\n"
        )
    text = "period = 600\nallow-ipv6 = true\n" + "".join(sections)
    return Snippet("inadyn", "/etc/inadyn.conf", text)


def agent(t: Target) -> Snippet:
    # docs/agent-config.md: the `homeport` provider speaks dyndns2 to this server.
    text = (
        "[[provider]]\n"
        'protocol = "homeport"\n'
        f'hosts = ["{t.fqdn}"]\n'
        f'server = "{t.server}"\n'
        f"ssl = {'true' if t.https else 'false'}\n"
        f'login = "{t.fqdn}"\n'
        f'password = "{t.password}"\n'
    )
    return Snippet("homeport agent", "/etc/homeport/agent.toml", text)


def router_fields(t: Target) -> list[tuple[str, str]]:
    """A router's "custom provider" page (FRITZ!Box, OpenWrt, pfSense/OPNsense, Netgear)."""
    # FRITZ!Box fills <domain>, <ipaddr>, <ip6addr>; others take the same URL with
    # their own placeholders, or just server, host name, user name and password.
    return [
        ("Update URL", f"{t.scheme}://{t.server}/nic/update?hostname=<domain>&myip=<ipaddr>"),
        ("Server", t.server),
        ("Domain name", t.fqdn),
        ("User name", t.fqdn),
        ("Password", t.password),
    ]


def snippets(t: Target) -> list[Snippet]:
    return [ddclient(t), inadyn(t), agent(t)]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _tsig(t: Target) -> TsigKey:
    return t.tsig if t.tsig is not None else TsigKey(t.fqdn + ".", "hmac-sha256")


def certbot(t: Target) -> Snippet:
    # certbot-dns-rfc2136's credentials file (its docs, "Credentials"); the key is the
    # host's TSIG key, which may set TXT at _acme-challenge.<host> only.
    key = _tsig(t)
    note = "" if _is_address(t.hostname) else "# certbot takes an IP address here, not a name\n"
    text = (
        f"{note}dns_rfc2136_server = {t.hostname}\n"
        f"dns_rfc2136_port = {t.dns_port}\n"
        f"dns_rfc2136_name = {key.name}\n"
        f"dns_rfc2136_secret = {key.secret or TSIG_PLACEHOLDER}\n"
        f"dns_rfc2136_algorithm = {key.algorithm.upper()}\n"
    )
    return Snippet("certbot rfc2136", "/etc/letsencrypt/homeport.ini (mode 0600)", text)


def certbot_command(t: Target) -> Snippet:
    text = (
        "certbot certonly --dns-rfc2136 \\\n"
        "  --dns-rfc2136-credentials /etc/letsencrypt/homeport.ini \\\n"
        # The server answers an update once its DNS serves it: no propagation to wait for.
        "  --dns-rfc2136-propagation-seconds 1 \\\n"
        f"  -d {t.fqdn} -d '*.{t.fqdn}'\n"
    )
    return Snippet("certbot command", "shell", text)


def lego(t: Target) -> Snippet:
    # lego's httpreq provider: the host's own name and secret (the server's /present).
    text = (
        f"HTTPREQ_ENDPOINT={t.scheme}://{t.server} \\\n"
        f"HTTPREQ_USERNAME={t.fqdn} \\\n"
        f"HTTPREQ_PASSWORD={t.password} \\\n"
        f"lego --email you@example.net --dns httpreq -d {t.fqdn} -d '*.{t.fqdn}' run\n"
    )
    return Snippet("lego httpreq", "shell", text)


def acme_sh(t: Target) -> Snippet:
    # acme.sh's dns_acmedns: the server speaks acme-dns, with registration only for the
    # host's own credentials (fulldomain is _acme-challenge.<host> itself: no CNAME).
    text = (
        "# once: the answer's username, password and subdomain go below\n"
        f"curl -s -u {t.fqdn}:{t.password} -X POST {t.scheme}://{t.server}/register\n"
        f"export ACMEDNS_BASE_URL={t.scheme}://{t.server}\n"
        "export ACMEDNS_USERNAME=USERNAME-FROM-REGISTER\n"
        "export ACMEDNS_PASSWORD=PASSWORD-FROM-REGISTER\n"
        "export ACMEDNS_SUBDOMAIN=SUBDOMAIN-FROM-REGISTER\n"
        f"acme.sh --issue --dns dns_acmedns -d {t.fqdn} -d '*.{t.fqdn}'\n"
    )
    return Snippet("acme.sh acme-dns", "shell", text)


def caddy(t: Target) -> Snippet:
    # The caddy-dns/rfc2136 module (not in Debian's caddy: build it with xcaddy).
    key = _tsig(t)
    text = (
        "# xcaddy build --with github.com/caddy-dns/rfc2136\n"
        f"{t.fqdn}, *.{t.fqdn} {{\n"
        "\ttls {\n"
        "\t\tdns rfc2136 {\n"
        f'\t\t\tkey_name "{key.name}"\n'
        f'\t\t\tkey_alg "{key.algorithm}"\n'
        f'\t\t\tkey "{key.secret or TSIG_PLACEHOLDER}"\n'
        f'\t\t\tserver "{t.hostname}:{t.dns_port}"\n'
        "\t\t}\n"
        "\t}\n"
        "\treverse_proxy localhost:8080\n"
        "}\n"
    )
    return Snippet("Caddy", "/etc/caddy/Caddyfile", text)


def certificate_snippets(t: Target) -> list[Snippet]:
    return [certbot(t), certbot_command(t), lego(t), acme_sh(t), caddy(t)]
