"""The agent daemon keeps a [[certificate]] renewed: a due one is replaced and the hook runs.

A self-signed certificate for the right names whose last third of life has begun stands
in for "one issued 60 days ago" (pebble 2.4's certificates live for years, so one of its
own is never due); the daemon's first cycle decides it is due, obtains a new one from
pebble through BIND, replaces both files and runs the hook. ``sd_notify`` READY=1 comes
after that first cycle, so the test waits on it, not on a clock.
"""

from __future__ import annotations

import datetime
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.cert.conftest import NAME, Lab
from tests.helpers import ROOT, homeport_env, run_homeport

pytestmark = pytest.mark.peer


def old_certificate(directory: Path, *, lifetime_days: int, left_days: int) -> bytes:
    """Write a self-signed NAME + *.NAME certificate with ``left_days`` of ``lifetime_days``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=lifetime_days - left_days))
        .not_valid_after(now + datetime.timedelta(days=left_days))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(NAME), x509.DNSName(f"*.{NAME}")]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM)
    directory.mkdir(parents=True)
    (directory / "fullchain.pem").write_bytes(pem)
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pem


def certificate_toml(lab: Lab, certs: Path, marker: Path) -> str:
    return f"""
[[certificate]]
name = "{NAME}"
directory = "{certs}"
acme = "{lab.pebble.directory}"
ca_bundle = "{lab.pebble.api_ca}"
hook = "/bin/sh -c 'echo $HOMEPORT_CERT_NAME $HOMEPORT_CERT_FULLCHAIN >> {marker}'"
"""


def test_daemon_renews_a_due_certificate_and_runs_the_hook(lab: Lab, tmp_path: Path) -> None:
    certs, marker = tmp_path / "certs", tmp_path / "hook-ran"
    old = old_certificate(certs / NAME, lifetime_days=90, left_days=20)  # < 1/3 left
    old_key = (certs / NAME / "privkey.pem").read_bytes()
    config = lab.agent_toml(tmp_path / "agent.toml", certificate_toml(lab, certs, marker))
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(notify_path))
        notify.settimeout(120)
        env = homeport_env({"NOTIFY_SOCKET": str(notify_path)})
        process = subprocess.Popen(
            [sys.executable, "-m", "homeport", "agent", "run", "--config", str(config)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            message = notify.recv(4096).decode()
            assert "READY=1" in message
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    new = (certs / NAME / "fullchain.pem").read_bytes()
    assert new != old
    assert (certs / NAME / "privkey.pem").read_bytes() != old_key
    chain = x509.load_pem_x509_certificates(new)
    assert chain[0].issuer != chain[0].subject  # pebble's, not the self-signed stand-in
    assert marker.read_text() == f"{NAME} {certs / NAME / 'fullchain.pem'}\n"
    assert f"{NAME}: new certificate" in stderr


def test_a_certificate_not_due_is_left_alone(lab: Lab, tmp_path: Path) -> None:
    certs, marker = tmp_path / "certs", tmp_path / "hook-ran"
    old = old_certificate(certs / NAME, lifetime_days=90, left_days=40)  # > 1/3 left
    config = lab.agent_toml(tmp_path / "agent.toml", certificate_toml(lab, certs, marker))
    done = run_homeport("agent", "run", "--once", "--config", str(config), timeout=120)
    assert done.returncode == 0, done.stderr
    assert (certs / NAME / "fullchain.pem").read_bytes() == old
    assert not marker.exists()
    renewed = run_homeport("cert", "renew", "--config", str(config), timeout=120)
    assert renewed.returncode == 0, renewed.stderr
    assert "not due" in renewed.stdout
    assert (certs / NAME / "fullchain.pem").read_bytes() == old
