"""pagerduty against a local HTTP server standing in for the Events API v2: the exact event."""

from __future__ import annotations

from sinks.alerts import cloud, make_sink
from sinks.recorder import Recorder

from bridge.route.ident import alert_id


def test_exact_event(recorder: Recorder) -> None:
    recorder.answer = lambda r: (202, {}, b'{"status":"success","dedup_key":"x"}')
    s = make_sink({"name": "pd", "type": "pagerduty", "routing_key": "R0UTING", "url": recorder.url + "/v2/enqueue"})
    s.send([cloud(1)])
    (r,) = recorder.requests
    assert r.path == "/v2/enqueue"
    assert r.json() == {
        "routing_key": "R0UTING", "event_action": "trigger", "dedup_key": alert_id(cloud(1)),
        "payload": {"summary": cloud(1).output, "source": "ip-10-0-1-7", "severity": "critical",
                    "component": "aws_cloudtrail", "group": "Delete Bucket Encryption", "class": "Critical",
                    "timestamp": "2020-10-19T17:21:05.000Z",
                    "custom_details": {"rule": "Delete Bucket Encryption", "priority": "Critical",
                                       "tags": ["NIST800_53", "aws", "cloud"],
                                       "output_fields": cloud(1).output_fields}}}
