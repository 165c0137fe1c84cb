"""Properties of the intake's HTTP parsing (bridge/intake/wire.py) and of the server under any
bytes: only HttpError for bad input, chunked bodies decoded however the stream is cut, and a
live intake that answers or closes, then serves the next client."""

from __future__ import annotations

import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_http import FALCO_BODY, Sink
from test_http_limits import Conn, read_answer, request

from bridge.intake.http import HttpIntake
from bridge.intake.wire import Chunked, HttpError, parse_head

HEAD_LINES = st.sampled_from([b"Host: x", b"Content-Length: 12", b"Content-Length: +1", b"Transfer-Encoding: chunked",
                              b"Transfer-Encoding: gzip", b"Expect: 100-continue", b"Connection: close", b" folded",
                              b"Bad Name: v", b"X: \xff\xfe", b""])
HEADS = st.builds(lambda first, lines: b"\r\n".join([first, *lines]),
                  st.sampled_from([b"POST / HTTP/1.1", b"GET /x HTTP/1.0", b"POST / HTTP/2", b"POST /", b"\x00 / HTTP/1.1"]),
                  st.lists(HEAD_LINES, max_size=6)) | st.binary(max_size=200)


@given(HEADS)
@settings(max_examples=300)
def test_parse_head_raises_only_http_errors(raw: bytes) -> None:
    try:
        head = parse_head(raw)
    except HttpError as e:
        assert 400 <= e.status <= 505 and e.reason
        return
    assert head.length >= -1 and head.version in ("HTTP/1.1", "HTTP/1.0")


@given(st.lists(st.binary(min_size=1, max_size=40), max_size=5), st.lists(st.integers(1, 30), max_size=8))
def test_chunked_decodes_however_the_stream_is_cut(parts: list[bytes], cuts: list[int]) -> None:
    wire = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\nTrailer: t\r\n\r\nNEXT"
    dec, buf, out = Chunked(limit=1000), bytearray(), None
    pos = 0
    for n in [*cuts, len(wire)]:
        buf += wire[pos:pos + n]
        pos += n
        out = dec.feed(buf)
        if out is not None:
            break
    assert out == b"".join(parts)
    assert bytes(buf) + wire[pos:] == b"NEXT"  # the next request's bytes are left in place


@given(st.binary(max_size=300))
def test_chunked_on_any_bytes_raises_only_http_errors(data: bytes) -> None:
    try:
        Chunked(limit=100).feed(bytearray(data))
    except HttpError as e:
        assert e.status == 400


@given(st.lists(st.binary(min_size=1, max_size=120) | HEADS.map(lambda h: h + b"\r\n\r\n"), min_size=1, max_size=4))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_byte_stream_gets_an_answer_or_a_close_and_the_server_goes_on(pieces: list[bytes]) -> None:
    sink = Sink()
    intake = HttpIntake(sink, max_body=400, header_timeout=0.3, body_timeout=0.3, inline=True)
    intake.start()
    try:
        with socket.create_connection(("127.0.0.1", intake.port), timeout=5) as s:
            try:
                for p in pieces:
                    s.sendall(p)
                s.shutdown(socket.SHUT_WR)
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            except (ConnectionResetError, BrokenPipeError):
                data = b""
        for answer in data.split(b"HTTP/1.1 ")[1:]:
            assert answer[:3].isdigit() and not answer.startswith(b"500")
        with Conn(intake.port) as c:  # a well-formed client right after is served
            c.sendall(request(FALCO_BODY))
            assert read_answer(c)[0] == 200
    finally:
        intake.stop()
