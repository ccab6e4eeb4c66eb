"""The native TOML config: schema, secrets, and one line per problem with its line number."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.agent import config
from homeport.agent.tomllines import key_lines
from homeport.errors import ConfigError
from tests.helpers import run_homeport

GOOD = """\
[agent]
interval = "5m"
refresh = "20d"

[ipv4]
require = 2
[[ipv4.source]]
type = "web"
url = "http://127.0.0.1:1/html"
skip = "IP Address"
[[ipv4.source]]
type = "web"
url = "http://127.0.0.1:1/plain"
[[ipv4.source]]
type = "dns"
kind = "opendns"
resolver = "127.0.0.1"

[ipv6]
[[ipv6.source]]
type = "interface"
interface = "eth0"
suffix = "::1234"

[[provider]]
protocol = "dyndns2"
hosts = ["Home.Example.org.", "www.example.org"]
server = "127.0.0.1:8245"
ssl = false
login = "me"
password_env = "TEST_DDNS_PASSWORD"

[hooks]
command = "/bin/true"
advertise_file = "/tmp/advertise.json"
advertise_ports = [443, 50051]

[metrics]
listen = "127.0.0.1:9475"

[[mapping]]
protocol = "tcp"
internal_port = 443
"""


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.AgentConfig:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return config.load_toml(path, env=env if env is not None else {"TEST_DDNS_PASSWORD": "pw"})


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load_text(tmp_path, text, env)
    return caught.value.problems


def test_full_example_loads(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GOOD)
    assert cfg.agent.interval == 300
    assert cfg.agent.refresh == 20 * 86400
    assert cfg.policy.refresh == 20 * 86400
    assert cfg.ipv4.require == 2
    assert [s.type for s in cfg.ipv4.sources] == ["web", "web", "dns"]
    assert cfg.ipv6.enabled
    (provider,) = cfg.providers
    assert provider.hosts == ("home.example.org", "www.example.org")
    assert provider.settings.password.get_secret_value() == "pw"  # type: ignore[attr-defined]
    assert cfg.mappings[0].internal_port == 443
    assert cfg.metrics is not None


def test_docs_example_is_valid(tmp_path: Path) -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "agent-config.md"
    text = docs.read_text()
    example = text.split("```toml\n", 1)[1].split("```", 1)[0]
    env = {"DYNDNS_PASSWORD": "x", "DUCKDNS_TOKEN": "y"}
    cfg = load_text(tmp_path, example, env)
    assert cfg.providers


def test_defaults_are_several_independent_services() -> None:
    cfg = config.build(
        {
            "provider": [
                {"protocol": "dyndns2", "hosts": ["a.example.org"], "login": "a", "password": "b"}
            ]
        },
        origin="x",
    )
    hosts = {s.model_dump()["url"].split("/")[2] for s in cfg.ipv4.sources}
    assert len(hosts) >= 3
    assert cfg.ipv4.require == 2
    assert not cfg.ipv6.enabled


def test_every_problem_with_its_line(tmp_path: Path) -> None:
    text = (
        GOOD.replace('interval = "5m"', 'interval = "soon"')
        .replace('kind = "opendns"', 'kind = "opendns"\nresolvr = "x"')
        .replace('login = "me"', 'login = "me"\nhosts_extra = 1')
    )
    found = problems(tmp_path, text)
    lines = {p.split(":")[1] for p in found}
    assert any(":2: agent.interval: must be a duration" in p for p in found), found
    assert any(":17: ipv4.source[2].resolvr: unknown setting" in p for p in found), found
    assert any(":32: provider[0].hosts_extra: unknown setting" in p for p in found), found
    assert len(found) == 3
    assert lines == {"2", "17", "32"}


def test_missing_secret_names_the_variable_not_a_value(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD, env={})
    (problem,) = found
    assert (
        ":31: provider[0].password_env: environment variable TEST_DDNS_PASSWORD is not set"
        in problem
    )


def test_secret_from_file_and_systemd_credential(tmp_path: Path) -> None:
    secret = tmp_path / "pw.txt"
    secret.write_text("from-file\n")
    cfg = load_text(
        tmp_path, GOOD.replace('password_env = "TEST_DDNS_PASSWORD"', f'password_file = "{secret}"')
    )
    assert cfg.providers[0].settings.password.get_secret_value() == "from-file"  # type: ignore[attr-defined]
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ddns").write_text("from-systemd")
    cfg = load_text(
        tmp_path,
        GOOD.replace('password_env = "TEST_DDNS_PASSWORD"', 'password_credential = "ddns"'),
        env={"CREDENTIALS_DIRECTORY": str(creds)},
    )
    assert cfg.providers[0].settings.password.get_secret_value() == "from-systemd"  # type: ignore[attr-defined]


def test_both_secret_forms_is_an_error(tmp_path: Path) -> None:
    found = problems(tmp_path, GOOD.replace('login = "me"', 'login = "me"\npassword = "x"'))
    assert any("give either password or password_env" in p for p in found)


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('interval = "5m"', "interval = 5", "agent.interval: must be at least 30 seconds"),
        ("require = 2", "require = 4", "ipv4.require: 4 sources must agree but only 3"),
        (
            'type = "web"\nurl = "http://127.0.0.1:1/plain"',
            'type = "carrier-pigeon"',
            "unknown source type",
        ),
        (
            'hosts = ["Home.Example.org.", "www.example.org"]',
            'hosts = ["bad host"]',
            "is not a host name",
        ),
        ('hosts = ["Home.Example.org.", "www.example.org"]', "hosts = []", "provider[0].hosts"),
        ('protocol = "dyndns2"', 'protocol = "nosuch"', "unknown provider 'nosuch'"),
        ("internal_port = 443", "internal_port = 70000", "mapping[0].internal_port"),
        ('suffix = "::1234"', 'suffix = "nope"', "ipv6.source[0].suffix"),
    ],
)
def test_schema_errors(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    assert old in GOOD
    found = problems(tmp_path, GOOD.replace(old, new, 1))
    assert any(fragment in p for p in found), found
    assert all(p.startswith(f"{tmp_path / 'agent.toml'}:") for p in found)


def test_toml_syntax_error_has_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "[agent]\ninterval = \n")
    assert "line 2" in found[0]


def test_check_config_command(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[agent]\ninterval = "often"\nfoo = 1\n')
    result = run_homeport("agent", "check-config", str(path))
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("homeport: error:")]
    assert errors == [
        f'homeport: error: {path}:2: agent.interval: must be a duration such as 300, "5m" or "25d"',
        f"homeport: error: {path}:3: agent.foo: unknown setting",
        f"homeport: error: {path}: no [[provider]] configured: nothing to update",
    ]


def test_key_lines_scanner() -> None:
    lines = key_lines(GOOD)
    assert lines[("agent", "interval")] == 2
    assert lines[("ipv4", "source", 1, "url")] == 13
    assert lines[("provider", 0)] == 25
    assert lines[("mapping", 0, "internal_port")] == 43


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(300, 300.0), ("90", 90.0), ("5m", 300.0), ("1h30m", 5400.0), ("25d", 25 * 86400.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert config.parse_duration(text) == seconds


def test_a_host_in_two_providers_is_an_error(tmp_path: Path) -> None:
    text = (
        GOOD
        + '\n[[provider]]\nprotocol = "dyndns2"\nhosts = ["www.example.org"]\n'
        + 'login = "x"\npassword = "y"\n'
    )
    found = problems(tmp_path, text)
    assert any(
        ":47: provider[1].hosts: www.example.org is already in provider[0]" in p for p in found
    ), found


def test_mappings_are_kept_without_a_warning_and_default_to_removal(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GOOD)
    assert not any("[[mapping]]" in w for w in cfg.warnings)
    assert (cfg.mappings[0].method, cfg.mappings[0].keep) == ("auto", False)
    cfg = load_text(tmp_path, GOOD + 'internal_host = "192.168.1.5"\nkeep = true\n')
    assert cfg.mappings[0].keep
    assert any("internal_host is ignored" in w for w in cfg.warnings)


def test_key_lines_dotted_quoted_nested_and_multiline() -> None:
    text = (
        "[[provider]]\n"  # 1
        "protocol = 'x'\n"  # 2
        '"quoted key" = 1\n'  # 3
        'note = """\n'  # 4
        "fake = 1\n"  # 5 (inside a string)
        '"""\n'  # 6
        "[[provider]]\n"  # 7
        "a.b = 2\n"  # 8
        "[ipv4]\n"  # 9
        "[[ipv4.source]]\n"  # 10
        "[[ipv4.source]]\n"  # 11
        "url = 'u'\n"  # 12
    )
    lines = key_lines(text)
    assert lines[("provider", 0, "quoted key")] == 3
    assert ("provider", 0, "fake") not in lines
    assert lines[("provider", 1)] == 7
    assert lines[("provider", 1, "a", "b")] == 8
    assert lines[("ipv4", "source", 1, "url")] == 12


def test_metrics_doctor_interval(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GOOD)
    assert cfg.metrics is not None
    assert cfg.metrics.doctor == 0  # off unless asked
    cfg = load_text(
        tmp_path,
        GOOD.replace(
            'listen = "127.0.0.1:9475"',
            'listen = "127.0.0.1:9475"\ndoctor = "15m"\ndoctor_dns = "[::1]:5353"',
        ),
    )
    assert cfg.metrics is not None
    assert (cfg.metrics.doctor, cfg.metrics.doctor_dns) == (900, "[::1]:5353")


def test_metrics_doctor_serves_on_the_default_listen(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, GOOD.replace('listen = "127.0.0.1:9475"', 'doctor = "15m"'))
    assert cfg.metrics is not None
    assert (cfg.metrics.listen, cfg.metrics.doctor) == ("127.0.0.1:9475", 900)


def _line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(fragment))


@pytest.mark.parametrize(
    ("metrics", "fragment"),
    [
        ('listen = "127.0.0.1:9475"\ndoctor = "30s"', "must be 0 (off) or at least 60 seconds"),
        ('listen = "127.0.0.1:9475"\ndoctor = "soon"', "must be a duration"),
        ('listen = "127.0.0.1:9475"\ndoctor_dns = "dns.example"', "must be an IP address and port"),
    ],
)
def test_metrics_doctor_errors_name_the_line(tmp_path: Path, metrics: str, fragment: str) -> None:
    text = GOOD.replace('listen = "127.0.0.1:9475"', metrics)
    (found,) = problems(tmp_path, text)
    key = "doctor_dns" if "doctor_dns" in metrics else "doctor"
    line = _line_of(text, key + " =")
    assert found.startswith(f"{tmp_path / 'agent.toml'}:{line}: metrics.{key}: "), found
    assert fragment in found


def test_metrics_doctor_needs_a_port_to_check(tmp_path: Path) -> None:
    text = (
        GOOD.replace("advertise_ports = [443, 50051]\n", "")
        .replace('listen = "127.0.0.1:9475"', 'listen = "127.0.0.1:9475"\ndoctor = "1h"')
        .split("[[mapping]]")[0]
    )
    (found,) = problems(tmp_path, text)
    assert "metrics.doctor: has no port to check" in found
