"""Server-side TSIG checks and responses, against dnspython's own client-side code."""

from __future__ import annotations

import base64

import dns.message
import dns.name
import dns.rcode
import dns.tsig
import dns.update
import pytest

from homeport.proto import tsig

KEY = dns.tsig.Key("k.example.", base64.b64encode(b"s" * 32).decode(), dns.tsig.HMAC_SHA256)
NOW = 1_800_000_000


def _signed(key: dns.tsig.Key = KEY) -> tuple[dns.message.Message, bytes]:
    msg = dns.update.UpdateMessage("example.")
    msg.add("_acme-challenge.h.example.", 60, "TXT", "a" * 43)
    msg.use_tsig(key)
    return msg, msg.to_wire()


def _check(wire: bytes, now: int) -> tsig.Signed:
    signed = tsig.check(wire, tsig.parse(wire), lambda n: KEY if n == KEY.name else None, now)
    assert signed is not None
    return signed


def test_a_good_signature_and_a_signed_answer_the_client_accepts() -> None:
    msg, wire = _signed()
    now = int(msg.tsig[0].time_signed)  # type: ignore[index]
    signed = _check(wire, now)
    assert signed.verdict is tsig.Verdict.OK
    response = dns.message.make_response(tsig.parse(tsig.unsigned(wire, signed)))
    out = tsig.sign(response.to_wire(), signed, now)
    # dnspython validates the response against the request's MAC (raises if wrong).
    parsed = dns.message.from_wire(out, keyring=KEY, request_mac=msg.mac)
    assert parsed.had_tsig


def test_unsigned_is_none() -> None:
    wire = dns.message.make_query("example.", "SOA").to_wire()
    assert tsig.check(wire, tsig.parse(wire), lambda n: KEY, NOW) is None


@pytest.mark.parametrize(
    ("skew", "verdict"),
    [(0, tsig.Verdict.OK), (300, tsig.Verdict.OK), (301, tsig.Verdict.BADTIME)],
)
def test_fudge(skew: int, verdict: tsig.Verdict) -> None:
    msg, wire = _signed()
    now = int(msg.tsig[0].time_signed) + skew  # type: ignore[index]
    assert _check(wire, now).verdict is verdict


def test_bad_key_and_signature() -> None:
    other = dns.tsig.Key("nobody.example.", KEY.secret, KEY.algorithm)
    msg, wire = _signed(other)
    assert _check(wire, NOW).verdict is tsig.Verdict.BADKEY
    wrong = dns.tsig.Key(KEY.name, b"x" * 32, KEY.algorithm)
    msg, wire = _signed(wrong)
    now = int(msg.tsig[0].time_signed)  # type: ignore[index]
    assert _check(wire, now).verdict is tsig.Verdict.BADSIG
    # A bad MAC with a bad clock is BADSIG: the time is only checked on a good MAC.
    assert _check(wire, now + 10_000).verdict is tsig.Verdict.BADSIG


def test_badkey_response_is_unsigned_and_dnspython_reads_it() -> None:
    other = dns.tsig.Key("nobody.example.", KEY.secret, KEY.algorithm)
    msg, wire = _signed(other)
    signed = _check(wire, NOW)
    response = dns.message.make_response(tsig.parse(wire))
    response.set_rcode(dns.rcode.NOTAUTH)
    out = tsig.error_response(response.to_wire(), signed, NOW)
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.message.from_wire(out, keyring=other, request_mac=msg.mac)
