"""opsgenie against a local HTTP server standing in for the Opsgenie Alert API: the exact request."""

from __future__ import annotations

from sinks.alerts import host, make_sink
from sinks.recorder import Recorder

from bridge.route.ident import alert_id


def test_exact_request(recorder: Recorder) -> None:
    recorder.answer = lambda r: (202, {}, b'{"result":"Request will be processed"}')
    s = make_sink({"name": "og", "type": "opsgenie", "api_key": "KEY", "url": recorder.url + "/v2/alerts",
                   "responders": [{"type": "team", "name": "SecOps"}]})
    s.send([host(1)])
    (r,) = recorder.requests
    assert r.path == "/v2/alerts" and r.headers["authorization"] == "GenieKey KEY"
    assert r.json() == {
        "message": "Terminal shell in container", "alias": alert_id(host(1)), "description": host(1).output,
        "tags": ["container", "shell", "mitre_execution"],
        "details": {"container.name": "web-1", "user.name": "root", "evt.time": "1764237600000000001",
                    "source": "syscall", "hostname": "node-1", "time": "2026-11-27T10:00:00.000000001Z"},
        "entity": "node-1", "source": "ctbridge", "priority": "P4",
        "responders": [{"type": "team", "name": "SecOps"}]}
