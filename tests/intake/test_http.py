"""HttpIntake against real HTTP(S) requests on a loopback socket, with Falco's exact http_output bodies."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pki import client_context, make_pki

from bridge.errors import ConfigError
from bridge.intake.http import HttpIntake
from bridge.intake.tls import TlsConfig
from bridge.model import Alert

# Byte for byte what Falco's http_output POSTs with json_output: true (keys sorted, compact).
FALCO_BODY = (
    b'{"hostname":"h","output":"17:24:16.000000000: Critical A encryption configuration was deleted '
    b'(bucket=jd-1603127991)","output_fields":{"ct.region":"us-east-1","evt.time":1603128256000000000},'
    b'"priority":"Critical","rule":"Delete Bucket Encryption","source":"aws_cloudtrail","tags":["aws","cloud"],'
    b'"time":"2020-10-19T17:24:16.000000000Z"}'
)
FALCO_HEADERS = {"Content-Type": "application/json", "User-Agent": "falcosecurity/falco"}


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.lock = threading.Lock()

    def __call__(self, alert: Alert) -> None:
        with self.lock:
            self.alerts.append(alert)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture(params=[False, True], ids=["pool", "inline"])
def intake(sink: Sink, request: pytest.FixtureRequest) -> Iterator[HttpIntake]:
    i = HttpIntake(sink, path="/falco", inline=request.param)
    i.start()
    yield i
    i.stop()


def post(url: str, body: bytes, headers: dict[str, str] | None = None,
         context: ssl.SSLContext | None = None) -> tuple[int, dict[str, Any]]:
    u = urlsplit(url)
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname or "", u.port, context=context, timeout=10)
    else:
        conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        conn.request("POST", u.path, body=body, headers=headers if headers is not None else FALCO_HEADERS)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_falco_json_alert(intake: HttpIntake, sink: Sink) -> None:
    url = intake.url
    assert url.startswith("http://127.0.0.1:") and url.endswith("/falco")
    status, body = post(url, FALCO_BODY)
    assert (status, body) == (200, {"status": "ok"})
    (alert,) = sink.alerts
    assert alert.rule == "Delete Bucket Encryption"
    assert alert.priority == "Critical"
    assert alert.source == "aws_cloudtrail"
    assert alert.time == "2020-10-19T17:24:16.000000000Z"
    assert alert.hostname == "h"
    assert alert.tags == ("aws", "cloud")
    assert alert.output_fields == {"ct.region": "us-east-1", "evt.time": 1603128256000000000}
    assert alert.output.startswith("17:24:16.000000000: Critical A encryption")
    assert alert.extra == {"intake": "http"}
    assert alert.to_dict() | {} == json.loads(FALCO_BODY) | {"intake": "http"}
    assert intake.received == 1 and intake.rejected == 0


def test_message_and_unknown_keys_are_kept_in_extra(intake: HttpIntake, sink: Sink) -> None:
    obj = json.loads(FALCO_BODY) | {"message": "A encryption configuration was deleted", "uuid": "u-1",
                                    "priority": "WARNING"}
    assert post(intake.url, json.dumps(obj).encode())[0] == 200
    (alert,) = sink.alerts
    assert alert.priority == "Warning"
    assert alert.extra == {"message": "A encryption configuration was deleted", "uuid": "u-1", "intake": "http"}


def test_internal_message_without_tags(intake: HttpIntake, sink: Sink) -> None:
    obj = {"hostname": "h", "output": "Falco internal: timeouts notification", "output_fields": {},
           "priority": "Debug", "rule": "Falco internal: timeouts notification", "source": "internal",
           "time": "2026-11-20T10:00:00.000000000Z"}
    assert post(intake.url, json.dumps(obj).encode())[0] == 200
    assert sink.alerts[0].source == "internal" and sink.alerts[0].tags == ()


def test_text_plain_alert(intake: HttpIntake, sink: Sink) -> None:
    line = b"17:24:16.000000000: Critical A encryption configuration was deleted (bucket=jd-1603127991)\n"
    status, _ = post(intake.url, line, {"Content-Type": "text/plain"})
    assert status == 200
    (alert,) = sink.alerts
    assert alert.rule == ""
    assert alert.output == line.decode().rstrip("\n")
    assert alert.priority == "Critical"
    assert alert.time == ""  # %evt.time has no date
    assert alert.extra == {"intake": "http"}


def test_text_plain_with_iso_time(intake: HttpIntake, sink: Sink) -> None:
    line = b"2020-10-19T17:24:16.000000000+0000: Warning Key scheduled for deletion"
    assert post(intake.url, line, {"Content-Type": "text/plain"})[0] == 200
    assert sink.alerts[0].time == "2020-10-19T17:24:16.000000000Z"
    assert sink.alerts[0].priority == "Warning"


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (b'{"rule": "x", "priority": "Warning", "time": "t"', "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "must be a JSON object"),
        (b'{"priority": "Warning", "time": "t"}', "application/json", "'rule' must be a string, got missing"),
        (b'{"rule": 5, "priority": "Warning", "time": "t"}', "application/json", "'rule' must be a string, got int"),
        (b'{"rule": "r", "priority": "Warning", "time": "t", "tags": "aws"}', "application/json", "'tags'"),
        (b'{"rule": "r", "priority": "Warning", "time": "t", "output_fields": []}', "application/json",
         "'output_fields' must be an object"),
        (b"\xff\xfe not text", "text/plain", "not valid UTF-8"),
        (b"   ", "application/json", "empty body"),
    ],
)
def test_bad_bodies_get_400_and_are_counted(intake: HttpIntake, sink: Sink, caplog: pytest.LogCaptureFixture,
                                            body: bytes, ctype: str, message: str) -> None:
    with caplog.at_level(logging.WARNING, logger="ctbridge.intake.http"):
        status, answer = post(intake.url, body, {"Content-Type": ctype})
    assert status == 400
    assert message in answer["error"]
    assert intake.rejected == 1 and intake.received == 0 and sink.alerts == []
    assert any(message in r.getMessage() for r in caplog.records)
    # The server is still fine.
    assert post(intake.url, FALCO_BODY)[0] == 200


def test_wrong_path_is_404(intake: HttpIntake, sink: Sink) -> None:
    u = urlsplit(intake.url)
    status, answer = post(f"http://{u.netloc}/other", FALCO_BODY)
    assert status == 404 and "/falco" in answer["error"]
    assert sink.alerts == []


def test_keep_alive_connection_carries_many_alerts(intake: HttpIntake, sink: Sink) -> None:
    u = urlsplit(intake.url)
    conn = http.client.HTTPConnection(u.hostname or "", u.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("POST", u.path, body=FALCO_BODY, headers=FALCO_HEADERS)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 200
        conn.request("POST", u.path, body=b"{", headers=FALCO_HEADERS)  # a bad one in between
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 400
        conn.request("POST", u.path, body=FALCO_BODY, headers=FALCO_HEADERS)
        assert conn.getresponse().status == 200
    finally:
        conn.close()
    assert len(sink.alerts) == 21 and intake.rejected == 1


def raw_exchange(port: int, head: bytes, body: bytes, expect_continue: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        if expect_continue:
            interim = s.recv(1024)
            assert interim.startswith(b"HTTP/1.1 100")
        s.sendall(body)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def test_expect_100_continue_like_libcurl(intake: HttpIntake, sink: Sink) -> None:
    # libcurl asks for 100-continue before large POST bodies.
    head = (f"POST /falco HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(FALCO_BODY)}\r\nExpect: 100-continue\r\n\r\n").encode()
    answer = raw_exchange(intake.port, head, FALCO_BODY, expect_continue=True)
    assert answer.startswith(b"HTTP/1.1 200")
    assert len(sink.alerts) == 1


def test_chunked_body(intake: HttpIntake, sink: Sink) -> None:
    head = b"POST /falco HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    half = len(FALCO_BODY) // 2
    parts = [FALCO_BODY[:half], FALCO_BODY[half:]]
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    answer = raw_exchange(intake.port, head, body, expect_continue=False)
    assert answer.startswith(b"HTTP/1.1 200")
    assert sink.alerts[0].rule == "Delete Bucket Encryption"


def test_oversized_body_is_400_without_reading_it(intake: HttpIntake) -> None:
    head = (b"POST /falco HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 999999999\r\n\r\n")
    answer = raw_exchange(intake.port, head, b"", expect_continue=False)
    assert answer.startswith(b"HTTP/1.1 400") and b"Connection: close" in answer
    assert b"over the 8388608 byte limit (intake.max_body_bytes)" in answer
    assert intake.rejected == 1


def test_failing_handler_gives_500_and_the_server_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Alert] = []

    def flaky(alert: Alert) -> None:
        calls.append(alert)
        if len(calls) == 1:
            raise RuntimeError("downstream is full")

    intake = HttpIntake(flaky)
    url = intake.start()
    try:
        with caplog.at_level(logging.ERROR, logger="ctbridge.intake.http"):
            assert post(url, FALCO_BODY)[0] == 500
        assert post(url, FALCO_BODY)[0] == 200
    finally:
        intake.stop()
    assert intake.failed == 1 and intake.received == 1
    assert any("downstream is full" in (r.exc_text or "") for r in caplog.records)


def test_concurrent_posts(intake: HttpIntake, sink: Sink) -> None:
    results: list[int] = []

    def worker() -> None:
        for _ in range(10):
            results.append(post(intake.url, FALCO_BODY)[0])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 80 and len(sink.alerts) == 80 and intake.received == 80


def test_stop_frees_the_port_and_is_idempotent(sink: Sink) -> None:
    intake = HttpIntake(sink)
    url = intake.start()
    intake.stop()
    intake.stop()
    with pytest.raises(OSError):
        post(url, FALCO_BODY)


# --- TLS ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_https(pki: Path, sink: Sink) -> None:
    intake = HttpIntake(sink, tls=TlsConfig(cert=str(pki / "server.pem"), key=str(pki / "server.key")))
    url = intake.start()
    try:
        assert url.startswith("https://127.0.0.1:")
        assert post(url, FALCO_BODY, context=client_context(pki, with_cert=False))[0] == 200
        # A client that does not trust our CA fails its handshake; the server goes on.
        with pytest.raises(ssl.SSLError):
            post(url, FALCO_BODY, context=ssl.create_default_context())
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            post(url.replace("https", "http"), FALCO_BODY)  # plain HTTP to a TLS port
        assert post(url, FALCO_BODY, context=client_context(pki, with_cert=False))[0] == 200
    finally:
        intake.stop()
    assert len(sink.alerts) == 2 and intake.tls_failures >= 2


def test_mtls_requires_a_client_cert(pki: Path, sink: Sink) -> None:
    tls = TlsConfig(cert=str(pki / "server.pem"), key=str(pki / "server.key"), client_ca=str(pki / "ca.pem"))
    intake = HttpIntake(sink, tls=tls)
    url = intake.start()
    try:
        with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
            post(url, FALCO_BODY, context=client_context(pki, with_cert=False))
        assert post(url, FALCO_BODY, context=client_context(pki, with_cert=True))[0] == 200
    finally:
        intake.stop()
    assert len(sink.alerts) == 1


def test_bad_tls_files_are_config_errors(tmp_path: Path, sink: Sink) -> None:
    with pytest.raises(ConfigError, match="missing.pem"):
        HttpIntake(sink, tls=TlsConfig(cert=str(tmp_path / "missing.pem"), key=str(tmp_path / "k"))).start()


def test_tls_client_slow_to_start_its_handshake_is_served(pki: Path, sink: Sink) -> None:
    # Within the handshake timeout a quiet new connection is not an idle one to sweep away.
    intake = HttpIntake(sink, tls=TlsConfig(cert=str(pki / "server.pem"), key=str(pki / "server.key")),
                        header_timeout=2.0)
    intake.start()
    try:
        raw = socket.create_connection(("127.0.0.1", intake.port), timeout=10)
        time.sleep(1.0)  # two sweeps of the server (every 0.5 s with a 2 s header timeout)
        with client_context(pki, with_cert=False).wrap_socket(raw, server_hostname="127.0.0.1") as s:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(FALCO_BODY), FALCO_BODY))
            assert s.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        intake.stop()
    assert len(sink.alerts) == 1 and intake.tls_failures == 0
