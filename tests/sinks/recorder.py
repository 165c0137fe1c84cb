"""A real HTTP server on 127.0.0.1 that records every request and answers from a script.

It stands in for the real peers (a webhook receiver, Slack, Teams, PagerDuty, Opsgenie,
Elasticsearch, Loki, a falcosidekick) so tests can assert the exact request the bridge sent.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


Answer = tuple[int, dict[str, str], bytes]


class Recorder:
    """`answer(request)` decides each reply; default 200 with `{}`. Only accepted requests
    (2xx) are in `accepted`; every request is in `requests`."""

    def __init__(self, answer: Callable[[Request], Answer] | None = None, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Request] = []
        self.accepted: list[Request] = []
        self.answer = answer or (lambda r: (200, {}, b"{}"))
        self.lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                              self.rfile.read(n))
                with rec.lock:
                    rec.requests.append(req)
                    status, headers, body = rec.answer(req)
                    if 200 <= status < 300:
                        rec.accepted.append(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_PUT = _any  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def ids(self) -> list[str]:
        """Alert ids of the accepted single-alert requests, in arrival order (X-Ctbridge-Alert-Id)."""
        with self.lock:
            return [r.headers["x-ctbridge-alert-id"] for r in self.accepted]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
