"""read_message, one SQS body shape at a time (killing the mutants of bridge/normalize/notifications.py
that tests/sources/test_sqs.py, which goes through moto and the plugin, leaves alive)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bridge.normalize.notifications import Notice, Unknown, read_message

RECORD = {"eventVersion": "1.08", "eventTime": "2024-01-01T00:00:00Z", "eventName": "GetObject", "eventID": "e1"}


def _s3(bucket: Any, key: Any, event: str | None = "ObjectCreated:Put") -> dict[str, Any]:
    r: dict[str, Any] = {"s3": {"bucket": {"name": bucket}, "object": {"key": key}}}
    if event is not None:
        r["eventName"] = event
    return r


def _sns(inner: Any) -> str:
    return json.dumps({"Type": "Notification", "Message": json.dumps(inner)})


def test_s3_notification_lists_created_files_with_keys_url_decoded() -> None:
    body = json.dumps({"Records": [
        _s3("b1", "AWSLogs/1/CloudTrail/a+b%2Fc%3D.json.gz"),
        _s3("b1", "gone.json.gz", "ObjectRemoved:Delete"),  # no new log file
        _s3("b2", "k2", None),  # no eventName: still a file
    ]})
    assert read_message(body) == Notice("s3 event notification", files=[("b1", "AWSLogs/1/CloudTrail/a b/c=.json.gz"), ("b2", "k2")])


@pytest.mark.parametrize("records", [
    [],  # nothing: not this shape
    [{"s3": "x"}],
    ["not an object"],
    [_s3(1, "k")],
    [_s3("b", None)],
    [_s3("b", "k"), {"s3": {"bucket": {"name": "b"}, "object": "k"}}],  # one bad entry spoils the body
])
def test_broken_s3_notifications_are_unknown(records: list[Any]) -> None:
    got = read_message(json.dumps({"Records": records}))
    assert got == Unknown("unknown message shape: a JSON object with keys [Records]")


def test_cloudtrail_sns_notification_keys_are_taken_as_they_are() -> None:
    body = {"s3Bucket": "trail", "s3ObjectKey": ["a+b.json.gz", "c%2F.json.gz"]}
    assert read_message(json.dumps(body)) == Notice("cloudtrail sns notification", files=[("trail", "a+b.json.gz"), ("trail", "c%2F.json.gz")])
    for broken in ({"s3Bucket": 1, "s3ObjectKey": ["k"]}, {"s3Bucket": "t", "s3ObjectKey": "k"}, {"s3Bucket": "t", "s3ObjectKey": ["k", 2]}):
        assert isinstance(read_message(json.dumps(broken)), Unknown), broken


def test_s3_test_event_carries_nothing() -> None:
    assert read_message('{"Event": "s3:TestEvent", "Bucket": "b"}') == Notice("s3 test event", test=True)
    assert isinstance(read_message('{"Event": "s3:Other"}'), Unknown)


def test_eventbridge_object_created() -> None:
    ev = {"source": "aws.s3", "detail-type": "Object Created", "detail": {"bucket": {"name": "b"}, "object": {"key": "k+1"}}}
    assert read_message(json.dumps(ev)) == Notice("eventbridge s3 object created", files=[("b", "k+1")])
    for change in ({"source": "aws.ec2"}, {"detail-type": "Object Deleted"}, {"detail": {"bucket": {"name": "b"}, "object": {"key": 3}}},
                   {"detail": {"bucket": {"name": 3}, "object": {"key": "k"}}}):
        assert isinstance(read_message(json.dumps({**ev, **change})), Unknown), change


def test_eventbridge_cloudtrail_events_carry_the_record() -> None:
    ev = {"source": "aws.signin", "detail-type": "AWS Console Sign In via CloudTrail", "detail": {"anything": 1}}
    assert read_message(json.dumps(ev)) == Notice("eventbridge AWS Console Sign In via CloudTrail", records=[{"anything": 1}])
    # Another detail-type, but the detail is a record.
    ev2 = {"detail-type": "Custom", "detail": RECORD}
    assert read_message(json.dumps(ev2)) == Notice("eventbridge Custom", records=[RECORD])
    for broken in ({"detail-type": "Custom", "detail": {"x": 1}}, {"detail-type": 5, "detail": RECORD},
                   {"detail-type": "AWS API Call via CloudTrail", "detail": [RECORD]}):
        assert isinstance(read_message(json.dumps(broken)), Unknown), broken


def test_bare_record() -> None:
    assert read_message(json.dumps(RECORD).encode()) == Notice("cloudtrail record", records=[RECORD])


def test_sns_envelope_is_unwrapped_and_named() -> None:
    assert read_message(_sns({"Records": [_s3("b", "k%20x")]})) == Notice("sns s3 event notification", files=[("b", "k x")])
    assert read_message(_sns(RECORD)) == Notice("sns cloudtrail record", records=[RECORD])
    assert read_message(_sns({"Event": "s3:TestEvent"})) == Notice("sns s3 test event", test=True)
    # Not SNS: a Notification without a string Message, or another Type, is judged as it is.
    assert read_message(json.dumps({"Type": "Notification", "Message": RECORD})) == Unknown(
        "unknown message shape: a JSON object with keys [Type, Message]")
    assert read_message(json.dumps({"Type": "Other", "Message": json.dumps(RECORD)})) == Unknown(
        "unknown message shape: a JSON object with keys [Type, Message]")


def test_unknown_bodies_say_why() -> None:
    got = read_message("{nope")
    assert isinstance(got, Unknown) and got.reason.startswith("body is not JSON (")
    got = read_message(json.dumps({"Type": "Notification", "Message": "{nope"}))
    assert isinstance(got, Unknown) and got.reason.startswith("SNS notification whose Message is not JSON (")
    assert read_message("[1, 2]") == Unknown("body is a JSON array of 2 items, not a notification")
    assert read_message(_sns("text")) == Unknown("body is a JSON string, not a notification")
    assert read_message('{"a": 1}') == Unknown("unknown message shape: a JSON object with keys [a]")


def test_notice_fields_are_real_values_not_defaults_compared_with_themselves() -> None:
    # The equality checks above build the expected Notice with the same defaults; these do not.
    test = read_message('{"Event": "s3:TestEvent"}')
    assert isinstance(test, Notice) and test.files == [] and test.records == [] and test.test is True
    files = read_message(json.dumps({"Records": [_s3("b", "k")]}))
    assert isinstance(files, Notice) and files.test is False and files.records == [] and files.files == [("b", "k")]
    rec = read_message(json.dumps(RECORD))
    assert isinstance(rec, Notice) and rec.test is False and rec.files == []
