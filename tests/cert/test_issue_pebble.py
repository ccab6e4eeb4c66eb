"""`homeport cert issue` as a process: a certificate for NAME and *.NAME from pebble.

The challenge goes through the agent's rfc2136 provider into a real BIND; pebble
validates against BIND; the files are checked with cryptography and openssl.
"""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cert.conftest import NAME, Lab
from tests.helpers import run_homeport
from tests.providers.dns_peers import dig

pytestmark = pytest.mark.peer


def issue(lab: Lab, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = lab.agent_toml(tmp_path / "agent.toml")
    return run_homeport(
        "cert", "issue", NAME, "--config", str(config), "--acme", lab.pebble.directory,
        "--ca-bundle", str(lab.pebble.api_ca), "--cert-dir", str(tmp_path / "certs"), *args,
        timeout=120,
    )  # fmt: skip


def test_issue_writes_a_wildcard_certificate_and_cleans_up(lab: Lab, tmp_path: Path) -> None:
    done = issue(lab, tmp_path)
    assert done.returncode == 0, done.stderr
    directory = tmp_path / "certs" / NAME
    chain = x509.load_pem_x509_certificates((directory / "fullchain.pem").read_bytes())
    san = chain[0].extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == sorted([NAME, f"*.{NAME}"])
    assert isinstance(chain[0].public_key(), ec.EllipticCurvePublicKey)
    assert chain[0].public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    assert stat.S_IMODE((directory / "privkey.pem").stat().st_mode) == 0o600
    # The chain verifies against this run's pebble root, the key matches the certificate.
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(lab.root), "-untrusted",
         str(directory / "fullchain.pem"), str(directory / "fullchain.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    pub = subprocess.run(
        ["openssl", "pkey", "-in", str(directory / "privkey.pem"), "-pubout"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    cert_pub = subprocess.run(
        ["openssl", "x509", "-in", str(directory / "fullchain.pem"), "-noout", "-pubkey"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pub.stdout == cert_pub.stdout
    assert "challenge served" in done.stdout
    # Both challenge values were deleted again.
    assert dig(lab.dns_port, f"_acme-challenge.{NAME}", "TXT") == []
    listed = run_homeport("cert", "list", "--cert-dir", str(tmp_path / "certs"))
    assert listed.returncode == 0
    assert NAME in listed.stdout
    assert "renews after" in listed.stdout
