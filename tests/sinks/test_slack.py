"""slack against a local HTTP server standing in for Slack's incoming webhook: Block Kit, mrkdwn escaping."""

from __future__ import annotations

from sinks.alerts import cloud, hostile, make_sink
from sinks.recorder import Recorder


def test_exact_blocks(recorder: Recorder) -> None:
    s = make_sink({"name": "s", "type": "slack", "webhook_url": recorder.url + "/services/T/B/x"})
    s.send([cloud(1)])
    (r,) = recorder.requests
    assert r.path == "/services/T/B/x" and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body["text"] == "Critical: Delete Bucket Encryption"
    assert body["blocks"][0] == {"type": "section", "text": {"type": "mrkdwn",
                                 "text": ":red_circle: *Critical*: Delete Bucket Encryption"}}
    assert body["blocks"][1]["text"]["text"] == cloud(1).output
    assert body["blocks"][2]["fields"][0] == {"type": "mrkdwn", "text": "*priority*\nCritical"}
    assert body["blocks"][3]["elements"][0]["text"] == "tags: NIST800\u200b_\u200b53, aws, cloud"


def test_hostile_cloudtrail_strings_are_escaped(recorder: Recorder) -> None:
    s = make_sink({"name": "s", "type": "slack", "webhook_url": recorder.url,
                   "template": "*{rule}* user {ct.user}", "fields": ["s3.bucket"]})
    s.send([hostile()])
    raw = recorder.requests[0].body.decode()
    for bad in ("<!channel>", "<https://evil.example|click>", "<b>"):
        assert bad not in raw
    body = recorder.requests[0].json()
    assert body["blocks"][1]["text"]["text"].startswith("*Rule &lt;!channel&gt; &lt;https://evil.example|click&gt;")
    assert "&lt;!channel&gt;" in body["blocks"][2]["fields"][0]["text"]
