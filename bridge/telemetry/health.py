"""The operations endpoint: /metrics (Prometheus), /healthz (alive) and /readyz (ready).

Components register readiness checks by name; /readyz answers 200 only when every check
passes, and its body says which failed, so a Kubernetes probe and a person read the same thing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

log = logging.getLogger("ctbridge.health")

Check = Callable[[], "tuple[bool, str]"]


class Readiness:
    def __init__(self) -> None:
        self._checks: dict[str, Check] = {}
        self._lock = threading.Lock()

    def add(self, name: str, check: Check) -> None:
        with self._lock:
            self._checks[name] = check

    def remove(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    def status(self) -> tuple[bool, list[str]]:
        with self._lock:
            checks = dict(self._checks)
        ok, lines = True, []
        for name, check in sorted(checks.items()):
            try:
                passed, detail = check()
            except Exception as e:  # a failing check is a not-ready answer, not a crash
                passed, detail = False, f"check raised {type(e).__name__}: {e}"
            ok = ok and passed
            lines.append(f"{'ok' if passed else 'FAIL'} {name}: {detail}")
        return ok, lines


class OpsServer:
    """Serves /metrics, /healthz and /readyz on HOST:PORT in a background thread."""

    def __init__(self, host: str, port: int, readiness: Readiness | None = None,
                 registry: CollectorRegistry = REGISTRY) -> None:
        self.readiness = readiness or Readiness()
        ready, reg = self.readiness, registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(reg), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n", "text/plain")
                elif path == "/readyz":
                    ok, lines = ready.status()
                    self._send(200 if ok else 503, ("\n".join(lines) + "\n").encode(), "text/plain")
                else:
                    self._send(404, b"not found: try /metrics, /healthz, /readyz\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("ops %s", format % args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="ops-http", daemon=True)

    def start(self) -> OpsServer:
        self._thread.start()
        log.info("metrics and health on http://%s:%d/ (/metrics, /healthz, /readyz)",
                 self._server.server_address[0], self.port)
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
