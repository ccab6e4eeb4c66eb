"""ddclient.conf read as it is: the seed's file, every syntax rule, one line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeport.agent import ddclient_conf, ddclient_lex
from homeport.agent.config import AgentConfig
from homeport.errors import ConfigError
from homeport.providers.duckdns import DuckDNSProvider, DuckDNSSettings
from tests.helpers import run_homeport

SEED = Path(__file__).parent / "data" / "seed-ddclient.conf"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "ddclient.conf"
    path.write_text(text)
    path.chmod(mode)
    return path


def load(
    tmp_path: Path, text: str, mode: int = 0o600, env: dict[str, str] | None = None
) -> AgentConfig:
    return ddclient_conf.load(write(tmp_path, text, mode), env=env or {})


def test_the_seed_file_loads() -> None:
    cfg = ddclient_conf.load(SEED, env={})
    assert cfg.agent.interval == 600
    (provider,) = cfg.providers
    assert provider.protocol == "dyndns2"
    assert provider.hosts == ("myhome.dyndns.org",)
    settings = provider.settings.model_dump()
    assert settings["server"] == "members.dyndns.org"
    assert settings["ssl"] is True
    assert settings["login"] == "myusername"
    assert provider.settings.password.get_secret_value() == "my-password"  # type: ignore[attr-defined]
    (source,) = cfg.ipv4.sources
    # ssl=yes makes the scheme-less checkip URL https, as ddclient does
    assert source.model_dump()["url"] == "https://checkip.dyndns.com"
    assert source.model_dump()["skip"] == "IP Address"
    assert cfg.ipv4.require == 1
    assert not cfg.ipv6.enabled
    assert any("syslog" in w for w in cfg.warnings)


def test_continuation_comments_and_empty_values(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "protocol=dyndns2 \\\n"
        "use=web, web=127.0.0.1:8080/ip \\\n"
        "login= \\\n"
        "password='' \\\n"
        "\n"
        "server=example.net, ssl=no   # trailing comment with = and , inside\n"
        "# a full comment line, host.example.org\n"
        "host.example.org\n",
    )
    settings = cfg.providers[0].settings.model_dump()
    assert settings["login"] == ""
    assert cfg.providers[0].hosts == ("host.example.org",)
    assert cfg.ipv4.sources[0].model_dump()["url"] == "http://127.0.0.1:8080/ip"


def test_quotes_and_escapes() -> None:
    parsed = ddclient_lex.parse(
        "password='a b,c#d' login=\"x\\\"y\" server=plain\\ space web-skip=Current' IP 'Address\n"
        "h.example.org\n"
    )
    host = parsed.hosts[0].settings
    assert host["password"].value == "a b,c#d"
    assert host["login"].value == 'x"y'
    assert host["server"].value == "plain space"
    assert host["web-skip"].value == "Current IP Address"


def test_hosts_take_the_settings_seen_so_far_and_per_host_overrides(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "protocol=dyndns2, use=ip, ip=203.0.113.5\n"
        "server=one.example, login=a, password=p1\n"
        "a.example.org, b.example.org\n"
        "login=other, password=p2 c.example.org\n"
        "server=two.example\n"
        "d.example.org\n",
    )
    groups = [
        (p.hosts, p.settings.model_dump()["server"], p.settings.model_dump()["login"])
        for p in cfg.providers
    ]
    assert groups == [
        (("a.example.org", "b.example.org"), "one.example", "a"),
        (("c.example.org",), "one.example", "other"),
        (("d.example.org",), "two.example", "a"),
    ]


def test_legacy_host_login_password_form() -> None:
    parsed = ddclient_lex.parse("protocol=dyndns2\nh.example.org me secret\n")
    assert parsed.hosts[0].settings["login"].value == "me"
    assert parsed.hosts[0].settings["password"].value == "secret"


def test_password_env(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "protocol=dyndns2, use=ip, ip=203.0.113.5, server=s.example, login=me\n"
        "password_env=DDNS_PW h.example.org\n",
        env={"DDNS_PW": "from-env"},
    )
    assert cfg.providers[0].settings.password.get_secret_value() == "from-env"  # type: ignore[attr-defined]


def test_missing_env_names_the_variable_and_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "protocol=dyndns2, login=me\npassword_env=NOPE_PW h.example.org\n")
    assert any(":2:" in p and "NOPE_PW is not set" in p for p in caught.value.problems)


@pytest.mark.parametrize(
    ("text", "family", "expected"),
    [
        (
            "use=web, web=dyndns",
            4,
            {"type": "web", "url": "http://checkip.dyndns.org/", "skip": "Current IP Address:"},
        ),
        ("use=if, if=eth0", 4, {"type": "interface", "interface": "eth0"}),
        (
            "use=cmd, cmd='/bin/echo 203.0.113.9', cmd-skip=x",
            4,
            {"type": "cmd", "command": "/bin/echo 203.0.113.9", "skip": "x"},
        ),
        ("use=ip, ip=203.0.113.9", 4, {"type": "static", "address": "203.0.113.9"}),
        (
            "use=fw, fw=192.0.2.1/status, fw-skip=WAN",
            4,
            {"type": "web", "url": "http://192.0.2.1/status", "skip": "WAN"},
        ),
        ("usev4=webv4, webv4=ipify-ipv4", 4, {"type": "web", "url": "https://api.ipify.org/"}),
        ("usev4=ifv4, ifv4=ppp0", 4, {"type": "interface", "interface": "ppp0"}),
        ("usev4=cmdv4, cmdv4=/usr/bin/true", 4, {"type": "cmd", "command": "/usr/bin/true"}),
        ("usev4=ipv4, ipv4=203.0.113.9", 4, {"type": "static", "address": "203.0.113.9"}),
        (
            "usev6=webv6, webv6=127.0.0.1/v6, webv6-skip=IP",
            6,
            {"type": "web", "url": "http://127.0.0.1/v6", "skip": "IP"},
        ),
        ("usev6=ifv6, ifv6=eth0", 6, {"type": "interface", "interface": "eth0"}),
        ("usev6=cmdv6, cmdv6=/usr/bin/true", 6, {"type": "cmd", "command": "/usr/bin/true"}),
        ("usev6=ipv6, ipv6=2001:db8::1", 6, {"type": "static", "address": "2001:db8::1"}),
    ],
)
def test_use_methods(tmp_path: Path, text: str, family: int, expected: dict[str, str]) -> None:
    cfg = load(tmp_path, f"protocol=dyndns2, login=a, password=b, {text}\nh.example.org\n")
    fam = cfg.family(family)  # type: ignore[arg-type]
    assert fam.enabled
    (source,) = fam.sources
    dumped = source.model_dump()
    assert {k: dumped[k] for k in expected} == expected


def test_usev4_disabled_and_usev6_only(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "protocol=dyndns2, login=a, password=b, usev4=disabled\n"
        "usev6=ipv6, ipv6=2001:db8::5\nh.example.org\n",
    )
    assert not cfg.ipv4.enabled
    assert cfg.ipv6.enabled


def test_one_line_per_problem_with_line_numbers(tmp_path: Path) -> None:
    text = (
        "daemon=soon\n"  # 1: bad duration
        "protocol=dyndns2, login=a, password=b\n"
        "frobnicate=yes\n"  # 3: not a ddclient word
        "use=linksys\n"  # 4: router model
        "h.example.org\n"
    )
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    problems = caught.value.problems
    assert any(p.endswith(":3: unknown ddclient setting 'frobnicate'") for p in problems), problems
    assert any(":4:" in p and "linksys" in p for p in problems), problems
    assert len(problems) == 2  # the duration is reported once the words are fixed


def test_schema_problems_keep_their_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "daemon=soon\nprotocol=dyndns2, use=ip, ip=203.0.113.1\nlogin=a\nh.example.org\n",
        )
    problems = caught.value.problems
    assert any(":1: agent.interval: must be a duration" in p for p in problems), problems
    assert any(":4: provider[0].password: Field required" in p for p in problems), problems


def test_unknown_protocol_points_at_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "login=a, password=b\nprotocol=nosuch\nh.example.org\n")
    assert any(
        ":2: provider[0].protocol: unknown provider 'nosuch'" in p for p in caught.value.problems
    )


def test_unused_but_valid_ddclient_keys_warn(tmp_path: Path) -> None:
    cfg = load(
        tmp_path,
        "pid=/run/ddclient.pid\nmail=root\n"
        "protocol=dyndns2, login=a, password=b, use=ip, ip=203.0.113.1\nh.example.org\n",
    )
    assert any(":1: pid=" in w for w in cfg.warnings)
    assert any(":2: mail=" in w for w in cfg.warnings)


def test_mode_warning_for_passwords(tmp_path: Path) -> None:
    text = "protocol=dyndns2, login=a, password=secret, use=ip, ip=203.0.113.1\nh.example.org\n"
    cfg = load(tmp_path, text, mode=0o644)
    (warning,) = [w for w in cfg.warnings if "chmod 600" in w]
    assert "0644" in warning
    assert "secret" not in warning
    assert not [w for w in load(tmp_path, text, mode=0o600).warnings if "chmod" in w]


def test_bad_config_exits_nonzero_without_traceback(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "protocol=dyndns2, login=a, password=hunter2\nfrobnicate=1\nuse=linksys\nh.example.org\n",
    )
    result = run_homeport("agent", "check-config", "--ddclient", str(path))
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 2
    assert f"{path}:2:" in lines[0]
    assert f"{path}:3:" in lines[1]
    assert "hunter2" not in result.stderr


def test_check_config_ok_on_the_seed() -> None:
    import subprocess
    import sys

    from tests.helpers import ROOT, homeport_env

    result = subprocess.run(
        [sys.executable, "-m", "homeport", "agent", "check-config", str(SEED)],
        capture_output=True,
        text=True,
        env=homeport_env(),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK: 1 provider(s), 1 host(s)" in result.stdout


_VALUE = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\n\r"),
    max_size=30,
)


@given(value=_VALUE)
def test_any_value_survives_ddclient_quoting(value: str) -> None:
    """Escaping every special character ddclient's way reads back the exact value."""
    escaped = "".join("\\" + c if c in "\\'\" ,#=" or c.isspace() else c for c in value)
    for written in (
        escaped,
        f"'{value.replace(chr(92), chr(92) * 2).replace(chr(39), chr(92) + chr(39))}'",
    ):
        parsed = ddclient_lex.parse(f"password={written} login=x h.example.org\n")
        assert parsed.problems == []
        assert parsed.hosts[0].settings["password"].value == value
        assert parsed.hosts[0].settings["login"].value == "x"


def test_provider_spellings_of_ddclient_options(tmp_path: Path) -> None:
    """ddclient's password= is DuckDNS's token (the provider's ddclient_renames)."""
    cfg = load(
        tmp_path,
        "protocol=duckdns, use=ip, ip=203.0.113.1\n"
        "login=ignored-by-duckdns\n"
        "password_env=DUCK_TOKEN myhome.duckdns.org\n",
        env={"DUCK_TOKEN": "tok"},
    )
    (provider,) = cfg.providers
    assert provider.settings.token.get_secret_value() == "tok"  # type: ignore[attr-defined]
    assert any(":2: login= is not used by protocol duckdns" in w for w in cfg.warnings)


def test_no_hosts_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, "protocol=dyndns2, login=a, password=b\n")
    assert caught.value.problems == (
        f"{tmp_path / 'ddclient.conf'}: no host names: add a line naming the hosts to update",
    )


class _KeyFileProvider(DuckDNSProvider):
    """Reads ddclient's password= as a key file, like ddclient's nsupdate."""

    name = "keyfile-test"

    @classmethod
    def settings_from_ddclient(cls, options: dict[str, str]) -> DuckDNSSettings:
        try:
            token = Path(options["password"]).read_text().strip()
        except (KeyError, OSError):
            raise ConfigError("password: cannot read the key file") from None
        return DuckDNSSettings(token=token)  # type: ignore[arg-type]


def test_a_provider_that_reads_ddclient_options_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    from homeport import providers

    module = types.ModuleType("tests.agent.keyfile_provider")
    module.PROVIDER = _KeyFileProvider  # type: ignore[attr-defined]
    # Registered for this test only: other tests list every registered provider.
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(providers._MODULES, "keyfile-test", module.__name__)
    key = tmp_path / "key"
    key.write_text("secret-from-file\n")
    cfg = load(
        tmp_path, f"protocol=keyfile-test, use=ip, ip=203.0.113.1\npassword={key} h.example.org\n"
    )
    assert cfg.providers[0].settings.token.get_secret_value() == "secret-from-file"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError) as caught:
        load(
            tmp_path,
            "protocol=keyfile-test, use=ip, ip=203.0.113.1\npassword=/nonexistent h.example.org\n",
        )
    assert caught.value.problems == (
        f"{tmp_path / 'ddclient.conf'}:2: h.example.org: password: cannot read the key file",
    )
