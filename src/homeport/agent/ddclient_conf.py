"""Run from the user's existing ddclient.conf, read as it is (docs/architecture.md, ddclient.conf).

The syntax lives in :mod:`homeport.agent.ddclient_lex`; this module maps the
settings onto the same model as the TOML file (:func:`homeport.agent.config.build`):

- ``daemon=`` -> poll interval; ``max-interval=`` -> refresh; ``min-error-interval=``
  -> first backoff; ``timeout=``;
- ``use=`` (web, if, cmd, ip, fw), ``usev4=`` (webv4, ifv4, cmdv4, ipv4, fwv4) and
  ``usev6=`` (webv6, ifv6, cmdv6, ipv6, fwv6) -> one source per family; the
  ``web=`` names ddclient knows (``dyndns``, ``ipify-ipv4``, ...) are understood;
- ``protocol=``, ``server=``, ``login=``, ``password=`` (or ``password_env=``),
  ``ssl=`` and the provider's other keys -> one ``[[provider]]`` per distinct
  account, hosts sharing settings grouped so one request carries them;
- ddclient keys homeport does not need (``syslog``, ``pid``, ``mail``, ...) are
  warnings; words ddclient does not know are errors, with their line.

ddclient refuses a file holding passwords unless it is mode 0600; we warn.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from typing import Any

import pydantic

from homeport.agent import credentials
from homeport.agent import ddclient_lex as lex
from homeport.agent.config import AgentConfig, build
from homeport.errors import ConfigError

# ddclient's built-in web= names (ddclient 3.11 %builtinweb) and their skip patterns.
BUILTIN_WEB: dict[str, tuple[str, str]] = {
    "dyndns": ("http://checkip.dyndns.org/", "Current IP Address:"),
    "freedns": ("https://freedns.afraid.org/dynamic/check.php", ""),
    "googledomains": ("https://domains.google.com/checkip", ""),
    "he": ("https://checkip.dns.he.net/", ""),
    "ip4only.me": ("https://ip4only.me/api/", ""),
    "ip6only.me": ("https://ip6only.me/api/", ""),
    "ipify-ipv4": ("https://api.ipify.org/", ""),
    "ipify-ipv6": ("https://api6.ipify.org/", ""),
    "loopia": ("https://dns.loopia.se/checkip/checkip.php", "Current IP Address:"),
    "myonlineportal": ("https://myonlineportal.net/checkip", ""),
    "noip-ipv4": ("http://ip1.dynupdate.no-ip.com/", ""),
    "noip-ipv6": ("http://ip1.dynupdate6.no-ip.com/", ""),
    "nsupdate.info-ipv4": ("https://ipv4.nsupdate.info/myip", ""),
    "nsupdate.info-ipv6": ("https://ipv6.nsupdate.info/myip", ""),
    "zoneedit": ("https://dynamic.zoneedit.com/checkip.html", "Current IP Address:"),
}

# Keys whose meaning is global to the agent.
_TIMING = {"daemon", "max-interval", "min-error-interval", "timeout"}
# How the address is found: handled per family below.
_DETECTION = {
    "use",
    "usev4",
    "usev6",
    "web",
    "web-skip",
    "webv4",
    "webv4-skip",
    "webv6",
    "webv6-skip",
    "if",
    "if-skip",
    "ifv4",
    "ifv6",
    "cmd",
    "cmd-skip",
    "cmdv4",
    "cmdv6",
    "ip",
    "ipv4",
    "ipv6",
    "fw",
    "fw-skip",
    "fwv4",
    "fwv4-skip",
    "fwv6",
    "fwv6-skip",
}
# ddclient keys with no job here (logging, mail, pid file, its own cache, its cmdline options).
_IGNORED = {
    "syslog",
    "facility",
    "priority",
    "mail",
    "mail-failure",
    "pid",
    "cache",
    "foreground",
    "file",
    "debug",
    "verbose",
    "quiet",
    "query",
    "test",
    "help",
    "max-warn",
    "exec",
    "retry",
    "force",
    "min-interval",
    "postscript",
    "proxy",
    "geturl",
    "ssl_ca_dir",
    "ssl_ca_file",
    "web-ssl-validate",
    "fw-ssl-validate",
    "fw-login",
    "fw-password",
    "fw-banlocal",
    "fwlogin",
    "fwpassword",
    "redirect",
    "host",
    "options",
}
# Keys that configure the DNS provider (ddclient's per-protocol variables).
_PROVIDER = {
    "protocol",
    "server",
    "login",
    "password",
    "ssl",
    "wildcard",
    "mx",
    "backupmx",
    "static",
    "custom",
    "zone",
    "ttl",
    "min-ttl",
    "script",
    "apikey",
    "api-token",
    "token",
    "dnsserver",
    "tcp",
    "on-root-domain",
    "client_id",
    "usev6-cmd",
    "password_env",
    "login_env",
}
_KNOWN = _TIMING | _DETECTION | _IGNORED | _PROVIDER
# ddclient names -> the field a provider's Settings may have.
_RENAME = {"script": "path", "api-token": "token", "min-ttl": "ttl"}
# ddclient's own default checkip when use=web names no web=.
DEFAULT_WEB = "dyndns"


def _bool(value: str) -> bool | str:
    lowered = value.strip().lower()
    if lowered in {"yes", "y", "true", "1", "on"}:
        return True
    if lowered in {"no", "n", "false", "0", "off", ""}:
        return False
    return value


def _web(url: str, skip: str, ssl: bool, label: str) -> dict[str, Any]:
    if url.lower() in BUILTIN_WEB:
        url, default_skip = BUILTIN_WEB[url.lower()]
        skip = skip or default_skip
    elif "://" not in url:
        url = f"{'https' if ssl else 'http'}://{url}"
    return {"type": "web", "url": url, "skip": skip, "label": label}


def _source(
    family: int, s: dict[str, lex.Setting]
) -> tuple[dict[str, Any] | None, int | None, str]:
    """One family's source from ddclient's use/usev4/usev6 keys: (source, line, problem)."""

    def val(key: str) -> str:
        return s[key].value if key in s else ""

    ssl = _bool(val("ssl")) is True
    v = f"v{family}"
    if f"use{v}" in s:
        method, line = val(f"use{v}").lower(), s[f"use{v}"].line
        method = method.removesuffix(v)  # webv4 -> web, ifv6 -> if
    elif family == 4 and "use" in s:
        method, line = val("use").lower(), s["use"].line
        v = ""
    else:
        return None, None, ""
    if method in {"disabled", "no", "none", ""}:
        return None, line, ""
    web_key = f"web{v}" if f"web{v}" in s else "web"
    if method == "web":
        url = val(web_key) or DEFAULT_WEB
        skip = val(f"{web_key}-skip")
        return _web(url, skip, ssl, f"web:{url}"), line, ""
    if method == "fw":
        fw_key = f"fw{v}" if f"fw{v}" in s else "fw"
        if not val(fw_key):
            return None, line, f"use{v}=fw needs {fw_key}="
        # ddclient fetches fw= pages with ignore_ssl_option: plain http unless the URL says https.
        return _web(val(fw_key), val(f"{fw_key}-skip"), False, f"fw:{val(fw_key)}"), line, ""
    if method == "if":
        name = val(f"if{v}") or val("if")
        if not name:
            return None, line, f"use{v}=if needs if{v}="
        return {"type": "interface", "interface": name, "label": f"if:{name}"}, line, ""
    if method == "cmd":
        command = val(f"cmd{v}") or val("cmd")
        if not command:
            return None, line, f"use{v}=cmd needs cmd{v}="
        return (
            {"type": "cmd", "command": command, "skip": val("cmd-skip"), "label": "cmd"},
            line,
            "",
        )
    if method == "ip":
        address = val(f"ip{v}") or val("ip")
        if not address:
            return None, line, f"use{v}=ip needs ip{v}="
        return {"type": "static", "address": address, "label": f"ip:{address}"}, line, ""
    return None, line, f"use{v}={method} (a router model) is not supported; use web, if, cmd or ip"


def load(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    need_providers: bool = True,
    text: str | None = None,
) -> AgentConfig:
    """Read a ddclient.conf into an AgentConfig; ConfigError lists every problem with its line."""

    origin = str(path)
    parsed = lex.parse(lex.read(origin) if text is None else text)
    problems = [f"{origin}:{line}: {message}" for line, message in parsed.problems]
    warnings: list[str] = []
    data: dict[str, Any] = {"agent": {}, "provider": []}
    lines: dict[tuple[str | int, ...], int] = {}

    every = [("", parsed.globals)] + [(h.name, h.settings) for h in parsed.hosts]
    seen_keys: dict[str, lex.Setting] = {}
    for _, settings in every:
        for key, setting in settings.items():
            seen_keys.setdefault(key, setting)
    for key, setting in sorted(seen_keys.items(), key=lambda kv: kv[1].line):
        base = key.removesuffix("_env")
        if key not in _KNOWN and base not in _KNOWN:
            problems.append(f"{origin}:{setting.line}: unknown ddclient setting {key!r}")
        elif key in _IGNORED:
            warnings.append(
                f"{origin}:{setting.line}: {key}= is a ddclient setting"
                " homeport does not use; ignored"
            )

    timing = {
        "daemon": "interval",
        "max-interval": "refresh",
        "min-error-interval": "retry_min",
        "timeout": "timeout",
    }
    for key, target in timing.items():
        found: lex.Setting | None = parsed.globals.get(key) or next(
            (h.settings[key] for h in parsed.hosts if key in h.settings), None
        )
        if found is None:
            continue
        if key == "daemon" and found.value.strip() in {"0", ""}:
            warnings.append(f"{origin}:{found.line}: daemon=0 means one run: use --once")
            continue
        data["agent"][target] = found.value
        lines[("agent", target)] = found.line

    first = parsed.hosts[0].settings if parsed.hosts else parsed.globals
    for family in (4, 6):
        source, line, problem = _source(family, first)
        if problem:
            problems.append(f"{origin}:{line}: {problem}")
        if source is not None:
            data[f"ipv{family}"] = {"source": [source], "require": 1}
            if line:
                lines[(f"ipv{family}", "source", 0)] = line
        elif line is not None or family == 6:
            data[f"ipv{family}"] = {"enabled": False}
        for host in parsed.hosts[1:]:
            other = _source(family, host.settings)[0]
            if other != source:
                warnings.append(
                    f"{origin}:{host.line}: {host.name} finds its address differently; "
                    "homeport detects once for all hosts and uses the first host's method"
                )

    groups: dict[str, int] = {}
    for host in parsed.hosts:
        protocol = host.settings.get("protocol", lex.Setting("dyndns2", host.line))
        mapped = _provider_entry(origin, host, protocol.value, env, warnings, problems)
        if mapped is None:
            continue
        entry, entry_lines = mapped
        signature = repr((protocol.value, sorted(entry.items())))
        if signature in groups:
            data["provider"][groups[signature]]["hosts"].append(host.name)
            continue
        index = len(data["provider"])
        groups[signature] = index
        data["provider"].append({"protocol": protocol.value, "hosts": [host.name], **entry})
        lines[("provider", index)] = host.line
        lines[("provider", index, "hosts")] = host.line
        lines[("provider", index, "protocol")] = protocol.line
        for name, line in entry_lines.items():
            lines[("provider", index, name)] = line

    if need_providers and not parsed.hosts:
        problems.append(f"{origin}: no host names: add a line naming the hosts to update")
    holds_password = any(s.get("password") and s["password"].value for _, s in every)
    warnings += _mode_warning(origin, holds_password)
    if problems:
        raise ConfigError(
            problems[0]
            if len(problems) == 1
            else f"{origin}: {len(problems)} problems; first: {problems[0]}",
            tuple(problems),
        )
    return build(
        data,
        origin=origin,
        lines=lines,
        env=env,
        warnings=tuple(warnings),
        need_providers=need_providers,
    )


def _provider_entry(
    origin: str,
    host: lex.HostDef,
    protocol: str,
    env: Mapping[str, str] | None,
    warnings: list[str],
    problems: list[str],
) -> tuple[dict[str, Any], dict[str, int]] | None:
    """One host's provider settings (as config data) and the line of each."""
    from homeport import providers

    entry: dict[str, Any] = {}
    entry_lines: dict[str, int] = {}
    try:
        cls: Any = providers.get(protocol)
    except ConfigError:
        cls = None  # reported with its line when the config is built
    known = set(cls.Settings.model_fields) if cls else set()
    # A provider names the ddclient options it spells differently (Cloudflare's
    # password= is its token); providers without the table use ddclient's names.
    renames = {k.replace("_", "-"): v for k, v in getattr(cls, "ddclient_renames", {}).items()}
    # A provider may read ddclient's options itself (nsupdate's password= is a key file).
    own_reader = cls is not None and _reads_ddclient(cls)
    options: dict[str, str] = {}
    for key, setting in host.settings.items():
        base = key.removesuffix("_env")
        if base not in _PROVIDER or key == "protocol":
            continue
        value = setting.value
        if own_reader and key.endswith("_env"):
            try:
                value = credentials.resolve(key, value, os.environ if env is None else env)
            except credentials.SecretProblem as exc:
                problems.append(f"{origin}:{setting.line}: {key}: {exc}")
                return None
        options[base] = value
        name = renames.get(base) or _RENAME.get(base, base).replace("-", "_")
        if known and name not in known and not own_reader:
            warnings.append(
                f"{origin}:{setting.line}: {key}= is not used by protocol {protocol}; ignored"
            )
            continue
        name += "_env" if key.endswith("_env") else ""
        entry[name] = _bool(setting.value) if name == "ssl" else setting.value
        entry_lines[name] = setting.line
    if not own_reader:
        return entry, entry_lines
    try:
        settings = cls.settings_from_ddclient(options)
    except ConfigError as exc:
        problems += [f"{origin}:{host.line}: {host.name}: {p}" for p in exc.problems]
        return None
    values = {
        name: v.get_secret_value() if isinstance(v, pydantic.SecretStr) else v
        for name, v in dict(settings).items()
    }
    return values, {name: entry_lines.get(name, host.line) for name in values}


def _reads_ddclient(cls: Any) -> bool:
    """Whether the provider overrides the generic ddclient option reader."""
    from homeport.providers.base import Provider

    mine = getattr(cls, "settings_from_ddclient", None)
    generic = getattr(Provider, "settings_from_ddclient", None)
    return mine is not None and getattr(mine, "__func__", mine) is not getattr(
        generic, "__func__", generic
    )


def _mode_warning(origin: str, holds_password: bool) -> list[str]:
    try:
        mode = os.stat(origin).st_mode
    except OSError:
        return []
    if holds_password and mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            f"{origin}: holds passwords but is mode {stat.S_IMODE(mode):04o}; "
            f"run chmod 600 {origin} (ddclient refuses such a file)"
        ]
    return []
