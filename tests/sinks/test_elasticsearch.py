"""elasticsearch against a local HTTP server standing in for the _bulk API: exact NDJSON, per-item errors."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from sinks.alerts import cloud, host, make_sink
from sinks.recorder import Recorder

from bridge.route.ident import alert_id
from bridge.sinks._base import PartialFailure


def test_exact_bulk_request(recorder: Recorder) -> None:
    recorder.answer = lambda r: (200, {}, b'{"took":1,"errors":false,"items":[]}')
    s = make_sink({"name": "es", "type": "elasticsearch", "url": recorder.url, "username": "u", "password": "p"})
    s.send([cloud(1), host(2)])
    (r,) = recorder.requests
    assert r.path == "/_bulk" and r.headers["content-type"] == "application/x-ndjson"
    assert r.headers["authorization"] == "Basic dTpw"
    lines = [orjson.loads(x) for x in r.body.splitlines()]
    index = dt.datetime.now(dt.UTC).strftime("falco-%Y.%m.%d")
    assert lines[0] == {"index": {"_index": index, "_id": alert_id(cloud(1))}}
    assert lines[1] == {**cloud(1).to_dict(), "id": alert_id(cloud(1))}
    assert lines[2]["index"]["_id"] == alert_id(host(2)) and r.body.endswith(b"\n")


def test_item_errors_are_split(recorder: Recorder) -> None:
    items = [{"index": {"status": 201}}, {"index": {"status": 429, "error": {"type": "es_rejected_execution"}}},
             {"index": {"status": 400, "error": {"type": "mapper_parsing_exception"}}}]
    recorder.answer = lambda r: (200, {}, orjson.dumps({"errors": True, "items": items}))
    s = make_sink({"name": "es", "type": "elasticsearch", "url": recorder.url, "api_key": "QUJD"})
    with pytest.raises(PartialFailure) as e:
        s.send([cloud(1), cloud(2), cloud(3)])
    assert list(e.value.retryable) == [1] and list(e.value.permanent) == [2]
    assert "mapper_parsing_exception" in e.value.permanent[2]
    assert recorder.requests[0].headers["authorization"] == "ApiKey QUJD"
