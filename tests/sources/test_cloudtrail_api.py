"""cloudtrail_api source against a local LookupEvents server (moto has none): paging, the
CloudTrailEvent string delivered as written, the 2 requests/s per region limit, resume."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ct import PluginFalco, daemon_config, record, run_daemon


class LookupEvents:
    """Serves LookupEvents (awsJson1.1) from a fixed list of events, `page` per response."""

    def __init__(self, events: list[str], page: int = 2) -> None:
        self.events, self.page = events, page
        self.calls: list[tuple[float, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.calls.append((time.monotonic(), body))
                start = int(body.get("NextToken", "0"))
                chunk = outer.events[start:start + outer.page]
                resp: dict[str, Any] = {"Events": [{"EventId": f"e{start + i}", "CloudTrailEvent": e}
                                                   for i, e in enumerate(chunk)]}
                if start + outer.page < len(outer.events):
                    resp["NextToken"] = str(start + outer.page)
                data = json.dumps(resp).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_backfill_pages_paced_and_as_written(aws: str, falco: PluginFalco, tmp_path: Path) -> None:
    # Written with a space and an escape on purpose: the plugin must get these exact bytes.
    events = [json.dumps(record(f"l{i}")) for i in range(5)]
    srv = LookupEvents(events)
    try:
        src = {"type": "cloudtrail_api", "endpoint_url": srv.url, "regions": ["us-east-1"],
               "since": "2026-11-20T09:00:00Z", "until": "2026-11-20T11:00:00Z"}
        cfg = daemon_config(falco.sock, tmp_path / "s.db", [src])
        run_daemon(cfg)
        assert falco.ids() == [f"l{i}" for i in range(5)]
        assert [p.decode() for p in falco.payloads] == events
        times = [t for t, _ in srv.calls]
        assert len(times) == 3
        assert {(body["StartTime"], body["EndTime"]) for _, body in srv.calls} == {(1795165200, 1795172400)}
        run_daemon(cfg)  # the window is done: no request, nothing sent again
        assert len(srv.calls) == 3 and len(falco.ids()) == 5
    finally:
        srv.server.shutdown()
        srv.server.server_close()


def test_requests_are_paced_to_the_rate() -> None:
    from bridge.sources.cloudtrail_api import _Pacer

    pacer, stop = _Pacer(2.0), threading.Event()
    starts = []
    for _ in range(3):
        pacer.wait(stop)
        starts.append(time.monotonic())
    # A lower bound only: waiting never ends early, however busy the machine.
    assert all(b - a >= 0.499 for a, b in zip(starts, starts[1:], strict=False)), starts
