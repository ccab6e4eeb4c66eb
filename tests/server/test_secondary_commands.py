"""``homeport server secondary add|list|rm`` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_homeport


def hp(data: Path, *args: str) -> tuple[int, str, str]:
    result = run_homeport("server", *args, "--data", str(data))
    return result.returncode, result.stdout, result.stderr


def test_add_prints_the_key_once_and_every_snippet(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert hp(data, "zone", "add", "dyn.example.net")[0] == 0
    code, out, err = hp(
        data, "secondary", "add", "knot1", "--address", "127.0.0.1:5301", "--primary",
        "127.0.0.1:5300", "--json",
    )  # fmt: skip
    assert code == 0, err
    made = json.loads(out)
    secret = made["key"]["secret"]
    assert made["key"]["algorithm"] == "hmac-sha256"
    config = made["config"]
    assert set(config) == {"bind", "knot", "nsd", "powerdns"}
    for text in config.values():
        assert secret in text
    assert "catalog.homeport.invalid." in config["bind"]
    assert "catalog-role: interpret" in config["knot"]
    assert "request-xfr: 127.0.0.1@5300 knot1" in config["nsd"]
    assert "dyn.example.net." in config["nsd"]
    code, out, err = hp(data, "secondary", "list")
    assert code == 0, err
    assert "knot1.\t127.0.0.1 port 5301\thmac-sha256" in out
    assert secret not in out
    audit = hp(data, "audit")[1]
    assert secret not in audit
    assert hp(data, "secondary", "rm", "knot1")[0] == 0
    assert hp(data, "secondary", "list")[1].strip() == "no secondaries"


def test_bad_input_gets_one_line_and_no_traceback(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for args in (
        ("secondary", "add", "x", "--address", "not-an-ip"),
        ("secondary", "add", "bad name!", "--address", "127.0.0.1"),
        ("secondary", "add", "x", "--address", "127.0.0.1", "--key-algorithm", "hmac-md4"),
        ("secondary", "rm", "nobody"),
    ):
        code, _, err = hp(data, *args)
        assert code != 0, args
        assert "Traceback" not in err, args
        assert len(err.strip().splitlines()) <= 3, (args, err)
    assert hp(data, "secondary", "add", "x", "--address", "127.0.0.1")[0] == 0
    code, _, err = hp(data, "secondary", "add", "x", "--address", "127.0.0.1")
    assert code != 0
    assert "exists already" in err
