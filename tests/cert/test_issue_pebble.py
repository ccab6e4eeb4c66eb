"""`homeport cert issue` as a process: a certificate for NAME and *.NAME from pebble.

The challenge goes through the agent's rfc2136 provider into a real BIND; pebble
validates against BIND; the files are checked with cryptography and openssl.
"""

from __future__ import annotations

import json
import ssl
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tests.cert.conftest import NAME, Lab, start_bind
from tests.helpers import run_homeport
from tests.pebble import running_pebble
from tests.providers.dns_peers import dig

pytestmark = pytest.mark.peer


def issue(
    lab: Lab, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = lab.agent_toml(tmp_path / "agent.toml")
    return run_homeport(
        "cert", "issue", NAME, "--config", str(config), "--acme", lab.pebble.directory,
        "--ca-bundle", str(lab.pebble.api_ca), "--cert-dir", str(tmp_path / "certs"), *args,
        timeout=120, env=env,
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


EAB_KID = "kid-homeport"
EAB_KEY = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"  # base64url


@pytest.fixture(scope="module")
def eab_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("eab")
    with (
        start_bind(base / "named") as port,
        running_pebble(base / "pebble", port, eab={EAB_KID: EAB_KEY}) as pebble,
    ):
        yield Lab(port, pebble, pebble.write_root())


def test_eab_is_required_asked_for_and_used(eab_lab: Lab, tmp_path: Path) -> None:
    missing = issue(eab_lab, tmp_path / "a")
    assert missing.returncode == 64, missing.stderr
    assert missing.stderr.count("\n") == 1
    assert "requires External Account Binding" in missing.stderr
    wrong_key = "A" * len(EAB_KEY)
    wrong = issue(
        eab_lab, tmp_path / "b", "--eab-kid", EAB_KID, env={"HOMEPORT_EAB_HMAC_KEY": wrong_key}
    )
    assert wrong.returncode == 69, wrong.stderr
    assert "Traceback" not in wrong.stderr
    assert wrong_key not in wrong.stderr + wrong.stdout
    done = issue(
        eab_lab, tmp_path / "c", "--eab-kid", EAB_KID, env={"HOMEPORT_EAB_HMAC_KEY": EAB_KEY}
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "c" / "certs" / NAME / "fullchain.pem").exists()
    assert EAB_KEY not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--acme", "http://127.0.0.1:1/dir"), "must be an https:// URL"),
        (("--acme", "letsencrypt", "--staging"), "not both"),
        (("--eab-kid", "k"), "HOMEPORT_EAB_HMAC_KEY"),
        (("--key-type", "rsa"), "Invalid value"),
        (("--dns", "nope"), "dns"),
    ],
)
def test_bad_input_is_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    config = tmp_path / "agent.toml"
    Lab(1, None, tmp_path).agent_toml(config)  # type: ignore[arg-type]
    certs = str(tmp_path / "certs")
    done = run_homeport("cert", "issue", NAME, "--config", str(config), "--cert-dir", certs, *args)
    assert done.returncode in (64, 2), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr


def test_a_provider_without_txt_is_refused_before_any_order(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        f'[[provider]]\nprotocol = "duckdns"\nhosts = ["{NAME}"]\ntoken = "t-0123456789"\n'
    )
    # The CA URL points nowhere: the refusal must come before any ACME request.
    done = run_homeport(
        "cert", "issue", NAME, "--config", str(config), "--acme", "https://127.0.0.1:1/dir",
        "--cert-dir", str(tmp_path / "certs"),
    )  # fmt: skip
    assert done.returncode == 78, done.stderr
    assert "provider duckdns cannot set TXT records" in done.stderr
    assert done.stderr.count("\n") == 1


def test_revoke_tells_the_ca(lab: Lab, tmp_path: Path) -> None:
    done = issue(lab, tmp_path)
    assert done.returncode == 0, done.stderr
    fullchain = tmp_path / "certs" / NAME / "fullchain.pem"
    serial = format(x509.load_pem_x509_certificate(fullchain.read_bytes()).serial_number, "x")
    config = tmp_path / "agent.toml"
    revoked = run_homeport(
        "cert", "revoke", NAME, "--config", str(config), "--acme", lab.pebble.directory,
        "--ca-bundle", str(lab.pebble.api_ca), "--cert-dir", str(tmp_path / "certs"),
        timeout=120,
    )  # fmt: skip
    assert revoked.returncode == 0, revoked.stderr
    assert f"{NAME}: revoked" in revoked.stdout
    context = ssl.create_default_context(cafile=str(lab.pebble.api_ca))
    url = f"{lab.pebble.management}/cert-status-by-serial/{serial}"
    with urllib.request.urlopen(url, context=context, timeout=10) as response:
        assert json.loads(response.read())["Status"] == "Revoked"
