"""eventbridge_http source over a real socket into the real plugin: auth, single events, batches,
answers only after the plugin ACKed."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from ct import PluginFalco, Running, daemon_config, free_port, record, wait_for


def post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


def event(kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    return {"version": "0", "id": "x", "detail-type": kind, "source": "aws.iam", "account": "111111111111",
            "time": rec["eventTime"], "region": "us-east-1", "resources": [], "detail": rec}


def test_events_single_and_batch_with_auth(falco: PluginFalco, tmp_path: Path) -> None:
    port = free_port()
    src = {"type": "eventbridge_http", "listen": f"127.0.0.1:{port}", "api_key_header": "x-api-key",
           "api_key": "s3cret", "basic_user": "eb", "basic_password": "pw"}
    d = Running(daemon_config(falco.sock, tmp_path / "s.db", [src], quarantine=tmp_path / "q"))
    url = f"http://127.0.0.1:{port}/events"
    key = {"x-api-key": "s3cret"}
    try:
        assert wait_for(lambda: d.connected() and d.daemon.readiness.status()[0])
        assert post(url, event("AWS API Call via CloudTrail", record("e1")), {"x-api-key": "wrong"})[0] == 401
        assert post(url, event("AWS API Call via CloudTrail", record("e1")), key) == (
            200, {"records": 1, "quarantined": 0})
        basic = {"Authorization": "Basic " + base64.b64encode(b"eb:pw").decode()}
        batch = [event("AWS Console Sign In via CloudTrail", record("e2")), record("e3"), {"hello": 1}]
        assert post(url, batch, basic) == (200, {"records": 2, "quarantined": 1})
        assert post(url, b"{nope", key)[0] == 400
        # EventBridge retries a delivery it is unsure of: the repeat is answered 200 and dropped.
        assert post(url, event("AWS API Call via CloudTrail", record("e1")), key)[0] == 200
        assert falco.ids() == ["e1", "e2", "e3"]
    finally:
        report = d.stop()
    assert report.duplicates == 1


def test_https_as_eventbridge_api_destinations_require(falco: PluginFalco, tmp_path: Path) -> None:
    from pki import client_context, make_pki

    pki = make_pki(tmp_path)
    port = free_port()
    src = {"type": "eventbridge_http", "listen": f"127.0.0.1:{port}", "api_key_header": "x-api-key",
           "api_key": "k", "tls_cert": str(pki / "server.pem"), "tls_key": str(pki / "server.key")}
    d = Running(daemon_config(falco.sock, tmp_path / "s.db", [src]))
    try:
        assert wait_for(lambda: d.connected() and d.daemon.readiness.status()[0])
        req = urllib.request.Request(f"https://127.0.0.1:{port}/events", method="POST",
                                     data=json.dumps(event("AWS API Call via CloudTrail", record("t1"))).encode(),
                                     headers={"x-api-key": "k", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10, context=client_context(pki, with_cert=False)) as r:
            assert r.status == 200
        assert falco.ids() == ["t1"]
    finally:
        d.stop()
