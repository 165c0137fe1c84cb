"""The intake's HTTP/1.1 server (bridge/intake/server.py) where mutation testing found it
untested: the answer's head, empty lines before a request, a head whose end arrives in pieces,
requests refused from their head (body read and dropped, or over the limit), 100-continue only
when the body is not there yet, a client sending far ahead of a held handler, a handler that
raises, connections freed after failed TLS handshakes, connections closed by stop(), and no
asyncio error behind any of it. Real sockets against HttpIntake; no timed assertions."""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import orjson
import pytest
from pki import client_context, make_pki
from test_http import FALCO_BODY, Sink
from test_http_limits import Conn, closed, read_answer, request

from bridge.intake.http import HttpIntake
from bridge.intake.server import Reply, response
from bridge.intake.tls import TlsConfig
from bridge.intake.wire import MAX_HEAD_BYTES
from bridge.model import Alert


@pytest.fixture(autouse=True)
def no_loop_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """An exception in a protocol callback is logged by asyncio and the transport closed: the
    client may still see a plausible answer, so every test also checks the log (after the
    intake has stopped, so the loop has logged all it will)."""
    caplog.set_level(logging.WARNING)
    yield
    bad = [r for r in caplog.records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert bad == []


@pytest.fixture(params=[False, True], ids=["pool", "inline"])
def intake(request: pytest.FixtureRequest) -> Iterator[HttpIntake]:
    i = HttpIntake(Sink(), max_body=4096, max_connections=4, inline=request.param)
    i.start()
    yield i
    i.stop()


def alerts(i: HttpIntake) -> list[Alert]:
    sink = i.on_alert
    assert isinstance(sink, Sink)
    return sink.alerts


def wait_readable(s: Conn, seconds: float) -> bool:
    """Whether the server sent something within `seconds` (used only to give a wrong early
    answer the chance to show; the right behaviour is silence)."""
    return bool(select.select([s.sock], [], [], seconds)[0])


# --- the answer ------------------------------------------------------------------------------------

def test_response_head_and_body() -> None:
    before = int(time.time())
    raw = response(503, {"error": "full"}, close=True, retry_after="1")
    after = int(time.time())
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert lines[1:3] == ["Server: ctbridge", lines[2]] and lines[2].startswith("Date: ")
    assert before <= parsedate_to_datetime(lines[2][6:]).timestamp() <= after
    assert lines[2].endswith(" GMT")
    assert lines[3:] == ["Content-Type: application/json", f"Content-Length: {len(body)}", "Retry-After: 1",
                         "Connection: close"]
    assert orjson.loads(body) == {"error": "full"}
    assert response(200, {"status": "ok"}, close=False).split(b"\r\n\r\n")[0].split(b"\r\n")[3:] == [
        b"Content-Type: application/json", b"Content-Length: 15"]


def test_date_is_refreshed_each_second() -> None:
    dates: set[bytes] = set()
    t0 = time.time()
    while len(dates) < 2 and time.time() - t0 < 30:
        raw = response(200, {}, close=False)
        dates.add(raw.split(b"\r\nDate: ", 1)[1].split(b"\r\n", 1)[0])
        time.sleep(0.05)
    assert len(dates) == 2


def test_a_200_over_the_socket(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(request())
        status, head, body = read_answer(s)
    assert (status, body) == (200, b'{"status":"ok"}')
    assert head.startswith(b"HTTP/1.1 200 OK\r\nServer: ctbridge\r\nDate: ")
    assert b"Connection: close" not in head and b"Retry-After" not in head


# --- reading requests --------------------------------------------------------------------------------

def test_empty_lines_before_a_request_are_ignored(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(b"\r\n\r\n\r\n" + request())
        assert read_answer(s)[0] == 200
        s.sendall(b"\r\n" + request())
        assert read_answer(s)[0] == 200
    assert len(alerts(intake)) == 2


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_a_head_whose_end_arrives_in_pieces(intake: HttpIntake, cut: int) -> None:
    raw = request()
    end = raw.index(b"\r\n\r\n") + 4
    with Conn(intake.port) as s:
        s.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (raw[:40], raw[40:end - cut]):
            s.sendall(piece)
            assert not wait_readable(s, 0.1)
        s.sendall(raw[end - cut:])
        assert read_answer(s)[0] == 200
    assert len(alerts(intake)) == 1


def test_a_head_of_the_limit_waits_for_its_terminator(intake: HttpIntake) -> None:
    base = len(request(b"", extra=b"X-Pad: \r\n", length=b"%d" % len(FALCO_BODY))) - 4
    raw = request(extra=b"X-Pad: " + b"a" * (MAX_HEAD_BYTES - base) + b"\r\n")
    end = raw.index(b"\r\n\r\n")
    assert end == MAX_HEAD_BYTES
    with Conn(intake.port) as s:
        s.sendall(raw[:end + 3])  # all but the terminator's last byte
        assert not wait_readable(s, 0.3)  # not a 431: the head may still end at the limit
        s.sendall(raw[end + 3:])
        assert read_answer(s)[0] == 200


def test_a_refused_request_has_its_body_read_and_the_connection_goes_on(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(request().replace(b"POST / ", b"POST /elsewhere ", 1))
        status, head, body = read_answer(s)
        assert status == 404 and b"Connection: close" not in head
        s.sendall(b"PUT / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde" + request())
        assert read_answer(s)[0] == 405
        assert read_answer(s)[0] == 200
    assert len(alerts(intake)) == 1


def test_a_refused_http_1_0_request_closes(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(request().replace(b"POST / HTTP/1.1", b"POST /x HTTP/1.0", 1))
        status, head, _ = read_answer(s)
        assert status == 404 and b"Connection: close" in head and closed(s)


def test_a_refused_request_over_the_body_limit_gets_its_own_answer_and_a_close(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(request(b"", length=b"10485760").replace(b"POST / ", b"POST /elsewhere ", 1))
        status, head, body = read_answer(s)
        assert status == 404 and b"Connection: close" in head and b"/elsewhere" in body
        assert closed(s)
    assert intake.rejected == 0


def test_no_100_continue_when_the_body_came_with_the_head(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(request(extra=b"Expect: 100-continue\r\n"))  # one send: head and body together
        status, head, _ = read_answer(s)
        assert status == 200 and head.startswith(b"HTTP/1.1 200 OK")
    with Conn(intake.port) as s:
        raw = request(extra=b"Expect: 100-continue\r\n")
        cut = raw.index(b"\r\n\r\n") + 4
        s.sendall(raw[:cut])
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(raw[cut:])
        assert read_answer(s)[0] == 200


def test_a_chunked_request_then_another_on_the_same_connection(intake: HttpIntake) -> None:
    chunked = (b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
               + b"%x\r\n%s\r\n0\r\n\r\n" % (len(FALCO_BODY), FALCO_BODY))
    with Conn(intake.port) as s:
        s.sendall(chunked + request() + chunked)
        assert [read_answer(s)[0] for _ in range(3)] == [200, 200, 200]
    assert len(alerts(intake)) == 3


def test_protocol_errors_name_the_peer(intake: HttpIntake, caplog: pytest.LogCaptureFixture) -> None:
    with Conn(intake.port) as s:
        s.sendall(b"POST / HTTP/3\r\n\r\n")
        assert read_answer(s)[0] == 505
    assert any(r.getMessage().startswith("rejected request from 127.0.0.1: 505 ") for r in caplog.records)


# --- a client far ahead of a held handler ------------------------------------------------------------

def test_a_client_sending_far_ahead_of_a_held_handler_is_answered_in_order() -> None:
    release = threading.Event()
    got: list[str] = []

    def on_alert(alert: Alert) -> None:
        if alert.rule == "hold":
            release.wait(30)
        got.append(alert.rule)

    intake = HttpIntake(on_alert)
    intake.start()
    try:
        with Conn(intake.port) as s:
            first = request(orjson.dumps(orjson.loads(FALCO_BODY) | {"rule": "hold"}))
            pad = b"X-Pad: " + b"p" * 4000 + b"\r\n"
            rest = [request(orjson.dumps(orjson.loads(FALCO_BODY) | {"rule": f"r{k}"}), extra=pad)
                    for k in range(60)]
            assert sum(map(len, rest)) > 3 * MAX_HEAD_BYTES
            s.sendall(first)
            sender = threading.Thread(target=s.sendall, args=(b"".join(rest),))
            sender.start()
            release.set()
            statuses = [read_answer(s)[0] for _ in range(61)]
            sender.join(30)
    finally:
        release.set()
        intake.stop()
    assert statuses == [200] * 61
    assert got == ["hold"] + [f"r{k}" for k in range(60)]


# --- the handler fails ----------------------------------------------------------------------------

def test_a_handler_that_raises_answers_500_to_each_request(caplog: pytest.LogCaptureFixture) -> None:
    def on_count(name: str) -> None:
        raise RuntimeError("counter broke")

    intake = HttpIntake(Sink(), on_count=on_count)
    intake.start()
    try:
        with Conn(intake.port) as s:
            s.sendall(request())
            status, _, body = read_answer(s)
            assert status == 500
            assert orjson.loads(body) == {"error": "intake handler failed; see the bridge log"}
            s.sendall(request())  # and the connection goes on
            assert read_answer(s)[0] == 500
    finally:
        intake.stop()
    failures = [r for r in caplog.records if r.getMessage() == "intake handler failed"]
    assert len(failures) == 2 and all(r.name == "ctbridge.intake.http" and r.exc_info for r in failures)


def test_inline_handler_that_raises_answers_500() -> None:
    def on_count(name: str) -> None:
        raise RuntimeError("counter broke")

    intake = HttpIntake(Sink(), on_count=on_count, inline=True)
    intake.start()
    try:
        with Conn(intake.port) as s:
            s.sendall(request() + request())
            assert [read_answer(s)[0] for _ in range(2)] == [500, 500]
    finally:
        intake.stop()


def test_reply_defaults() -> None:
    assert Reply(200, {}).retry_after is None
    assert b"Retry-After" not in response(200, {}, close=False, retry_after=Reply(200, {}).retry_after)


# --- connections: TLS failures, stop ---------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_failed_tls_handshakes_free_their_connection(pki: Path) -> None:
    sink = Sink()
    intake = HttpIntake(sink, tls=TlsConfig(cert=str(pki / "server.pem"), key=str(pki / "server.key")),
                        max_connections=2)
    intake.start()
    try:
        for _ in range(4):  # each a connection that fails its handshake: plain HTTP to the TLS port
            with socket.create_connection(("127.0.0.1", intake.port), timeout=10) as raw:
                raw.sendall(request())
                try:
                    while raw.recv(4096):
                        pass
                except ConnectionResetError:
                    pass
        deadline = time.monotonic() + 30
        while intake.tls_failures < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert intake.tls_failures == 4
        ctx = client_context(pki, with_cert=False)
        for _ in range(2):
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", intake.port), timeout=10),
                                 server_hostname="127.0.0.1") as s:
                s.sendall(request())
                assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        intake.stop()
    assert len(sink.alerts) == 2


def test_stop_closes_open_connections() -> None:
    intake = HttpIntake(Sink())
    intake.start()
    s = Conn(intake.port)
    try:
        s.sendall(request())
        assert read_answer(s)[0] == 200  # a kept-alive connection, idle
        intake.stop()
        assert closed(s)
    finally:
        s.close()
        intake.stop()


def test_tls_connection_from_a_client_that_hangs_up_at_once(pki: Path) -> None:
    sink = Sink()
    intake = HttpIntake(sink, tls=TlsConfig(cert=str(pki / "server.pem"), key=str(pki / "server.key")))
    intake.start()
    try:
        socket.create_connection(("127.0.0.1", intake.port), timeout=10).close()
        ctx = client_context(pki, with_cert=False)
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", intake.port), timeout=10),
                             server_hostname="127.0.0.1") as s:
            s.sendall(request())
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    except ssl.SSLError:
        raise
    finally:
        intake.stop()
    assert len(sink.alerts) == 1


# --- clocks: which one runs when ------------------------------------------------------------------

def test_a_body_has_its_own_clock_not_the_headers() -> None:
    sink = Sink()
    intake = HttpIntake(sink, header_timeout=0.2, body_timeout=60, idle_timeout=60)  # sweeps every 0.05 s
    intake.start()
    try:
        with Conn(intake.port) as s:
            raw = request(extra=b"Expect: 100-continue\r\n")
            cut = raw.index(b"\r\n\r\n") + 4
            s.sendall(raw[:cut])
            assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"  # the head is in
            assert not wait_readable(s, 0.6)  # many sweeps past the header clock: no 408
            s.sendall(raw[cut:])
            assert read_answer(s)[0] == 200
    finally:
        intake.stop()
    assert len(sink.alerts) == 1


def test_a_held_handler_is_not_timed_out() -> None:
    entered, release = threading.Event(), threading.Event()

    def on_alert(alert: Alert) -> None:
        entered.set()
        release.wait(30)

    intake = HttpIntake(on_alert, header_timeout=0.2, body_timeout=0.2, idle_timeout=0.2)
    intake.start()
    try:
        with Conn(intake.port) as s:
            s.sendall(request())
            assert entered.wait(30)
            assert not wait_readable(s, 0.6)  # the request's clocks ran out while it was held: no 408
            release.set()
            status, head, _ = read_answer(s)
            assert status == 200 and b"Connection: close" not in head
    finally:
        release.set()
        intake.stop()
    assert intake.rejected == 0


def test_headers_too_slow_get_a_408_that_closes(caplog: pytest.LogCaptureFixture) -> None:
    intake = HttpIntake(Sink(), header_timeout=0.2)
    intake.start()
    try:
        with Conn(intake.port) as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
            status, head, body = read_answer(s)  # waits for the sweep to give up on the head
            assert status == 408 and b"Connection: close" in head
            assert orjson.loads(body) == {"error": "request not complete in time"}
            assert closed(s)
    finally:
        intake.stop()
    assert intake.rejected == 1
    assert "rejected request from 127.0.0.1: 408 request not complete in time" in [
        r.getMessage() for r in caplog.records]


def test_oversized_head_message(intake: HttpIntake) -> None:
    with Conn(intake.port) as s:
        s.sendall(b"POST / HTTP/1.1\r\nX-Long: " + b"a" * (MAX_HEAD_BYTES + 10))
        status, _, body = read_answer(s)
    assert (status, orjson.loads(body)) == (431, {"error": f"request headers over {MAX_HEAD_BYTES} bytes"})


def test_nothing_more_is_answered_after_an_error_and_the_linger_ends_in_a_close() -> None:
    sink = Sink()
    intake = HttpIntake(sink, header_timeout=0.2)  # sweeps every 0.05 s
    intake.start()
    try:
        with Conn(intake.port) as s:
            s.sendall(b"POST / HTTP/2.0\r\n\r\n")
            status, head, _ = read_answer(s)
            assert status == 505 and b"Connection: close" in head
            assert closed(s)  # our answer, then the server's end of sending
            deadline = time.monotonic() + 30
            gone = False
            while not gone and time.monotonic() < deadline:  # the client goes on sending: dropped
                try:
                    s.sendall(request())
                    time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    gone = True  # the linger is over: the server closed the connection
            assert gone
    finally:
        intake.stop()
    assert sink.alerts == []
