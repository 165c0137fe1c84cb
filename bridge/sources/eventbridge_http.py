"""`type: eventbridge_http`: an HTTPS endpoint an EventBridge API destination targets directly.

POST a single event (a JSON object) or a batch (a JSON array). The CloudTrail record is the
event's `detail` (bare CloudTrail records are accepted too). Authentication as an EventBridge
connection sends it: an API-key header (`api_key_header` + `api_key`) or basic auth
(`basic_user` + `basic_password`); give the secrets through the environment
(CTBRIDGE__SOURCES__N__API_KEY), never in the file. The answer is 200 only once the plugin has
ACKed every record of the request (within `ack_timeout`, below EventBridge's 5 s); otherwise 503,
and EventBridge retries (the eventID dedup drops what had arrived). Unusable events are
quarantined and answered 200 with the count, since a retry would not make them usable.
"""

from __future__ import annotations

import base64
import hmac
import logging
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from bridge.config import _where
from bridge.errors import ConfigError
from bridge.intake.tls import TlsConfig
from bridge.model import BadItem, Record
from bridge.normalize.logfile import record_from_value
from bridge.normalize.notifications import Unknown, read_message
from bridge.sources._base import SOURCES, Feed, SourceContext, Work

log = logging.getLogger("ctbridge.sources.eventbridge_http")
MAX_BODY = 8 * 1024 * 1024


@dataclass(frozen=True)
class EventBridgeHttpConfig:
    listen: str = "0.0.0.0:8443"
    path: str = "/events"
    tls_cert: str | None = None
    tls_key: str | None = None
    api_key_header: str | None = None  # e.g. x-api-key
    api_key: str | None = None
    basic_user: str | None = None
    basic_password: str | None = None
    ack_timeout: float = 4.0

    def validate(self, path: str) -> None:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not port.isdigit():
            raise ConfigError(f"{_where(path + '.listen')}: {self.listen!r} is not HOST:PORT")
        if bool(self.api_key_header) != bool(self.api_key):
            raise ConfigError(f"{_where(path + '.api_key')}: api_key_header and api_key go together")
        if bool(self.basic_user) != bool(self.basic_password):
            raise ConfigError(f"{_where(path + '.basic_password')}: basic_user and basic_password go together")
        if not (self.api_key or self.basic_user):
            raise ConfigError(f"{_where(path)}: set api_key_header + api_key or basic_user + basic_password "
                              "(EventBridge connections always authenticate)")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError(f"{_where(path + '.tls_key')}: tls_cert and tls_key go together")


@SOURCES.register("eventbridge_http")
class EventBridgeHttpSource:
    Config = EventBridgeHttpConfig

    def __init__(self, name: str, config: EventBridgeHttpConfig, ctx: SourceContext) -> None:
        self.name = name
        self.config = config
        self.ctx = ctx
        self._requests: queue.Queue[Work] = queue.Queue()
        self._server: ThreadingHTTPServer | None = None
        self.port = 0
        self.received = 0

    def check(self) -> str:
        if self.config.tls_cert and self.config.tls_key:
            TlsConfig(self.config.tls_cert, self.config.tls_key, None).server_context()
        return f"will listen on {'https' if self.config.tls_cert else 'http'}://{self.config.listen}{self.config.path}"

    def ready(self) -> tuple[bool, str]:
        return (self._server is not None, f"listening on port {self.port}" if self._server else "not listening")

    def authorized(self, headers: Any) -> bool:
        c = self.config
        if c.api_key_header and c.api_key:
            given = headers.get(c.api_key_header) or ""
            if hmac.compare_digest(given.encode(), c.api_key.encode()):
                return True
        if c.basic_user and c.basic_password:
            want = "Basic " + base64.b64encode(f"{c.basic_user}:{c.basic_password}".encode()).decode()
            if hmac.compare_digest((headers.get("Authorization") or "").encode(), want.encode()):
                return True
        return False

    def run(self, feed: Feed) -> None:
        host, _, port = self.config.listen.rpartition(":")
        self._server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), _handler(self))
        self._server.daemon_threads = True
        if self.config.tls_cert and self.config.tls_key:
            ctx = TlsConfig(self.config.tls_cert, self.config.tls_key, None).server_context()
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        elif host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("%s: receiving EventBridge events over plain HTTP on %s; EventBridge API destinations "
                        "need HTTPS (tls_cert/tls_key, or TLS terminated in front)", self.name, self.config.listen)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, name=f"{self.name}-http", daemon=True).start()
        log.info("%s: EventBridge events on port %d%s", self.name, self.port, self.config.path)
        try:
            while not self.ctx.stop.is_set():
                try:
                    work = self._requests.get(timeout=0.2)
                except queue.Empty:
                    continue
                feed.put(work)
        finally:
            self._server.shutdown()
            self._server.server_close()

    def submit(self, body: bytes, origin: str) -> tuple[int, dict[str, Any]]:
        """Parses a request body, hands its records over, waits for their ACK."""
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            self.ctx.quarantine.put(BadItem(origin, f"{origin}: body is not JSON ({e})", body))
            return 400, {"error": f"body is not JSON: {e}"}
        events = value if isinstance(value, list) else [value]
        items: list[Record | BadItem] = []
        for i, ev in enumerate(events):
            where = f"{origin}#{i}"
            notice = read_message(orjson.dumps(ev))
            if isinstance(notice, Unknown) or not notice.records:
                reason = notice.reason if isinstance(notice, Unknown) else f"{notice.shape} carries no record"
                items.append(BadItem(where, f"{where}: {reason}", orjson.dumps(ev)))
                continue
            items += [record_from_value(r, where) for r in notice.records]
        acked = threading.Event()
        self.received += len(items)
        self._requests.put(Work(key=origin, source=self.name, items=lambda: iter(items), checkpointed=False,
                                on_done=acked.set))
        bad = sum(isinstance(x, BadItem) for x in items)
        if not acked.wait(self.config.ack_timeout):
            return 503, {"error": "not yet in Falco; retry", "records": len(items) - bad}
        return 200, {"records": len(items) - bad, "quarantined": bad}


def _handler(src: EventBridgeHttpSource) -> type[BaseHTTPRequestHandler]:
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.split("?", 1)[0] != src.config.path:
                return self._send(404, {"error": f"POST events to {src.config.path}"})
            if not src.authorized(self.headers):
                return self._send(401, {"error": "missing or wrong credentials"})
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                return self._send(413 if length else 400, {"error": f"body must be 1..{MAX_BODY} bytes"})
            body = self.rfile.read(length)
            with lock:
                n = next(counter)
            code, answer = src.submit(body, f"eventbridge-http:{src.name}/request{n}")
            self._send(code, answer)

        def _send(self, code: int, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("%s %s", src.name, format % args)

    return Handler
