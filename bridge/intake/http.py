"""Receive Falco's http_output: one POST per alert, JSON (json_output: true) or one text line.

The same endpoint takes falcosidekick's POST body (Falco's JSON plus `uuid`), so a sidekick
`webhook` output can point here. The 200 is sent only after on_alert returned (the forwarder
has queued the alert durably); a DeliveryError from it (a full queue) answers 503. A body over
max_body is refused with 400 before it is read. The HTTP server itself is server.py.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from bridge.errors import DeliveryError, InputError
from bridge.intake.server import Handler, Limits, Reply, Server
from bridge.intake.tls import TlsConfig
from bridge.intake.wire import Head
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


def parse_body(body: bytes, content_type: str) -> Alert:
    """Falco's JSON alert (or falcosidekick's), or its text line with json_output: false."""
    ctype = content_type.split(";", 1)[0].strip().lower()
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


_OK = Reply(200, {"status": "ok"})


class HttpIntake(Handler):
    """HTTP(S) receiver for Falco's http_output. on_alert (or on_alerts, with every request that
    arrived together) runs in a pool thread, or on the server's loop with inline, and should be
    quick (hand the alert to a queue): Falco's output worker waits for our answer."""

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
        on_alerts: Callable[[list[Alert]], list[BaseException | None]] | None = None,
        header_timeout: float = 10.0,
        body_timeout: float = 60.0,
        idle_timeout: float = 60.0,
        max_connections: int = 1024,
        inline: bool = False,
    ) -> None:
        self.on_alert = on_alert
        # several alerts at once (Forwarder.handle_many: one transaction); per alert None or its error
        self.on_alerts = on_alerts
        self.secret = secret  # when set, every POST must carry it in secret_header
        self.secret_header = secret_header
        self.max_body = max_body
        self.on_count = on_count
        self.host = host
        self.port = port
        self.tls = tls
        self.path = path if path.startswith("/") else "/" + path
        self.limits = Limits(max_body=max_body, header_timeout=header_timeout, body_timeout=body_timeout,
                             idle_timeout=idle_timeout, max_connections=max_connections)
        # on_alert(s) on the server's loop thread: only for handlers that never wait (the
        # forwarder without queue.block_wait); a wait there would stall every connection
        self.inline = inline
        self.received = 0
        self.rejected = 0
        self.failed = 0
        self.tls_failures = 0
        self.unauthorized = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server: Server | None = None

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)
        if self.on_count is not None:
            self.on_count(name)

    # --- Handler: called by the server -------------------------------------------------------

    def early(self, head: Head, peer: str) -> Reply | None:
        if head.method != "POST":
            return Reply(405, {"error": f"{head.method[:20]} not allowed; POST alerts to {self.path}"})
        path = urlsplit(head.target).path
        if path != self.path:
            return Reply(404, {"error": f"no intake at {path[:200]}; POST alerts to {self.path}"})
        if self.secret is not None:
            given = head.get(self.secret_header)
            if not hmac.compare_digest(given.encode("latin-1"), self.secret.encode()):
                self._count("unauthorized")
                log.warning("alert from %s without the shared secret header %s", peer, self.secret_header)
                return Reply(401, {"error": f"missing or wrong {self.secret_header} header"})
        return None

    def handle(self, requests: list[tuple[Head, bytes, str]]) -> list[Reply]:
        replies: list[Reply | None] = [None] * len(requests)
        alerts: list[tuple[int, Alert, str]] = []
        for k, (head, body, peer) in enumerate(requests):
            try:
                alerts.append((k, parse_body(body, head.get("content-type")), peer))
            except InputError as e:
                self._count("rejected")
                log.warning("rejected alert from %s: %s", peer, e)
                replies[k] = Reply(400, {"error": str(e)})
        for (k, alert, peer), error in zip(alerts, self._deliver([a for _, a, _ in alerts])):
            replies[k] = self._reply(alert, peer, error)
        return [r if r is not None else _OK for r in replies]

    def _deliver(self, alerts: list[Alert]) -> list[BaseException | None]:
        if self.on_alerts is not None:
            try:
                return self.on_alerts(alerts)
            except Exception as e:
                return [e] * len(alerts)
        errors: list[BaseException | None] = []
        for alert in alerts:
            try:
                self.on_alert(alert)
                errors.append(None)
            except Exception as e:
                errors.append(e)
        return errors

    def _reply(self, alert: Alert, peer: str, error: BaseException | None) -> Reply:
        if error is None:
            self._count("received")
            return _OK
        if isinstance(error, DeliveryError):
            self._count("refused")
            log.warning("alert refused (rule %r): %s", alert.rule, error)
            return Reply(503, {"error": str(error)}, retry_after="1")
        self._count("failed")
        log.error("alert handler failed on rule %r from %s", alert.rule, peer, exc_info=error)
        return Reply(500, {"error": "alert handler failed; see the bridge log"})

    def protocol_error(self, status: int, reason: str, peer: str) -> None:
        self._count("rejected")
        log.warning("rejected request from %s: %d %s", peer, status, reason)

    def tls_failed(self, peer: str, error: BaseException) -> None:
        self._count("tls_failures")
        log.warning("TLS handshake with %s failed: %s", peer, str(error) or type(error).__name__)

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> str:
        """Listen and serve in a background thread; returns the URL for Falco's http_output.url."""
        if self._server is not None:
            return self.url
        ctx = self.tls.server_context() if self.tls else None
        self._server = Server(self.host, self.port, self, self.limits, ctx, inline=self.inline)
        self.port = self._server.port
        self._server.start()
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
        if server is not None:
            server.stop()
