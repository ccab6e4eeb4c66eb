"""`homeport proxy`: configs the real proxies accept, and Caddy serving through them.

The end-to-end run: `homeport cert issue` gets NAME's certificate from pebble (through
BIND), `homeport proxy caddy` writes the config, Debian's Caddy runs it on loopback, and
curl trusts only this run's pebble root. The upstreams are a second Caddy speaking
HTTP/1.1 on one port and h2c (HTTP/2 without TLS, what gRPC servers speak) on another;
each answers with the protocol its request arrived in, so the h2c hop is proven by the
upstream itself, not assumed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cert.conftest import NAME, Lab
from tests.helpers import run_homeport
from tests.providers.dns_peers import free_port

pytestmark = pytest.mark.peer

STARTUP_LIMIT = 20.0  # seconds for Caddy to listen on a loaded 2-core machine
SERVICES = ("443=http://127.0.0.1:888", "8443=h2c://127.0.0.1:8000")


def proxy(*args: str) -> subprocess.CompletedProcess[str]:
    return run_homeport("proxy", *args)


def caddy_env(home: Path) -> dict[str, str]:
    # Caddy keeps state under $HOME / XDG dirs: keep this run's in its own directory.
    return dict(
        os.environ, HOME=str(home), XDG_DATA_HOME=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
    )  # fmt: skip


def fake_certificate(certs: Path) -> None:
    directory = certs / NAME
    directory.mkdir(parents=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", f"/CN={NAME}", "-keyout",
         str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    (directory / "fullchain.pem.key").symlink_to("privkey.pem")  # what homeport cert writes


def test_caddy_validates_the_generated_config(tmp_path: Path) -> None:
    fake_certificate(tmp_path / "certs")
    made = proxy("caddy", "--name", NAME, "--cert-dir", str(tmp_path / "certs"),
                 "--admin", "off", *(f"--service={s}" for s in SERVICES))  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "reverse_proxy h2c://127.0.0.1:8000" in made.stdout
    config = tmp_path / "Caddyfile"
    config.write_text(made.stdout)
    check = subprocess.run(
        ["caddy", "validate", "--adapter", "caddyfile", "--config", str(config)],
        capture_output=True, text=True, env=caddy_env(tmp_path), timeout=60, check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stderr[-2000:]
    assert "Valid configuration" in check.stdout + check.stderr


def test_haproxy_checks_the_generated_config(tmp_path: Path) -> None:
    fake_certificate(tmp_path / "certs")
    made = proxy("haproxy", "--name", NAME, "--cert-dir", str(tmp_path / "certs"),
                 *(f"--service={s}" for s in SERVICES))  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "server local 127.0.0.1:8000 proto h2" in made.stdout
    config = tmp_path / "haproxy.cfg"
    config.write_text(made.stdout)
    # -c parses everything and loads the certificate and its key (fullchain.pem.key).
    check = subprocess.run(
        ["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr
    # The same config without the key beside the chain is refused: the check is real.
    (tmp_path / "certs" / NAME / "fullchain.pem.key").unlink()
    broken = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, check=False)
    assert broken.returncode != 0


def test_nginx_config_shape() -> None:
    # nginx is not installed on the test machine: its config is checked for shape only.
    made = proxy("nginx", "--name", NAME, *(f"--service={s}" for s in SERVICES))
    assert made.returncode == 0, made.stderr
    assert "grpc_pass grpc://127.0.0.1:8000;" in made.stdout
    assert "proxy_pass http://127.0.0.1:888;" in made.stdout
    assert f"ssl_certificate /var/lib/homeport/certs/{NAME}/fullchain.pem;" in made.stdout


@pytest.mark.parametrize("kind", ["caddy", "nginx", "haproxy"])
def test_systemd_unit(kind: str) -> None:
    made = proxy(kind, "--name", NAME, "--service", SERVICES[0], "--systemd")
    assert made.returncode == 0, made.stderr
    assert "ExecStart=" in made.stdout
    assert "ExecReload=" in made.stdout
    assert f'hook = "systemctl reload homeport-{kind}"' in made.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--service", "443=ftp://127.0.0.1:21"), "scheme must be one of"),
        (("--service", "443"), "expected PORT=http://HOST:PORT"),
        (("--service", "70000=http://127.0.0.1:80"), "ports are 1-65535"),
        (("--service", "443=http://a:1", "--service", "443=http://b:2"), "share one public"),
        (("--service", "443=http://a:1", "--cert-dir", "relative"), "absolute path"),
        ((), "at least one --service"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], message: str) -> None:
    made = proxy("caddy", "--name", NAME, *args)
    assert made.returncode == 64, made.stderr
    assert made.stderr.count("\n") == 1
    assert message in made.stderr


@contextmanager
def running(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=out, env=env)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def curl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "5", *args],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def until_ok(process: subprocess.Popen[bytes], log: Path, *args: str) -> str:
    deadline = time.monotonic() + STARTUP_LIMIT
    while True:
        done = curl(*args)
        if done.returncode == 0:
            return done.stdout
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{done.stderr} / caddy: {log.read_text()[-2000:]}")
        time.sleep(0.1)


def test_caddy_serves_http_and_h2c_upstreams_with_the_pebble_certificate(
    lab: Lab, tmp_path: Path
) -> None:
    assert shutil.which("caddy"), "caddy is needed"
    certs = tmp_path / "certs"
    config = lab.agent_toml(tmp_path / "agent.toml")
    issued = run_homeport(
        "cert", "issue", NAME, "--config", str(config), "--acme", lab.pebble.directory,
        "--ca-bundle", str(lab.pebble.api_ca), "--cert-dir", str(certs), timeout=120,
    )  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    plain, h2c, front_plain, front_h2c = free_port(), free_port(), free_port(), free_port()
    upstream = tmp_path / "upstream.Caddyfile"
    upstream.write_text(
        "{\n\tadmin off\n\tauto_https off\n\tservers {\n\t\tprotocols h1 h2c\n\t}\n}\n"
        f'http://:{plain} {{\n\tbind 127.0.0.1\n\trespond "plain via {{http.request.proto}}"\n}}\n'
        f'http://:{h2c} {{\n\tbind 127.0.0.1\n\trespond "h2c via {{http.request.proto}}"\n}}\n'
    )
    made = proxy(
        "caddy", "--name", NAME, "--cert-dir", str(certs), "--bind", "127.0.0.1",
        "--admin", "off", "--service", f"{front_plain}=http://127.0.0.1:{plain}",
        "--service", f"{front_h2c}=h2c://127.0.0.1:{h2c}",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    front = tmp_path / "front.Caddyfile"
    front.write_text(made.stdout)
    env = caddy_env(tmp_path)
    run = ["caddy", "run", "--adapter", "caddyfile", "--config"]
    with (
        running([*run, str(upstream)], env, tmp_path / "upstream.log") as up,
        running([*run, str(front)], env, tmp_path / "front.log") as proc,
    ):
        # The upstream really is h2c: HTTP/2 with prior knowledge, no TLS.
        direct = until_ok(up, tmp_path / "upstream.log", "--http2-prior-knowledge",
                          f"http://127.0.0.1:{h2c}/")  # fmt: skip
        assert direct == "h2c via HTTP/2.0"
        root = str(lab.root)
        resolve = [
            arg
            for port in (front_plain, front_h2c)
            for arg in ("--resolve", f"{NAME}:{port}:127.0.0.1")
        ]
        page = until_ok(proc, tmp_path / "front.log", "--cacert", root, *resolve,
                        f"https://{NAME}:{front_plain}/")  # fmt: skip
        assert page == "plain via HTTP/1.1"
        grpc_style = until_ok(proc, tmp_path / "front.log", "--cacert", root, *resolve,
                              "--http2", f"https://{NAME}:{front_h2c}/")  # fmt: skip
        assert grpc_style == "h2c via HTTP/2.0"
        # Only pebble's root makes the chain trusted: without it curl refuses.
        untrusted = curl("--cacert", str(lab.pebble.api_ca), *resolve,
                         f"https://{NAME}:{front_plain}/")  # fmt: skip
        assert untrusted.returncode == 60, untrusted.stderr
