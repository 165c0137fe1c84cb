"""HttpIntake (bridge/intake/http.py) where mutation testing found it untested: how a body is
recognised as JSON or text, the shapes of Falco's alert it refuses, the shared secret, the
answers to a failing or refusing handler, its counters and log, and the URL it reports. Real
HTTP on a loopback socket; handle() is also called directly with several requests at once, as
the server does with requests that arrived together."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_http import FALCO_BODY, Sink

from bridge.errors import DeliveryError
from bridge.intake.http import HttpIntake, alert_from_falco_json, alert_from_text, parse_body
from bridge.intake.wire import parse_head
from bridge.model import Alert

LOGGER = "ctbridge.intake.http"
FALCO = json.loads(FALCO_BODY)


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def intake(sink: Sink) -> Iterator[HttpIntake]:
    i = HttpIntake(sink, path="/falco")
    i.start()
    yield i
    i.stop()


def send(intake: HttpIntake, body: bytes, headers: dict[str, Any] | None = None, method: str = "POST",
         path: str | None = None) -> tuple[int, dict[str, str], dict[str, Any]]:
    """(status, headers with lower-case names, JSON body) of one request on a new connection."""
    conn = http.client.HTTPConnection("127.0.0.1", intake.port, timeout=10)
    try:
        conn.request(method, path if path is not None else urlsplit(intake.url).path, body=body,
                     headers=headers if headers is not None else {"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, json.loads(resp.read())
    finally:
        conn.close()


# --- JSON or text: Content-Type, then the body's first byte ---------------------------------------

@pytest.mark.parametrize("ctype", [
    "application/json; charset=utf-8",
    "Application/JSON ; charset=utf-8",  # parameters, spaces and case do not matter
    "application/cloudevents+json",  # any +json type
])
def test_json_content_types_are_parsed_as_json(intake: HttpIntake, sink: Sink, ctype: str) -> None:
    # A body that is not an object: only a JSON reading refuses it (as text it would be an alert).
    status, _, answer = send(intake, b"[1, 2]", {"Content-Type": ctype})
    assert status == 400 and "must be a JSON object" in answer["error"]
    assert send(intake, FALCO_BODY, {"Content-Type": ctype})[0] == 200
    assert sink.alerts[0].rule == "Delete Bucket Encryption"


@pytest.mark.parametrize("ctype", ["", "application/x-www-form-urlencoded", "application/octet-stream"])
def test_a_body_starting_with_a_brace_is_json_whatever_else_the_type_says(intake: HttpIntake, sink: Sink,
                                                                         ctype: str) -> None:
    # curl -d sends form-urlencoded; a body starting (after blanks) with "{" is Falco's JSON.
    headers = {"Content-Type": ctype} if ctype else {}
    assert send(intake, b" \n\t" + FALCO_BODY, headers)[0] == 200
    (alert,) = sink.alerts
    assert alert.rule == "Delete Bucket Encryption" and alert.priority == "Critical"


def test_text_plain_is_text_even_when_it_starts_with_a_brace(intake: HttpIntake, sink: Sink) -> None:
    line = "{not json}: Warning something"
    assert send(intake, line.encode(), {"Content-Type": "text/plain"})[0] == 200
    (alert,) = sink.alerts
    assert alert.output == line and alert.rule == ""


def test_parse_body_recognition_table() -> None:
    assert parse_body(FALCO_BODY, "application/json").rule == "Delete Bucket Encryption"
    assert parse_body(b"{x", "text/plain").output == "{x"
    assert parse_body(b"[1]", "text/plain; charset=utf-8").output == "[1]"
    # Another text type and a body not starting with "{": text, whole.
    assert parse_body(b"x{", "text/csv").output == "x{"
    assert parse_body(b'"{"', "").output == '"{"'


@pytest.mark.parametrize("body", [b"", b"\r\n", b"  \t\n"])
def test_blank_text_bodies_are_refused(intake: HttpIntake, sink: Sink, body: bytes) -> None:
    status, _, answer = send(intake, body, {"Content-Type": "text/plain"})
    assert (status, answer) == (400, {"error": "empty body"})
    assert sink.alerts == [] and intake.rejected == 1


def test_bad_utf8_names_the_byte_and_its_offset(intake: HttpIntake) -> None:
    status, _, answer = send(intake, b"12:00:00: Warning caf\xe9 \xff", {"Content-Type": "text/plain"})
    assert status == 400
    assert answer["error"] == "text body is not valid UTF-8 (byte 0xe9 at offset 21)"


def test_bad_json_says_so(intake: HttpIntake) -> None:
    status, _, answer = send(intake, b'{"rule": ', {"Content-Type": "application/json"})
    assert status == 400 and answer["error"].startswith("body is not valid JSON (")


def test_text_line_loses_only_its_line_end(intake: HttpIntake, sink: Sink) -> None:
    for line in (b"12:00:00.1: Notice ends with X\r\n", b"12:00:00.1: Notice ends with rn\n"):
        assert send(intake, line, {"Content-Type": "text/plain"})[0] == 200
    assert [a.output for a in sink.alerts] == ["12:00:00.1: Notice ends with X",
                                               "12:00:00.1: Notice ends with rn"]
    assert [a.priority for a in sink.alerts] == ["Notice", "Notice"]
    assert all(a.extra == {"intake": "http"} and a.source == "" and a.rule == "" for a in sink.alerts)


# --- text alerts: the "<time>: <Priority> " prefix ----------------------------------------------

@pytest.mark.parametrize(("line", "time", "priority"), [
    ("2020-10-19T17:24:16.000000000+0000: Error x", "2020-10-19T17:24:16.000000000Z", "Error"),
    ("2020-10-19T17:24:16.5Z: Debug x", "2020-10-19T17:24:16.5Z", "Debug"),  # no +0000: kept as is
    ("2020-10-19T17:24:16+0100: Alert x", "2020-10-19T17:24:16+0100", "Alert"),
    ("17:24:16.000000000: Emergency x", "", "Emergency"),  # %evt.time: no date
    ("2020-10-19 17:24:16: Informational x", "", ""),  # the prefix is one word: no match
    ("2020-10-19T17:24:16Z: Verbose x", "", ""),  # not one of Falco's priorities
    ("2020-10-19T17:24:16Z Warning x", "", ""),  # no colon
    ("2020-10-19T17:24:16Z: Warning", "", ""),  # no space after the priority
    ("202-10-19T17:24:16Z: Warning x", "", "Warning"),  # not a date: no time
    ("x2020-10-19T17:24:16Z: Warning x", "", "Warning"),
])
def test_text_prefix(line: str, time: str, priority: str) -> None:
    a = alert_from_text(line, "http")
    assert (a.time, a.priority, a.output, a.rule, a.source) == (time, priority, line, "", "")
    assert a.extra == {"intake": "http"}


# --- Falco's JSON: what it must look like ---------------------------------------------------------

@pytest.mark.parametrize(("change", "message"), [
    ({"output": 5}, "alert key 'output' must be a string, got int"),
    ({"source": ["s"]}, "alert key 'source' must be a string, got list"),
    ({"hostname": 1.5}, "alert key 'hostname' must be a string, got float"),
    ({"priority": None}, "alert key 'priority' must be a string, got missing"),
    ({"time": 1}, "alert key 'time' must be a string, got int"),
    ({"tags": ["a", 1]}, "alert key 'tags' must be a list of strings, got list"),
    ({"tags": {"a": 1}}, "alert key 'tags' must be a list of strings, got dict"),
    ({"output_fields": "x"}, "alert key 'output_fields' must be an object, got str"),
])
def test_wrong_shapes_are_400_naming_the_key(intake: HttpIntake, sink: Sink, change: dict[str, Any],
                                             message: str) -> None:
    status, _, answer = send(intake, json.dumps(FALCO | change).encode())
    assert (status, answer) == (400, {"error": message})
    assert sink.alerts == [] and intake.rejected == 1


def test_not_an_object_names_its_type() -> None:
    with pytest.raises(Exception, match=r"^alert must be a JSON object, got list$"):
        alert_from_falco_json([], "http")
    with pytest.raises(Exception, match=r"^alert must be a JSON object, got str$"):
        alert_from_falco_json("x", "http")


def test_the_least_alert_and_null_optional_keys(intake: HttpIntake, sink: Sink) -> None:
    least = {"rule": "r", "priority": "warning", "time": "t"}
    assert send(intake, json.dumps(least).encode())[0] == 200
    assert send(intake, json.dumps(least | {"tags": None, "output_fields": None}).encode())[0] == 200
    for a in sink.alerts:
        fields = (a.rule, a.priority, a.time, a.source, a.output, a.hostname)
        assert fields == ("r", "Warning", "t", "", "", "")
        assert a.tags == () and a.output_fields == {} and a.extra == {"intake": "http"}


def test_every_falco_key_goes_to_its_field_the_rest_to_extra() -> None:
    obj = FALCO | {"message": "m", "uuid": "u", "intake": "theirs"}
    a = alert_from_falco_json(obj, "grpc")
    assert a.extra == {"message": "m", "uuid": "u", "intake": "grpc"}  # the intake name is ours
    assert a.tags == ("aws", "cloud") and isinstance(a.tags, tuple)
    assert a.hostname == "h" and a.source == "aws_cloudtrail" and a.output == FALCO["output"]


# --- the HTTP side: method, path, secret --------------------------------------------------------

def test_other_methods_are_405_naming_the_method_and_the_path(intake: HttpIntake) -> None:
    status, _, answer = send(intake, b"", method="PUT")
    assert (status, answer) == (405, {"error": "PUT not allowed; POST alerts to /falco"})
    long_method = "A" * 30
    status, _, answer = send(intake, b"", method=long_method)
    assert (status, answer) == (405, {"error": "A" * 20 + " not allowed; POST alerts to /falco"})


def test_wrong_path_names_both_paths_cut_to_200_characters(intake: HttpIntake, sink: Sink) -> None:
    status, _, answer = send(intake, FALCO_BODY, path="/other?x=1")
    assert (status, answer) == (404, {"error": "no intake at /other; POST alerts to /falco"})
    long_path = "/" + "p" * 300
    status, _, answer = send(intake, FALCO_BODY, path=long_path)
    assert (status, answer) == (404, {"error": f"no intake at {long_path[:200]}; POST alerts to /falco"})
    # The query string is not part of the path.
    assert send(intake, FALCO_BODY, path="/falco?source=falco")[0] == 200
    assert len(sink.alerts) == 1


def test_a_path_without_its_slash_gets_one(sink: Sink) -> None:
    intake = HttpIntake(sink, path="alerts")
    try:
        url = intake.start()
        assert url == f"http://127.0.0.1:{intake.port}/alerts"
        assert send(intake, FALCO_BODY, path="/alerts")[0] == 200
    finally:
        intake.stop()
    assert len(sink.alerts) == 1


def test_shared_secret_in_the_default_header(sink: Sink, caplog: pytest.LogCaptureFixture) -> None:
    counted: list[str] = []
    intake = HttpIntake(sink, secret="s3cr\u00e9t", on_count=counted.append)
    intake.start()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            status, _, answer = send(intake, FALCO_BODY)
            assert (status, answer) == (401, {"error": "missing or wrong X-Ctbridge-Secret header"})
            wrong: dict[str, Any] = {"Content-Type": "application/json",
                                     "X-Ctbridge-Secret": "s3cr\u00e9t".encode()[:-1]}
            assert send(intake, FALCO_BODY, wrong)[0] == 401
        # The header's bytes are compared with the secret's UTF-8 (what curl or Falco sends for it).
        right: dict[str, Any] = {"Content-Type": "application/json",
                                 "X-Ctbridge-Secret": "s3cr\u00e9t".encode()}
        assert send(intake, FALCO_BODY, right)[0] == 200
    finally:
        intake.stop()
    assert intake.unauthorized == 2 and intake.received == 1 and intake.rejected == 0
    assert counted == ["unauthorized", "unauthorized", "received"]
    warnings = [r for r in caplog.records if "shared secret" in r.getMessage()]
    assert len(warnings) == 2 and all(r.name == LOGGER for r in warnings)
    assert "without the shared secret header X-Ctbridge-Secret" in warnings[0].getMessage()
    assert len(sink.alerts) == 1


def test_shared_secret_in_another_header(sink: Sink) -> None:
    intake = HttpIntake(sink, secret="k", secret_header="X-Token")
    intake.start()
    try:
        assert send(intake, FALCO_BODY, {"X-Ctbridge-Secret": "k"})[0] == 401
        assert send(intake, FALCO_BODY, {"X-Token": "k"})[0] == 200
    finally:
        intake.stop()


def test_no_secret_configured_takes_any_header(intake: HttpIntake, sink: Sink) -> None:
    assert send(intake, FALCO_BODY, {"X-Ctbridge-Secret": "whatever"})[0] == 200
    assert intake.unauthorized == 0 and len(sink.alerts) == 1


# --- the handler's answers ------------------------------------------------------------------------

def test_a_refusing_handler_gets_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    def full(alert: Alert) -> None:
        raise DeliveryError("queue f is full (5 alerts)")

    counted: list[str] = []
    intake = HttpIntake(full, on_count=counted.append)
    intake.start()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            status, headers, answer = send(intake, FALCO_BODY)
    finally:
        intake.stop()
    assert (status, answer) == (503, {"error": "queue f is full (5 alerts)"})
    assert headers["retry-after"] == "1"
    assert (intake.refused, intake.failed, intake.received) == (1, 0, 0) and counted == ["refused"]
    (rec,) = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]  # not start()'s INFO
    assert rec.levelno == logging.WARNING and "Delete Bucket Encryption" in rec.getMessage()


def test_a_failing_handler_gets_500_and_the_error_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(alert: Alert) -> None:
        raise KeyError("bug")

    intake = HttpIntake(broken)
    intake.start()
    try:
        with caplog.at_level(logging.WARNING, logger=LOGGER):
            status, headers, answer = send(intake, FALCO_BODY)
    finally:
        intake.stop()
    assert (status, answer) == (500, {"error": "alert handler failed; see the bridge log"})
    assert "retry-after" not in headers
    assert (intake.failed, intake.refused, intake.received) == (1, 0, 0)
    (rec,) = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]  # not start()'s INFO
    assert rec.levelno == logging.ERROR and rec.exc_info is not None and rec.exc_info[1] is not None
    assert "'Delete Bucket Encryption'" in rec.getMessage() and "127.0.0.1" in rec.getMessage()


def heads(*bodies: bytes) -> list[tuple[Any, bytes, str]]:
    out: list[tuple[Any, bytes, str]] = []
    for b in bodies:
        head = parse_head(b"POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: %d" % len(b))
        out.append((head, b, "10.0.0.%d" % len(out)))
    return out


def test_handle_answers_each_request_of_a_batch_in_its_place() -> None:
    got: list[list[str]] = []
    rules = [json.dumps(FALCO | {"rule": f"r{i}"}).encode() for i in range(3)]

    def many(alerts: list[Alert]) -> list[BaseException | None]:
        got.append([a.rule for a in alerts])
        return [None, DeliveryError("full"), RuntimeError("bug")]

    intake = HttpIntake(lambda a: None, on_alerts=many)
    replies = intake.handle(heads(b"{", rules[0], b"[]", rules[1], rules[2]))
    assert got == [["r0", "r1", "r2"]]  # the bad ones are not handed on
    assert [r.status for r in replies] == [400, 200, 400, 503, 500]
    assert replies[3].retry_after == "1" and replies[1].retry_after is None
    assert (intake.rejected, intake.received, intake.refused, intake.failed) == (2, 1, 1, 1)


def test_on_alerts_raising_fails_every_alert_of_the_batch() -> None:
    def many(alerts: list[Alert]) -> list[BaseException | None]:
        raise DeliveryError("all full")

    intake = HttpIntake(lambda a: None, on_alerts=many)
    replies = intake.handle(heads(FALCO_BODY, b"{", FALCO_BODY))
    assert [r.status for r in replies] == [503, 400, 503]
    assert replies[0].payload == {"error": "all full"}
    assert intake.refused == 2 and intake.rejected == 1


def test_on_alert_one_by_one_each_error_its_own() -> None:
    seen: list[str] = []

    def one(alert: Alert) -> None:
        seen.append(alert.rule)
        if alert.rule == "bad":
            raise DeliveryError("full")

    intake = HttpIntake(one)
    bodies = [json.dumps(FALCO | {"rule": r}).encode() for r in ("a", "bad", "c")]
    replies = intake.handle(heads(*bodies))
    assert seen == ["a", "bad", "c"]
    assert [r.status for r in replies] == [200, 503, 200]
    assert intake.received == 2 and intake.refused == 1


def test_protocol_errors_and_tls_failures_are_counted_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    counted: list[str] = []
    intake = HttpIntake(lambda a: None, on_count=counted.append)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        intake.protocol_error(431, "too big", "10.1.1.1")
        intake.tls_failed("10.2.2.2", ConnectionResetError())
        intake.tls_failed("10.3.3.3", OSError("bad record"))
    assert counted == ["rejected", "tls_failures", "tls_failures"]
    assert (intake.rejected, intake.tls_failures) == (1, 2)
    msgs = [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert msgs == ["rejected request from 10.1.1.1: 431 too big",
                    "TLS handshake with 10.2.2.2 failed: ConnectionResetError",
                    "TLS handshake with 10.3.3.3 failed: bad record"]


# --- lifecycle and the URL ------------------------------------------------------------------------

@pytest.mark.parametrize(("host", "shown"), [
    ("0.0.0.0", "127.0.0.1"),
    ("::", "[::1]"),
    ("::1", "[::1]"),
    ("127.0.0.1", "127.0.0.1"),
])
def test_url_names_a_host_a_client_can_reach(sink: Sink, host: str, shown: str) -> None:
    intake = HttpIntake(sink, host=host)
    try:
        url = intake.start()
        assert url == f"http://{shown}:{intake.port}/"
        assert intake.port > 0
        assert intake.start() == url  # started once only
        conn = http.client.HTTPConnection(shown.strip("[]"), intake.port, timeout=10)
        try:
            conn.request("POST", "/", body=FALCO_BODY, headers={"Content-Type": "application/json"})
            assert conn.getresponse().status == 200
        finally:
            conn.close()
    finally:
        intake.stop()
        intake.stop()
    assert len(sink.alerts) == 1


def test_url_of_the_any_address_by_its_empty_name(sink: Sink) -> None:
    intake = HttpIntake(sink, host="")
    assert intake.url == "http://127.0.0.1:0/"


def test_the_default_port_is_any_free_one(sink: Sink) -> None:
    first, second = HttpIntake(sink), HttpIntake(sink)
    try:
        first.start()
        second.start()
        assert first.port != second.port and 0 not in (first.port, second.port)
    finally:
        first.stop()
        second.stop()


@pytest.mark.parametrize("inline", [False, True])
def test_the_handler_runs_in_the_pool_unless_inline(inline: bool) -> None:
    threads: list[str] = []
    on_alert = lambda a: threads.append(threading.current_thread().name)  # noqa: E731
    intake = HttpIntake(on_alert, inline=True) if inline else HttpIntake(on_alert)  # the default: the pool
    intake.start()
    try:
        assert send(intake, FALCO_BODY)[0] == 200
    finally:
        intake.stop()
    # the loop's thread is "http-intake", the pool's "http-intake_<n>"
    assert threads == ["http-intake"] if inline else threads[0].startswith("http-intake_")
