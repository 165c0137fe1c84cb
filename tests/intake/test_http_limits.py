"""The HTTP intake's own parser against hostile input on a real socket: each limit at and just
beyond its bound, request smuggling shapes, slow clients, pipelining, too many connections."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from test_http import FALCO_BODY, Sink

from bridge.intake.http import HttpIntake
from bridge.intake.wire import MAX_HEAD_BYTES, MAX_HEADERS


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture(params=[False, True], ids=["pool", "inline"])
def intake(sink: Sink, request: pytest.FixtureRequest) -> Iterator[HttpIntake]:
    i = HttpIntake(sink, max_body=4096, header_timeout=0.5, body_timeout=0.5, idle_timeout=0.8, max_connections=4,
                   inline=request.param)
    i.start()
    yield i
    i.stop()


class Conn:
    """A client socket with a read buffer, so answers that arrive together (pipelining) are read
    one by one."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.buf = b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, n: int) -> bytes:
        return self.sock.recv(n)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(intake: HttpIntake) -> Conn:
    return Conn(intake.port)


def read_answer(c: Conn) -> tuple[int, bytes, bytes]:
    """One response: (status, head, body); status 0 if the server closed without answering."""
    try:
        while b"\r\n\r\n" not in c.buf:
            chunk = c.recv(65536)
            if not chunk:
                return 0, c.buf, b""
            c.buf += chunk
        head, _, rest = c.buf.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(rest) < length:
            chunk = c.recv(65536)
            if not chunk:
                break
            rest += chunk
    except ConnectionResetError:
        return 0, c.buf, b""
    c.buf = rest[length:]
    return int(head[9:12]), head, rest[:length]


def exchange(intake: HttpIntake, raw: bytes) -> tuple[int, bytes, bytes]:
    with connect(intake) as s:
        s.sendall(raw)
        return read_answer(s)


def request(body: bytes = FALCO_BODY, extra: bytes = b"", length: bytes | None = None) -> bytes:
    cl = b"Content-Length: %s\r\n" % (length if length is not None else str(len(body)).encode())
    return b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + extra + cl + b"\r\n" + body


def closed(s: Conn) -> bool:
    try:
        return s.recv(1) == b""
    except ConnectionResetError:
        return True


# --- header size and count --------------------------------------------------------------------

def test_headers_at_the_byte_limit_pass_and_one_byte_more_is_431(intake: HttpIntake, sink: Sink) -> None:
    base = len(request(b"", extra=b"X-Pad: \r\n", length=b"%d" % len(FALCO_BODY))) - 4  # without the blank line
    pad = b"a" * (MAX_HEAD_BYTES - base)
    assert exchange(intake, request(extra=b"X-Pad: " + pad + b"\r\n"))[0] == 200
    status, head, body = exchange(intake, request(extra=b"X-Pad: " + pad + b"a\r\n"))
    assert status == 431 and b"Connection: close" in head and str(MAX_HEAD_BYTES).encode() in body
    assert len(sink.alerts) == 1 and intake.rejected == 1


def test_headers_never_ending_are_431_once_over_the_limit(intake: HttpIntake) -> None:
    with connect(intake) as s:
        s.sendall(b"POST / HTTP/1.1\r\nX-Long: " + b"a" * (MAX_HEAD_BYTES + 10))
        assert read_answer(s)[0] == 431


def test_header_count_at_the_limit_passes_and_one_more_is_431(intake: HttpIntake, sink: Sink) -> None:
    fixed = 3  # Host, Content-Type, Content-Length
    at_limit = b"".join(b"X-H%d: v\r\n" % i for i in range(MAX_HEADERS - fixed))
    assert exchange(intake, request(extra=at_limit))[0] == 200
    status, _, body = exchange(intake, request(extra=at_limit + b"X-One-More: v\r\n"))
    assert status == 431 and b"more than 100 header lines" in body
    assert len(sink.alerts) == 1


@pytest.mark.parametrize(("raw", "status", "reason"), [
    (b"POST / HTTP/1.1\r\nHost: x\r\n folded: v\r\nContent-Length: 2\r\n\r\n{}", 400, b"bad header line"),
    (b"POST / HTTP/1.1\r\nBad Name: v\r\nContent-Length: 2\r\n\r\n{}", 400, b"bad header line"),
    (b"POST /  HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, b"bad request line"),
    (b"POST / HTTP/2.0\r\nContent-Length: 2\r\n\r\n{}", 505, b"unsupported version"),
    (b"POST / HTTP/1.1\r\nExpect: something\r\nContent-Length: 2\r\n\r\n{}", 417, b"Expect"),
])
def test_malformed_heads(intake: HttpIntake, raw: bytes, status: int, reason: bytes) -> None:
    got, head, body = exchange(intake, raw)
    assert got == status and reason in body and b"Connection: close" in head
    assert intake.rejected == 1


# --- body framing: Content-Length only, chunked, nothing else -------------------------------------

@pytest.mark.parametrize("value", [b"+5", b"5_0", b"0x10", b"-1", b"1e3", b"", b"12345678901234567890"])
def test_content_length_must_be_plain_digits(intake: HttpIntake, value: bytes) -> None:
    status, _, body = exchange(intake, request(length=value))
    assert status == 400 and b"Content-Length" in body


def test_conflicting_content_lengths_are_400_equal_ones_pass(intake: HttpIntake, sink: Sink) -> None:
    n = str(len(FALCO_BODY)).encode()
    assert exchange(intake, request(extra=b"Content-Length: %s\r\n" % n))[0] == 200
    status, _, body = exchange(intake, request(extra=b"Content-Length: 3\r\n"))
    assert status == 400 and b"conflicting Content-Length" in body
    assert len(sink.alerts) == 1


def test_no_content_length_is_411(intake: HttpIntake) -> None:
    assert exchange(intake, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")[0] == 411


def test_unsupported_transfer_encoding_is_501(intake: HttpIntake, sink: Sink) -> None:
    status, _, body = exchange(intake, b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert status == 501 and b"send Content-Length" in body and sink.alerts == []


def test_transfer_encoding_with_content_length_is_400(intake: HttpIntake, sink: Sink) -> None:
    raw = request(extra=b"Transfer-Encoding: chunked\r\n")  # the shape of request smuggling
    status, _, body = exchange(intake, raw)
    assert status == 400 and b"both Transfer-Encoding and Content-Length" in body and sink.alerts == []


def chunked(parts: list[bytes]) -> bytes:
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + body


def test_chunked_body_limit(intake: HttpIntake, sink: Sink) -> None:
    doc = FALCO_BODY[:-1] + b',"pad":"' + b"p" * (4096 - len(FALCO_BODY) - 9) + b'"}'
    assert len(doc) == 4096
    assert exchange(intake, chunked([doc[:1000], doc[1000:]]))[0] == 200
    status, _, body = exchange(intake, chunked([doc[:1000], doc[1000:] + b" "]))
    assert status == 400 and b"over the 4096 byte limit" in body
    assert len(sink.alerts) == 1


@pytest.mark.parametrize("size_line", [b"zz", b"+10", b"1_0", b"0x10", b"1" * 17])
def test_bad_chunk_sizes_are_400(intake: HttpIntake, size_line: bytes) -> None:
    raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + size_line + b"\r\n"
    status, _, body = exchange(intake, raw)
    assert status == 400 and b"chunk size" in body


def test_body_at_the_limit_passes_and_one_byte_more_is_400(intake: HttpIntake, sink: Sink) -> None:
    doc = FALCO_BODY[:-1] + b',"pad":"' + b"p" * (4096 - len(FALCO_BODY) - 9) + b'"}'
    assert exchange(intake, request(doc))[0] == 200
    status, head, body = exchange(intake, request(doc + b" "))
    assert status == 400 and b"Connection: close" in head
    assert b"body of 4097 bytes is over the 4096 byte limit (intake.max_body_bytes)" in body
    assert len(sink.alerts) == 1 and intake.rejected == 1


def test_oversized_with_expect_100_is_refused_before_the_body(intake: HttpIntake) -> None:
    # libcurl (Falco's http_output) asks 100-continue for large bodies: no 100 may come, only the 400.
    with connect(intake) as s:
        s.sendall(request(b"", extra=b"Expect: 100-continue\r\n", length=b"10485760"))
        status, head, body = read_answer(s)
        assert status == 400 and b"10485760" in body and b"100 Continue" not in head
        assert closed(s)


# --- slow clients ----------------------------------------------------------------------------------

def test_slowloris_headers_get_408_and_the_connection_closes(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        t0 = time.monotonic()
        for b in b"POST / HTTP/1.1\r\nHost: x\r\n":
            s.sendall(bytes([b]))
            time.sleep(0.05)  # a byte each 50 ms: always sending, never done within the 0.5 s allowed
            if time.monotonic() - t0 > 0.4:
                break
        status, _, body = read_answer(s)
        assert status == 408 and b"not complete in time" in body
        assert closed(s)
    assert intake.rejected == 1 and sink.alerts == []


def test_slow_body_gets_408(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(request(length=str(len(FALCO_BODY)).encode())[:-10])  # all but the last 10 bytes
        status, _, _ = read_answer(s)
        assert status == 408 and closed(s)
    assert sink.alerts == []


def test_idle_keep_alive_connection_is_closed_quietly(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(request())
        assert read_answer(s)[0] == 200
        time.sleep(1.5)  # idle_timeout 0.8 s
        assert closed(s)
    assert intake.rejected == 0


# --- connection behaviour ------------------------------------------------------------------------

def test_pipelined_requests_are_answered_in_order(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(request() + request(b"{") + request())  # the middle one is malformed JSON
        assert [read_answer(s)[0] for _ in range(3)] == [200, 400, 200]
    assert len(sink.alerts) == 2


def test_http_1_0_closes_after_the_answer(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(request().replace(b"HTTP/1.1", b"HTTP/1.0", 1))
        status, head, _ = read_answer(s)
        assert status == 200 and b"Connection: close" in head and closed(s)


def test_get_is_405_and_the_connection_stays_usable(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(s)[0] == 405
        s.sendall(request())
        assert read_answer(s)[0] == 200
    assert len(sink.alerts) == 1


def test_connections_over_the_limit_get_503(intake: HttpIntake, sink: Sink) -> None:
    held = [connect(intake) for _ in range(4)]
    try:
        for s in held:  # each one served, so each is registered before the next
            s.sendall(request())
            assert read_answer(s)[0] == 200
        with connect(intake) as extra:
            status, _, body = read_answer(extra)
            assert status == 503 and b"over 4 connections" in body
        held[0].close()
        time.sleep(0.2)
        assert exchange(intake, request())[0] == 200  # room again
    finally:
        for s in held:
            s.close()
    assert len(sink.alerts) == 5


def test_falco_compress_uploads_headers_are_served(intake: HttpIntake, sink: Sink) -> None:
    # http_output.compress_uploads sets CURLOPT_TRANSFER_ENCODING: libcurl then asks for a
    # transfer-coded *answer* (TE), which is not a Transfer-Encoding of the request.
    extra = b"User-Agent: falcosecurity/falco\r\nAccept: */*\r\nConnection: TE\r\nTE: gzip\r\n"
    with connect(intake) as s:
        for _ in range(2):  # and the connection is kept
            s.sendall(request(extra=extra))
            status, head, _ = read_answer(s)
            assert status == 200 and b"Connection: close" not in head
    assert len(sink.alerts) == 2


def test_a_client_that_shuts_its_sending_side_still_gets_its_answer(intake: HttpIntake, sink: Sink) -> None:
    with connect(intake) as s:
        s.sendall(request())
        s.sock.shutdown(socket.SHUT_WR)
        assert read_answer(s)[0] == 200 and closed(s)
    assert len(sink.alerts) == 1
