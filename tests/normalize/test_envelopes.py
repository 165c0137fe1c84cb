from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import InputError
from bridge.normalize.envelopes import ENVELOPES, Unrecognized, unwrap

DATA = Path(__file__).parent.parent / "data" / "normalize"

RECORD = {"eventVersion": "1.08", "eventTime": "2026-11-20T10:00:00Z", "eventName": "ListBuckets", "eventID": "e1"}


def eventbridge(detail_type: str, detail: Any) -> dict[str, Any]:
    return {"version": "0", "id": "x", "detail-type": detail_type, "source": "aws.s3", "detail": detail}


def test_detectors_are_a_table() -> None:
    assert [e.name for e in ENVELOPES] == ["CloudTrail log file", "EventBridge event", "CloudTrail record"]


def test_log_file_returns_records_in_order_unvalidated() -> None:
    assert unwrap({"Records": [RECORD, "junk", {"a": 1}]}) == [RECORD, "junk", {"a": 1}]
    assert unwrap({"Records": []}) == []


def test_real_log_file_sample() -> None:
    records = unwrap(json.loads((DATA / "cloudtrail_log.json").read_text()))
    assert [r["eventID"][-2:] for r in records] == ["01", "02", "03"]


def test_bare_record_including_insight_without_event_name() -> None:
    assert unwrap(RECORD) == [RECORD]
    insight = {"eventVersion": "1.07", "eventTime": "2026-11-20T10:00:00Z", "eventType": "AwsCloudTrailInsight"}
    assert unwrap(insight) == [insight]


@pytest.mark.parametrize(
    "detail_type",
    ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail", "AWS Service Event via CloudTrail"],
)
def test_eventbridge_unwraps_detail(detail_type: str) -> None:
    assert unwrap(eventbridge(detail_type, RECORD)) == [RECORD]


def test_eventbridge_any_detail_type_with_a_cloudtrail_detail() -> None:
    assert unwrap(eventbridge("Custom Forwarded Event", RECORD)) == [RECORD]


def test_eventbridge_via_cloudtrail_with_odd_detail_is_passed_on_for_the_record_check() -> None:
    assert unwrap(eventbridge("AWS API Call via CloudTrail", {"x": 1})) == [{"x": 1}]


def test_eventbridge_with_unrelated_detail_is_unknown() -> None:
    with pytest.raises(InputError, match="unknown format.*detail-type"):
        unwrap(eventbridge("EC2 Instance State-change Notification", {"state": "running"}))


def test_sample_eventbridge_file() -> None:
    (record,) = unwrap(json.loads((DATA / "eventbridge_signin.json").read_text()))
    assert record["eventName"] == "ConsoleLogin"


def test_array_of_mixed_shapes_keeps_unknown_items_in_place() -> None:
    out = unwrap([RECORD, {"Records": [RECORD, RECORD]}, 7, eventbridge("AWS API Call via CloudTrail", RECORD)])
    assert out[:3] == [RECORD, RECORD, RECORD] and out[4] == RECORD
    assert isinstance(out[3], Unrecognized)
    assert "array item is a JSON number" in out[3].what and out[3].value == 7


@pytest.mark.parametrize(
    ("value", "seen"),
    [
        ({"Items": [], "Count": 0}, "keys [Items, Count]"),
        ({"Records": "nope"}, "keys [Records]"),
        ({}, "an empty JSON object"),
        ("text", "a JSON string"),
        (3.5, "a JSON number"),
        (None, "JSON null"),
        (True, "a JSON boolean"),
        ([{"a": 1}, {"b": 2}], "a JSON array of 2 items, first item a JSON object with keys [a]"),
    ],
)
def test_unknown_formats_name_what_they_saw(value: Any, seen: str) -> None:
    with pytest.raises(InputError) as exc:
        unwrap(value)
    assert str(exc.value).startswith("unknown format")
    assert seen in str(exc.value)


def test_many_keys_are_summarised() -> None:
    with pytest.raises(InputError, match=r"\(\+4 more\)"):
        unwrap({f"k{i}": i for i in range(10)})
