"""falcosidekick against a local HTTP server standing in for sidekick: its documented input payload."""

from __future__ import annotations

from sinks.alerts import cloud, make_sink
from sinks.recorder import Recorder


def test_body_is_falcos_own_alert_json(recorder: Recorder) -> None:
    s = make_sink({"name": "sk", "type": "falcosidekick", "url": recorder.url + "/"})
    a = cloud(1, extra={"intake": "http"})
    s.send([a])
    (r,) = recorder.requests
    assert r.path == "/" and r.headers["content-type"] == "application/json"
    # falcosidekick's types.FalcoPayload: output, priority, rule, time, output_fields, source, tags,
    # hostname (uuid is set by sidekick itself); nothing of ours is added.
    assert r.json() == {
        "hostname": "ip-10-0-1-7", "output": a.output, "output_fields": a.output_fields,
        "priority": "Critical", "rule": "Delete Bucket Encryption", "source": "aws_cloudtrail",
        "tags": ["NIST800_53", "aws", "cloud"], "time": "2020-10-19T17:21:05.000000001Z"}
