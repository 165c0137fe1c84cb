"""The ops endpoint over a real socket: /metrics, /healthz, /readyz with checks."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client import CollectorRegistry, Counter

from bridge.telemetry.health import OpsServer, Readiness


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_metrics_health_and_readiness() -> None:
    reg = CollectorRegistry()
    c = Counter("ctbridge_test_records", "records", ["source"], registry=reg)
    c.labels(source="s3").inc(3)
    ready = Readiness()
    state = {"socket": False}
    ready.add("plugin_socket", lambda: (state["socket"], "connected" if state["socket"] else "not connected"))
    ready.add("source s3", lambda: (True, "reachable"))
    server = OpsServer("127.0.0.1", 0, ready, registry=reg).start()
    try:
        assert _get(server.port, "/healthz") == (200, "ok\n")
        code, body = _get(server.port, "/metrics")
        assert code == 200 and 'ctbridge_test_records_total{source="s3"} 3.0' in body
        code, body = _get(server.port, "/readyz")
        assert code == 503 and "FAIL plugin_socket: not connected" in body and "ok source s3" in body
        state["socket"] = True
        assert _get(server.port, "/readyz")[0] == 200
        ready.add("broken", lambda: 1 / 0)  # type: ignore[arg-type, return-value]
        code, body = _get(server.port, "/readyz")
        assert code == 503 and "ZeroDivisionError" in body
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.close()
