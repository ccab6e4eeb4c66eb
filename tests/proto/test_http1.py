"""HTTP/1.1 framing without I/O: byte vectors, and any split of the input into pieces."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeport.errors import RemoteProtocolError
from homeport.proto.http1 import MAX_BODY, Response, ResponseParser, encode_request

CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n"
    b"b\r\nCurrent IP \r\n9;ext=1\r\nAddress: \r\n0c\r\n203.0.113.10\r\n0\r\n\r\n"
)


def parse(pieces: Sequence[bytes], *, eof: bool = True) -> Response | None:
    parser = ResponseParser()
    for piece in pieces:
        done = parser.feed(piece)
        if done is not None:
            return done
    return parser.feed_eof() if eof else None


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def test_request_bytes() -> None:
    wire = encode_request(
        "POST", "/hook?a=1", host="127.0.0.1:8080", headers=[("User-Agent", "x")], body=b"{}"
    )
    assert wire == (
        b"POST /hook?a=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: x\r\n"
        b"Connection: close\r\nContent-Length: 2\r\n\r\n{}"
    )
    # A bodiless GET says nothing about length; a bodiless POST says 0 (411 otherwise).
    assert b"Content-Length" not in encode_request("GET", "/", host="h")
    assert encode_request("POST", "/", host="h").endswith(b"Content-Length: 0\r\n\r\n")


def test_content_length_answer_is_complete_without_waiting_for_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhel") is None
    response = parser.feed(b"lo and bytes past the body")
    assert response == Response(200, (("Content-Length", "5"), ("X-A", "b")), b"hello")
    assert response.header("x-a") == "b"
    assert response.header("missing") == ""
    assert parser.feed(b"more") is response  # one response per parser


def test_chunked_answer_with_extensions() -> None:
    response = parse([CHUNKED], eof=False)
    assert response is not None
    assert (response.status, response.text) == (200, "Current IP Address: 203.0.113.10")


def test_chunked_wins_over_content_length() -> None:
    data = b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: Chunked\r\n\r\n"
    assert parse([data + b"2\r\nok\r\n0\r\n\r\n"], eof=False) == Response(
        200, (("Content-Length", "99"), ("Transfer-Encoding", "Chunked")), b"ok"
    )


def test_without_framing_the_body_runs_to_eof() -> None:
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 200 OK\r\n\r\nCurrent IP ") is None
    assert parser.feed(b"Address: 192.0.2.1") is None
    assert parser.feed_eof().text == "Current IP Address: 192.0.2.1"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "connection closed before an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3", "connection closed before an HTTP response"),
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", "not an HTTP response: 'SSH-2.0-OpenSSH_9.2'"),
        (b"HTTP/1.1 abc OK\r\n\r\n", "not an HTTP response"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc", "HTTP response body cut short"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", "cut short"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 5000, "chunk size"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n", "body too large"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n", "body too large"),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * (MAX_BODY + 1), "body too large"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000, "header too long"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70_000 + b"\r\n\r\n", "header too long"),
    ],
)
def test_bad_answers_are_remote_protocol_errors(data: bytes, error: str) -> None:
    with pytest.raises(RemoteProtocolError, match=error):
        parse([data])


def chunked(body: bytes, sizes: Sequence[int]) -> bytes:
    out, rest = b"", body
    for size in sizes:
        piece, rest = rest[:size], rest[size:]
        if piece:
            out += b"%x\r\n%s\r\n" % (len(piece), piece)
    if rest:
        out += b"%X;name=value\r\n%s\r\n" % (len(rest), rest)
    return out + b"0\r\n\r\n"


@given(
    body=st.binary(max_size=300),
    sizes=st.lists(st.integers(1, 64), max_size=8),
    cuts=st.lists(st.integers(0, 2000), max_size=12),
)
def test_chunked_body_survives_any_chunking_and_any_split(
    body: bytes, sizes: list[int], cuts: list[int]
) -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, sizes)
    response = parse(split(wire, cuts), eof=False)
    assert response is not None
    assert response.body == body


@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_content_length_body_survives_any_split(body: bytes, cuts: list[int]) -> None:
    wire = b"HTTP/1.1 201 Created\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    response = parse(split(wire, cuts), eof=False)
    assert response == Response(201, (("Content-Length", str(len(body))),), body)


@given(body=st.binary(max_size=300), cuts=st.lists(st.integers(0, 2000), max_size=12))
def test_body_to_eof_survives_any_split(body: bytes, cuts: list[int]) -> None:
    response = parse(split(b"HTTP/1.0 200 OK\r\n\r\n" + body, cuts))
    assert response is not None
    assert response.body == body


@given(
    wire=st.one_of(
        st.binary(max_size=400),
        st.binary(max_size=200).map(lambda b: b"HTTP/1.1 200 OK\r\n" + b),
        st.binary(max_size=200).map(
            lambda b: b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b
        ),
    ),
    cuts=st.lists(st.integers(0, 500), max_size=6),
)
def test_any_input_gives_a_response_or_a_remote_protocol_error(
    wire: bytes, cuts: list[int]
) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parse(split(wire, cuts))


@given(body=st.binary(min_size=1, max_size=200), cut=st.integers(0, 10_000))
def test_a_truncated_chunked_answer_is_never_taken_as_complete(body: bytes, cut: int) -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, [7])
    head_and_some = wire[: cut % (len(wire) - 4)]  # the last chunk's line never arrives
    with pytest.raises(RemoteProtocolError):
        parse([head_and_some])
