"""loki against a local HTTP server standing in for Loki's push API: the exact streams."""

from __future__ import annotations

import orjson
from sinks.alerts import cloud, host, make_sink
from sinks.recorder import Recorder

from bridge.route.ident import alert_id


def test_exact_push(recorder: Recorder) -> None:
    recorder.answer = lambda r: (204, {}, b"")
    s = make_sink({"name": "l", "type": "loki", "url": recorder.url, "tenant_id": "sec",
                   "labels": ["source", "priority", "ct.region"]})
    s.send([cloud(1), cloud(2), host(3)])
    (r,) = recorder.requests
    assert r.path == "/loki/api/v1/push" and r.headers["x-scope-orgid"] == "sec"
    streams = r.json()["streams"]
    assert [s_["stream"] for s_ in streams] == [
        {"job": "falco", "source": "aws_cloudtrail", "priority": "Critical", "ct_region": "us-east-1"},
        {"job": "falco", "source": "syscall", "priority": "Notice"}]
    assert [orjson.loads(v[1])["id"] for v in streams[0]["values"]] == [alert_id(cloud(1)), alert_id(cloud(2))]
    assert all(v[0].isdigit() and len(v[0]) == 19 for st in streams for v in st["values"])


def test_alert_time_option() -> None:
    s = make_sink({"name": "l", "type": "loki", "url": "http://127.0.0.1:1", "use_alert_time": True})
    (st,) = s.build([host(3)])["streams"]
    assert st["values"][0][0] == "1764237600000000003"


def test_label_names_are_made_valid() -> None:
    from bridge.sinks.loki import _label

    assert _label("ct.region") == "ct_region"
    assert _label("ctb.value[/requestParameters/x-amz-acl/0]") == "ctb_value__requestParameters_x_amz_acl_0_"
    assert _label("9lives") == "_9lives"
