"""Take secrets out of text before anyone can read it: the one redaction helper.

Used wherever a string or body may carry a credential we hold: a ``--dry-run``
rendering of a provider's request, an error message built from a failed
exchange, a provider's answer that quotes our request back, the result message
that ends up in a log. The secrets are the values we sent, so redaction is an
exact replacement of each, longest first: a token that contains a shorter
secret (a password inside a Basic credential) is replaced whole, not left with
the remainder showing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import AnyStr

# What stands where a secret was, in text a human reads and in bodies a provider returned.
REDACTED = "[redacted]"


def redact(data: AnyStr, secrets: Iterable[str]) -> AnyStr:
    """``data`` with every occurrence of each secret replaced by ``[redacted]``.

    Text is searched for the secret as it is; bytes for its UTF-8 encoding (how
    every request carries it). Empty secrets are ignored: there is nothing to hide,
    and replacing "" would put the marker between every character.
    """
    ordered = sorted({s for s in secrets if s}, key=len, reverse=True)
    if isinstance(data, str):
        for secret in ordered:
            data = data.replace(secret, REDACTED)
        return data
    for secret in ordered:
        data = data.replace(secret.encode(), REDACTED.encode())
    return data


__all__ = ["REDACTED", "redact"]
