"""bridge/intake/wire.py, the intake's HTTP/1.1 parser, at the level make mutation tests it: each
refusal's exact status and reason, each limit at and one past its bound, and the fields of an
accepted head. The server around it is tested over real sockets in test_http_limits.py."""

from __future__ import annotations

import pytest

from bridge.intake.wire import (MAX_CHUNK_LINE, MAX_HEAD_BYTES, MAX_HEADERS, Chunked, Head, HttpError,
                                parse_head)


def _refused(raw: bytes) -> tuple[int, str, bool]:
    with pytest.raises(HttpError) as e:
        parse_head(raw)
    return e.value.status, e.value.reason, e.value.keep


def _head(*lines: str) -> bytes:
    return "\r\n".join(lines).encode("latin-1")


def test_limits_are_what_the_docs_say() -> None:
    assert (MAX_HEAD_BYTES, MAX_HEADERS, MAX_CHUNK_LINE) == (32 * 1024, 100, 1024)


def test_header_count_at_and_past_the_limit() -> None:
    hdrs = [f"X-{i}: v" for i in range(MAX_HEADERS - 1)]
    head = parse_head(_head("POST / HTTP/1.1", "Content-Length: 0", *hdrs))
    assert len(head.headers) == MAX_HEADERS
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: 0", *hdrs, "X-last: v")) == (
        431, f"more than {MAX_HEADERS} header lines", False)


def test_an_accepted_head_in_full() -> None:
    head = parse_head(_head("POST /falco?x=1 HTTP/1.1", "Host: a", "Content-Type: application/json",
                            "content-length: 12", "X-Dup: one", "X-Dup:  two \t", "Expect: 100-Continue"))
    assert head == Head("POST", "/falco?x=1", "HTTP/1.1",
                        {"host": "a", "content-type": "application/json", "content-length": "12",
                         "x-dup": "one, two", "expect": "100-Continue"}, 12, True, True)
    assert head.get("X-DUP") == "one, two" and head.get("missing") == "" and head.get("missing", "d") == "d"


@pytest.mark.parametrize("version,conn,keep", [
    ("HTTP/1.1", "", True), ("HTTP/1.1", "Connection: close", False),
    ("HTTP/1.1", "Connection: Keep-Alive", True), ("HTTP/1.0", "", False),
    ("HTTP/1.0", "Connection: keep-alive", True), ("HTTP/1.0", "Connection: close", False),
])
def test_keep_alive(version: str, conn: str, keep: bool) -> None:
    lines = [f"POST / {version}", "Content-Length: 1"] + ([conn] if conn else [])
    assert parse_head(_head(*lines)).keep_alive is keep


def test_bodies_without_a_length() -> None:
    assert parse_head(_head("GET / HTTP/1.1", "Host: a")).length == 0
    assert parse_head(_head("POST / HTTP/1.1", "Transfer-Encoding: Chunked ")).length == -1
    for method in ("POST", "PUT"):
        assert _refused(_head(f"{method} / HTTP/1.1", "Host: a")) == (411, "Content-Length required", False)


def test_content_length_forms() -> None:
    assert parse_head(_head("POST / HTTP/1.1", "Content-Length: 5, 5", "Content-Length: 5")).length == 5
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: 5, 6")) == (
        400, "conflicting Content-Length values", False)
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: +5")) == (
        400, "bad Content-Length b'+5'", False)
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: " + "9" * 50)) == (
        400, f"bad Content-Length {b'9' * 40!r}", False)


def test_transfer_encodings() -> None:
    assert _refused(_head("POST / HTTP/1.1", "Transfer-Encoding: chunked", "Content-Length: 3")) == (
        400, "both Transfer-Encoding and Content-Length", False)
    assert _refused(_head("POST / HTTP/1.1", "Transfer-Encoding: gzip, chunked")) == (
        501, "Transfer-Encoding 'gzip, chunked' is not supported; send Content-Length", False)


def test_expect() -> None:
    assert parse_head(_head("POST / HTTP/1.1", "Content-Length: 1")).expect_continue is False
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: 1", "Expect: 200-ok")) == (
        417, "Expect '200-ok' is not supported", False)


def test_request_lines() -> None:
    long = "/" + "a" * 100
    line = f"POST {long}".encode()
    assert _refused(line) == (400, f"bad request line {line[:60]!r}", False)
    assert _refused(_head("POST  HTTP/1.1")) == (400, "bad request line b'POST  HTTP/1.1'", False)
    assert _refused(_head("P(ST / HTTP/1.1")) == (400, "bad request line b'P(ST / HTTP/1.1'", False)
    assert parse_head(_head("POST / HTTP/1.0", "Content-Length: 0")).version == "HTTP/1.0"
    assert _refused(_head("POST / HTTP/2.0")) == (505, "unsupported version 'HTTP/2.0'", False)
    version = "FTP/1.0" + "x" * 30
    assert _refused(_head(f"POST / {version}")) == (400, f"unsupported version {version[:20]!r}", False)


def test_header_lines() -> None:
    assert _refused(_head("POST / HTTP/1.1", " folded: x")) == (400, "bad header line b' folded: x'", False)
    assert _refused(_head("POST / HTTP/1.1", "no colon")) == (400, "bad header line b'no colon'", False)
    bad = "Bad Name: " + "x" * 100
    assert _refused(_head("POST / HTTP/1.1", bad)) == (400, f"bad header line {bad.encode()[:60]!r}", False)


def _chunks(data: bytes, limit: int = 100) -> bytes | None:
    return Chunked(limit).feed(bytearray(data))


def test_chunked_in_full() -> None:
    body = b"3;ext=1\r\nabc\r\n 2 \r\nde\r\n0\r\nTrailer: 1\r\n\r\nNEXT"
    buf = bytearray(body)
    dec = Chunked(5)
    assert dec.feed(buf) == b"abcde" and buf == bytearray(b"NEXT") and dec.total == 5
    assert _chunks(b"3\r\nabc\r\n") is None  # waiting for more
    assert _chunks(b"3\r\nabc") is None
    assert _chunks(b"3\r\nabc\r") is None


def test_chunked_limit_at_and_past() -> None:
    assert _chunks(b"5\r\nabcde\r\n0\r\n\r\n", limit=5) == b"abcde"
    with pytest.raises(HttpError) as e:
        _chunks(b"3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n", limit=5)
    assert (e.value.status, e.value.reason) == (400, "chunked body over the 5 byte limit")


@pytest.mark.parametrize("data,reason", [
    (b"zz\r\n", "bad chunk size b'zz'"),
    (b"0x3\r\nabc\r\n", "bad chunk size b'0x3'"),
    (b"3\r\nabcXY0\r\n\r\n", "chunk data not followed by CRLF"),
    (b"1" * 17 + b"\r\n", f"bad chunk size {b'1' * 17!r}"),
])
def test_chunked_refusals(data: bytes, reason: str) -> None:
    with pytest.raises(HttpError) as e:
        _chunks(data, limit=1 << 70)
    assert (e.value.status, e.value.reason, e.value.keep) == (400, reason, False)


def test_an_oversized_chunk_is_refused_at_its_size_line_before_its_data() -> None:
    with pytest.raises(HttpError) as e:
        _chunks(b"6\r\n", limit=5)  # no data yet: nothing over the limit is ever buffered
    assert e.value.reason == "chunked body over the 5 byte limit"


def test_line_ends_and_what_follows_the_body() -> None:
    with pytest.raises(HttpError) as e:
        _chunks(b"\r\n" + b"x" * 2000)
    assert e.value.reason == "bad chunk size b''"
    nxt = b"POST / HTTP/1.1\r\nContent-Length: 2000\r\n\r\n" + b"y" * 2000  # a pipelined request
    buf = bytearray(b"3\r\nabc\r\n0\r\n\r\n" + nxt)
    assert Chunked(100).feed(buf) == b"abc" and bytes(buf) == nxt
    assert Chunked(100).feed(bytearray(b"a" * (MAX_CHUNK_LINE + 1))) is None  # may be a line and its CR
    with pytest.raises(HttpError):
        Chunked(100).feed(bytearray(b"a" * (MAX_CHUNK_LINE + 2)))


def test_values_and_quoted_parts_in_full() -> None:
    assert parse_head(_head("POST / HTTP/1.1", "Content-Length: 0", "X-A: \tXvX \t")).get("x-a") == "XvX"
    te, expect, size = "x" * 50, "e" * 50, "g" * 30
    assert _refused(_head("POST / HTTP/1.1", f"Transfer-Encoding: {te}"))[1] == (
        f"Transfer-Encoding {te[:40]!r} is not supported; send Content-Length")
    assert _refused(_head("POST / HTTP/1.1", "Content-Length: 0", f"Expect: {expect}"))[1] == (
        f"Expect {expect[:40]!r} is not supported")
    with pytest.raises(HttpError) as e:
        _chunks(size.encode() + b"\r\n")
    assert e.value.reason == f"bad chunk size {size.encode()[:20]!r}"


def test_a_chunk_is_taken_as_soon_as_its_crlf_is_in() -> None:
    dec, buf = Chunked(100), bytearray(b"3\r\nabc\r\n")  # exactly one chunk, nothing after it
    assert dec.feed(buf) is None and buf == bytearray() and dec.total == 3
    with pytest.raises(HttpError) as e:
        _chunks(b"Xa\r\n")
    assert e.value.reason == "bad chunk size b'Xa'"
