"""webhook against a local HTTP server: exact body and headers, HMAC signature, template, OCSF."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from sinks.alerts import HOSTILE, cloud, host, make_sink
from sinks.recorder import Recorder

from bridge.errors import ConfigError
from bridge.route.ident import alert_id
from bridge.sinks._base import Permanent, Retryable


def test_exact_request_with_signature(recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_KEY", "k3y")
    s = make_sink({"name": "h", "type": "webhook", "url": recorder.url + "/in", "hmac_secret": "env:HOOK_KEY",
                   "headers": {"X-Team": "secops"}})
    s.send([cloud(1)])
    (r,) = recorder.requests
    assert r.method == "POST" and r.path == "/in"
    assert r.json() == {**cloud(1).to_dict(), "id": alert_id(cloud(1))}
    assert r.headers["content-type"] == "application/json" and r.headers["x-team"] == "secops"
    assert r.headers["x-ctbridge-alert-id"] == alert_id(cloud(1))
    assert r.headers["x-ctbridge-signature"] == "sha256=" + hmac.new(b"k3y", r.body, hashlib.sha256).hexdigest()


def test_batch_is_an_array_and_ocsf_encoding(recorder: Recorder) -> None:
    s = make_sink({"name": "h", "type": "webhook", "url": recorder.url, "encoding": "ocsf"})
    s.send([cloud(1), host(2)])
    body = recorder.requests[0].json()
    assert [d["finding_info"]["uid"] for d in body] == [alert_id(cloud(1)), alert_id(host(2))]
    assert body[0]["class_uid"] == 2004 and body[0]["severity"] == "Critical"


def test_template_values_are_json_escaped(recorder: Recorder) -> None:
    s = make_sink({"name": "h", "type": "webhook", "url": recorder.url,
                   "template": '{"text": "{rule} by {ct.user}"}'})
    s.send([cloud(1, output_fields={"ct.user": HOSTILE})])
    assert recorder.requests[0].json() == {"text": f"Delete Bucket Encryption by {HOSTILE}"}


def test_status_classes(recorder: Recorder) -> None:
    s = make_sink({"name": "h", "type": "webhook", "url": recorder.url})
    for status, exc in [(408, Retryable), (429, Retryable), (500, Retryable), (400, Permanent), (404, Permanent)]:
        recorder.answer = lambda r, st=status: (st, {"Retry-After": "7"}, b"no")
        with pytest.raises(exc) as e:
            s.send([cloud(1)])
        assert recorder.url not in str(e.value)  # the URL may hold a token: never in errors or logs
        if status == 429:
            assert e.value.retry_after == 7.0  # type: ignore[attr-defined]


def test_refused_connection_is_retryable() -> None:
    s = make_sink({"name": "h", "type": "webhook", "url": "http://127.0.0.1:9/x", "timeout": 1})
    with pytest.raises(Retryable):
        s.send([cloud(1)])


def test_plain_http_off_loopback_needs_opt_in() -> None:
    with pytest.raises(ConfigError, match="plain http"):
        make_sink({"name": "h", "type": "webhook", "url": "http://hooks.example.com/x"})
    make_sink({"name": "h", "type": "webhook", "url": "http://hooks.example.com/x", "allow_plain_http": True})


def test_batch_gets_a_batch_id_not_a_list_of_ids(recorder: Recorder) -> None:
    s = make_sink({"name": "h", "type": "webhook", "url": recorder.url})
    s.send([cloud(i) for i in range(50)])
    (r,) = recorder.requests
    assert "x-ctbridge-alert-id" not in r.headers and len(r.headers["x-ctbridge-batch-id"]) == 32
    assert [d["id"] for d in r.json()] == [alert_id(cloud(i)) for i in range(50)]


def test_https_with_a_private_ca_and_a_secret_file(tmp_path: Path) -> None:
    import ssl

    from pki import make_pki

    pki = make_pki(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    rec = Recorder(tls=ctx)
    (tmp_path / "hmac").write_text("from-a-file\n")
    try:
        s = make_sink({"name": "h", "type": "webhook", "url": rec.url, "ca_file": str(pki / "ca.pem"),
                       "hmac_secret": f"file:{tmp_path / 'hmac'}"})
        s.send([cloud(1)])
        (r,) = rec.requests
        assert r.headers["x-ctbridge-signature"] == "sha256=" + hmac.new(b"from-a-file", r.body,
                                                                          hashlib.sha256).hexdigest()
        untrusted = make_sink({"name": "h", "type": "webhook", "url": rec.url})  # system CAs only
        with pytest.raises(Retryable):
            untrusted.send([cloud(1)])
    finally:
        rec.close()
