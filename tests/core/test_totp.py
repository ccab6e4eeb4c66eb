"""TOTP against RFC 6238's own test vectors (Appendix B) and RFC 4226's (Appendix D)."""

from __future__ import annotations

import pytest

from homeport.core import totp

RFC_KEY = b"12345678901234567890"


@pytest.mark.parametrize(
    ("counter", "code"),
    [(0, "755224"), (1, "287082"), (2, "359152"), (3, "969429"), (9, "520489")],
)
def test_rfc4226_vectors(counter: int, code: str) -> None:
    assert totp.hotp(RFC_KEY, counter) == code


@pytest.mark.parametrize(
    ("now", "code"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc6238_sha1_vectors(now: int, code: str) -> None:
    assert totp.totp(RFC_KEY, now, digits=8) == code


def test_a_code_matches_its_step_and_one_either_side() -> None:
    now = 1_700_000_015.0
    step = totp.time_step(now)
    for offset in (-1, 0, 1):
        code = totp.hotp(RFC_KEY, step + offset)
        assert totp.matching_step(RFC_KEY, code, now) == step + offset
    assert totp.matching_step(RFC_KEY, totp.hotp(RFC_KEY, step + 2), now) is None
    assert totp.matching_step(RFC_KEY, totp.hotp(RFC_KEY, step - 2), now) is None
    spaced = totp.totp(RFC_KEY, now)
    assert totp.matching_step(RFC_KEY, f" {spaced[:3]} {spaced[3:]} ", now) == step
    for bad in ("", "12345", "1234567", "abcdef", "１２３４５６"):
        assert totp.matching_step(RFC_KEY, bad, now) is None


def test_keys_in_base32() -> None:
    secret = totp.encode_key(RFC_KEY)
    assert secret == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    assert totp.decode_key(secret.lower()) == RFC_KEY
    with pytest.raises(ValueError, match="base32"):
        totp.decode_key("not base32!")
