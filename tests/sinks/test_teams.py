"""teams against a local HTTP server standing in for a Teams workflow webhook: the Adaptive Card."""

from __future__ import annotations

from sinks.alerts import cloud, hostile, make_sink
from sinks.recorder import Recorder


def test_exact_card(recorder: Recorder) -> None:
    s = make_sink({"name": "t", "type": "teams", "webhook_url": recorder.url + "/workflows/x", "fields": ["priority"]})
    s.send([cloud(1)])
    body = recorder.requests[0].json()
    assert body["type"] == "message"
    (att,) = body["attachments"]
    assert att["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = att["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == "Critical: Delete Bucket Encryption" and card["body"][0]["color"] == "Attention"
    assert card["body"][2] == {"type": "FactSet", "facts": [{"title": "priority", "value": "Critical"}]}


def test_hostile_strings_are_escaped(recorder: Recorder) -> None:
    s = make_sink({"name": "t", "type": "teams", "webhook_url": recorder.url, "fields": ["ct.user"]})
    s.send([hostile()])
    raw = recorder.requests[0].body.decode()
    assert "<!channel>" not in raw and "[a](http://e)" not in raw and "<b>" not in raw
    fact = recorder.requests[0].json()["attachments"][0]["content"]["body"][2]["facts"][0]["value"]
    assert fact.startswith("&lt;\\!channel&gt;") and "\\*bold\\*" in fact
