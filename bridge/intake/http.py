"""Receive Falco's http_output: one POST per alert, JSON (json_output: true) or one text line.

The same endpoint takes falcosidekick's POST body (Falco's JSON plus `uuid`), so a sidekick
`webhook` output can point here. The 200 is sent only after on_alert returned (the forwarder
has queued the alert durably); a DeliveryError from it (a full queue) answers 503.
"""

from __future__ import annotations

import hmac
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

from bridge.errors import DeliveryError, InputError
from bridge.intake.tls import TlsConfig
from bridge.model import PRIORITIES, Alert, normalize_priority

log = logging.getLogger("ctbridge.intake.http")

MAX_BODY_BYTES = 8 * 1024 * 1024
_FALCO_KEYS = ("hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time")
# Text alerts look like "<time>: <Priority> <rendered output>".
_TEXT_LINE = re.compile(r"(\S+): (" + "|".join(PRIORITIES) + r") ")


def alert_from_falco_json(obj: Any, intake: str) -> Alert:
    """An Alert from Falco's JSON alert object; InputError naming the key if it has the wrong shape."""
    if not isinstance(obj, dict):
        raise InputError(f"alert must be a JSON object, got {type(obj).__name__}")
    for key in ("rule", "priority", "time"):
        if not isinstance(obj.get(key), str):
            raise InputError(f"alert key {key!r} must be a string, got {_kind(obj.get(key))}")
    for key in ("output", "source", "hostname"):
        if not isinstance(obj.get(key, ""), str):
            raise InputError(f"alert key {key!r} must be a string, got {_kind(obj.get(key))}")
    tags = obj.get("tags")
    tags = [] if tags is None else tags
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise InputError(f"alert key 'tags' must be a list of strings, got {_kind(tags)}")
    fields = obj.get("output_fields")
    fields = {} if fields is None else fields
    if not isinstance(fields, dict):
        raise InputError(f"alert key 'output_fields' must be an object, got {_kind(fields)}")
    # Anything else (message, falcosidekick's uuid, ...) is kept; the intake name is ours.
    extra = {k: v for k, v in obj.items() if k not in _FALCO_KEYS}
    extra["intake"] = intake
    return Alert(
        time=obj["time"],
        rule=obj["rule"],
        priority=normalize_priority(obj["priority"]),
        source=obj.get("source", ""),
        output=obj.get("output", ""),
        hostname=obj.get("hostname", ""),
        tags=tuple(tags),
        output_fields=fields,
        extra=extra,
    )


def alert_from_text(line: str, intake: str) -> Alert:
    """json_output: false gives only the output line; its prefix tells the priority (and time if ISO)."""
    m = _TEXT_LINE.match(line)
    priority = m.group(2) if m else ""
    when = ""
    if m and re.fullmatch(r"\d{4}-\d{2}-\d{2}T\S+", m.group(1)):
        when = m.group(1).removesuffix("+0000") + ("Z" if m.group(1).endswith("+0000") else "")
    return Alert(time=when, rule="", priority=priority, source="", output=line, extra={"intake": intake})


def _kind(value: Any) -> str:
    return "missing" if value is None else type(value).__name__


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive (Falco reuses its curl handle) and Expect: 100-continue
    timeout = 60  # idle keep-alive connections are closed after this
    disable_nagle_algorithm = True  # headers and body go out as two writes; Nagle would add 40 ms each
    server: _Server

    def do_POST(self) -> None:
        intake = self.server.intake
        if urlsplit(self.path).path != intake.path:
            self._discard_body()
            self._reply(404, {"error": f"no intake at {urlsplit(self.path).path}; POST alerts to {intake.path}"})
            return
        if intake.secret is not None:
            given = self.headers.get(intake.secret_header, "")
            if not hmac.compare_digest(given.encode(), intake.secret.encode()):
                self._discard_body()
                intake._count("unauthorized")
                log.warning("alert from %s without the shared secret header %s", self.client_address[0],
                            intake.secret_header)
                self._reply(401, {"error": f"missing or wrong {intake.secret_header} header"})
                return
        try:
            body = self._read_body()
            alert = self._parse(body)
        except InputError as e:
            intake._count("rejected")
            log.warning("rejected alert from %s: %s", self.client_address[0], e)
            self._reply(400, {"error": str(e)})
            return
        except _TooLarge as e:
            intake._count("rejected")
            log.warning("rejected alert from %s: %s", self.client_address[0], e)
            self.close_connection = True
            self._reply(413, {"error": str(e)})
            return
        try:
            intake.on_alert(alert)
        except DeliveryError as e:
            intake._count("refused")
            log.warning("alert refused (rule %r): %s", alert.rule, e)
            self._reply(503, {"error": str(e)}, retry_after="1")
            return
        except Exception:
            intake._count("failed")
            log.exception("alert handler failed on rule %r from %s", alert.rule, self.client_address[0])
            self._reply(500, {"error": "alert handler failed; see the bridge log"})
            return
        intake._count("received")
        self._reply(200, {"status": "ok"})

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            self.close_connection = True
            raise InputError("no Content-Length and not chunked")
        try:
            length = int(length_text)
        except ValueError:
            self.close_connection = True
            raise InputError(f"bad Content-Length {length_text[:40]!r}") from None
        limit = self.server.intake.max_body
        if length < 0 or length > limit:
            raise _TooLarge(f"body of {length} bytes, over the {limit} byte limit")
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            raise InputError(f"body ended after {len(body)} of {length} bytes")
        return body

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024)
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise InputError(f"bad chunk size line {size_line[:40]!r}") from None
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > self.server.intake.max_body:
                raise _TooLarge(f"chunked body over the {self.server.intake.max_body} byte limit")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _parse(self, body: bytes) -> Alert:
        ctype = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        is_json = ctype == "application/json" or ctype.endswith("+json") or (
            ctype != "text/plain" and body.lstrip()[:1] == b"{"
        )
        if not body.strip():
            raise InputError("empty body")
        if is_json:
            try:
                obj = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                raise InputError(f"body is not valid JSON ({e})") from None
            return alert_from_falco_json(obj, "http")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"text body is not valid UTF-8 (byte 0x{body[e.start]:02x} at offset {e.start})") from None
        return alert_from_text(text.rstrip("\r\n"), "http")

    def _discard_body(self) -> None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if 0 <= length <= self.server.intake.max_body:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _reply(self, code: int, payload: dict[str, str], retry_after: str | None = None) -> None:
        body = orjson.dumps(payload)
        self.log_request(code)
        head = [f"{self.protocol_version} {code} {self.responses.get(code, ('',))[0]}",
                f"Server: {self.version_string()}", f"Date: {self.date_time_string()}",
                "Content-Type: application/json", f"Content-Length: {len(body)}"]
        if retry_after is not None:
            head.append(f"Retry-After: {retry_after}")
        if self.close_connection:
            head.append("Connection: close")
        # Status, headers and body in one write: with Nagle off, separate writes are separate
        # packets for every alert.
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.client_address[0], format % args)


class _TooLarge(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops SYNs under a burst of connections (1 s retry)

    def __init__(self, address: tuple[str, int], intake: HttpIntake, ssl_ctx: ssl.SSLContext | None) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.intake = intake
        self.ssl_ctx = ssl_ctx
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.ssl_ctx is None:
            super().finish_request(request, client_address)
            return
        # The handshake runs here, in the connection's own thread, so a slow client blocks nobody.
        request.settimeout(10)
        try:
            tls_sock = self.ssl_ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.intake._count("tls_failures")
            log.warning("TLS handshake with %s failed: %s", client_address[0], e)
            return
        try:
            super().finish_request(tls_sock, client_address)
        finally:
            tls_sock.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("connection from %s failed", client_address[0], exc_info=True)  # noqa: LOG014 (called in an except)


class HttpIntake:
    """Threaded HTTP(S) server for Falco's http_output. on_alert runs in the request thread, so
    it should be quick (hand the alert to a queue): Falco's output worker waits for our answer."""

    def __init__(
        self,
        on_alert: Callable[[Alert], None],
        host: str = "127.0.0.1",
        port: int = 0,
        tls: TlsConfig | None = None,
        path: str = "/",
        *,
        secret: str | None = None,
        secret_header: str = "X-Ctbridge-Secret",
        max_body: int = MAX_BODY_BYTES,
        on_count: Callable[[str], None] | None = None,
    ) -> None:
        self.on_alert = on_alert
        self.secret = secret  # when set, every POST must carry it in secret_header
        self.secret_header = secret_header
        self.max_body = max_body
        self.on_count = on_count
        self.host = host
        self.port = port
        self.tls = tls
        self.path = path if path.startswith("/") else "/" + path
        self.received = 0
        self.rejected = 0
        self.failed = 0
        self.tls_failures = 0
        self.unauthorized = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
        if self.on_count is not None:
            self.on_count(name)

    def start(self) -> str:
        """Listen and serve in a background thread; returns the URL for Falco's http_output.url."""
        if self._server is not None:
            return self.url
        ctx = self.tls.server_context() if self.tls else None
        self._server = _Server((self.host, self.port), self, ctx)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-intake", daemon=True
        )
        self._thread.start()
        log.info("http intake listening on %s", self.url)
        return self.url

    @property
    def url(self) -> str:
        host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{self.path}"

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
