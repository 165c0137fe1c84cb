"""What an SQS message body says, as a table of detectors, one row per shape in use:

- S3 event notification (`Records[].s3.bucket.name`, `.object.key`), raw or wrapped in SNS;
- CloudTrail's own SNS notification (`s3Bucket`, `s3ObjectKey: [...]`);
- EventBridge "Object Created" from S3 (`detail.bucket.name`, `detail.object.key`);
- EventBridge CloudTrail events (`detail` is the record: "AWS API Call via CloudTrail", "AWS
  Console Sign In via CloudTrail", "AWS Service Event via CloudTrail", ...);
- S3's test event (`"Event": "s3:TestEvent"`), which carries nothing;
- a bare CloudTrail record.

An SNS envelope (`"Type": "Notification"`, `Message` a JSON string) is unwrapped first. A body
that is not JSON or matches no row is Unknown with the reason; the caller quarantines it.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from bridge.normalize.envelopes import describe, is_record


@dataclass(frozen=True)
class Notice:
    shape: str  # which row matched, for logs and metrics
    files: list[tuple[str, str]] = field(default_factory=list)  # (bucket, key), keys URL-decoded
    records: list[dict[str, Any]] = field(default_factory=list)
    test: bool = False  # carries nothing on purpose (S3 test event)


@dataclass(frozen=True)
class Unknown:
    reason: str


def _get(v: dict[str, Any], outer: str, inner: str) -> Any:
    """v[outer][inner], or None when v[outer] is not an object (a hostile or broken body)."""
    o = v.get(outer)
    return o.get(inner) if isinstance(o, dict) else None


def _s3_notification(v: dict[str, Any]) -> Notice | None:
    recs = v.get("Records")
    if not isinstance(recs, list) or not recs:
        return None
    files = []
    for r in recs:
        s3 = r.get("s3") if isinstance(r, dict) else None
        if not isinstance(s3, dict):
            return None
        bucket, key = _get(s3, "bucket", "name"), _get(s3, "object", "key")
        if not isinstance(bucket, str) or not isinstance(key, str):
            return None
        if isinstance(r.get("eventName"), str) and not r["eventName"].startswith("ObjectCreated"):
            continue  # deletions and the like carry no new log file
        files.append((bucket, urllib.parse.unquote_plus(key)))  # S3 URL-encodes keys in notifications
    return Notice("s3 event notification", files=files)


def _cloudtrail_sns(v: dict[str, Any]) -> Notice | None:
    bucket, keys = v.get("s3Bucket"), v.get("s3ObjectKey")
    if not isinstance(bucket, str) or not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        return None
    return Notice("cloudtrail sns notification", files=[(bucket, k) for k in keys])


def _s3_test(v: dict[str, Any]) -> Notice | None:
    return Notice("s3 test event", test=True) if v.get("Event") == "s3:TestEvent" else None


def _eventbridge_s3(v: dict[str, Any]) -> Notice | None:
    d = v.get("detail")
    if v.get("source") != "aws.s3" or v.get("detail-type") != "Object Created" or not isinstance(d, dict):
        return None
    bucket, key = _get(d, "bucket", "name"), _get(d, "object", "key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        return None
    return Notice("eventbridge s3 object created", files=[(bucket, key)])


def _eventbridge_cloudtrail(v: dict[str, Any]) -> Notice | None:
    d, kind = v.get("detail"), v.get("detail-type")
    if not isinstance(d, dict) or not isinstance(kind, str):
        return None
    if not (kind.endswith("via CloudTrail") or is_record(d)):
        return None
    return Notice(f"eventbridge {kind}", records=[d])


def _record(v: dict[str, Any]) -> Notice | None:
    return Notice("cloudtrail record", records=[v]) if is_record(v) else None


SHAPES: tuple[Callable[[dict[str, Any]], Notice | None], ...] = (
    _s3_test, _s3_notification, _cloudtrail_sns, _eventbridge_s3, _eventbridge_cloudtrail, _record,
)


def read_message(body: str | bytes) -> Notice | Unknown:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        return Unknown(f"body is not JSON ({e})")
    sns = False
    if isinstance(value, dict) and value.get("Type") == "Notification" and isinstance(value.get("Message"), str):
        sns = True
        try:
            value = orjson.loads(value["Message"])
        except orjson.JSONDecodeError as e:
            return Unknown(f"SNS notification whose Message is not JSON ({e})")
    if not isinstance(value, dict):
        return Unknown(f"body is {describe(value)}, not a notification")
    for shape in SHAPES:
        notice = shape(value)
        if notice is not None:
            return Notice(f"sns {notice.shape}", notice.files, notice.records, notice.test) if sns else notice
    return Unknown(f"unknown message shape: {describe(value)}")
