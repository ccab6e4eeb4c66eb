"""The one redaction helper: text and bytes, longest secret first, nothing else touched."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from homeport.core.redact import REDACTED, redact


def test_every_occurrence_of_every_secret_is_replaced() -> None:
    text = "token=abc123&again=abc123 password=hunter2"
    assert redact(text, ["abc123", "hunter2"]) == (
        "token=[redacted]&again=[redacted] password=[redacted]"
    )


def test_a_secret_containing_another_is_replaced_whole() -> None:
    # "user:pw-long" holds "pw-long": replacing the short one first would leave "user:" + marker,
    # and replacing the long one would then find nothing; either order must hide both.
    assert redact("Basic user:pw-long; pw-long", ["pw-long", "user:pw-long"]) == (
        "Basic [redacted]; [redacted]"
    )


def test_bytes_are_searched_for_the_utf8_encoding() -> None:
    body = "error: bad key clé-secrète".encode()
    assert redact(body, ["clé-secrète"]) == b"error: bad key [redacted]"
    assert isinstance(redact(body, ["x"]), bytes)


def test_empty_secrets_and_no_secrets_leave_the_data_alone() -> None:
    assert redact("unchanged", ["", ""]) == "unchanged"
    assert redact(b"unchanged", []) == b"unchanged"


@given(
    st.text(alphabet="bfg:=&", max_size=40),
    st.lists(st.text(alphabet="bfg:=&", min_size=3, max_size=8), max_size=4),
)
def test_no_secret_survives_redaction(text: str, secrets: list[str]) -> None:
    redacted = redact(text, secrets)
    # The marker's own letters are outside the alphabet, so any survivor is a real leak.
    assert all(secret not in redacted.replace(REDACTED, "|") for secret in secrets)
