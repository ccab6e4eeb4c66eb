"""One-time codes for two-step sign-in: TOTP (RFC 6238) over HOTP (RFC 4226). Pure: the
time and the key are passed in; nothing here reads a clock or draws randomness.

Parameters are the ones every authenticator app assumes when an ``otpauth://`` URI
names none: HMAC-SHA-1, 6 digits, 30-second steps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct

# RFC 6238 §5.2: a 30-second step balances security and usability.
STEP = 30
# RFC 4226 §5.3: at least 6 digits; what the apps show.
DIGITS = 6
# RFC 4226 §4 R6: keys of at least 128 bits, 160 recommended (HMAC-SHA-1's block output).
KEY_BYTES = 20
# RFC 6238 §5.2: accept a code one step early or late (a phone's clock drift and the time
# to type it); each accepted step is remembered by the caller, so a code works once.
WINDOW = 1


def hotp(key: bytes, counter: int, digits: int = DIGITS) -> str:
    """RFC 4226 §5.3: HMAC-SHA-1 of the 8-byte counter, dynamically truncated."""
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def time_step(now: float, step: int = STEP) -> int:
    """RFC 6238 §4.2: T = floor((now - T0) / X), T0 = 0 (the Unix epoch)."""
    return int(now // step)


def totp(key: bytes, now: float, digits: int = DIGITS) -> str:
    return hotp(key, time_step(now), digits)


def matching_step(key: bytes, code: str, now: float, window: int = WINDOW) -> int | None:
    """The time step ``code`` is valid for, within ``window`` steps of ``now``; else None."""
    code = code.strip().replace(" ", "")
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return None
    current = time_step(now)
    found = None
    for step in range(current - window, current + window + 1):
        # Every candidate compared, in constant time: no timing tells which step matched.
        if hmac.compare_digest(hotp(key, step).encode(), code.encode()):
            found = step
    return found


def encode_key(key: bytes) -> str:
    """The key as the apps take it: base32, without padding (Key Uri Format)."""
    return base64.b32encode(key).decode("ascii").rstrip("=")


def decode_key(secret: str) -> bytes:
    """ValueError unless ``secret`` is base32 (spaces and lower case allowed)."""
    text = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (ValueError, TypeError) as exc:
        raise ValueError("not a base32 key") from exc
