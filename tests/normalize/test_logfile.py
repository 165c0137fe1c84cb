from __future__ import annotations

import datetime
import gzip
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bridge.model import BadItem, Blob, Record
from bridge.normalize.logfile import parse_rfc3339_ns, records_from_blob

DATA = Path(__file__).parent.parent / "data" / "normalize"
SEED = Path(__file__).parents[2] / "samples" / "seed"


def rec(i: int, **over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": f"2026-11-20T10:{i % 60:02d}:00Z",
        "eventSource": "s3.amazonaws.com",
        "eventName": "GetObject",
        "eventID": f"id-{i}",
    }
    r.update(over)
    return r


def log_file(*records: Any) -> bytes:
    return json.dumps({"Records": list(records)}).encode()


def run(name: str, data: bytes, **kw: Any) -> list[Record | BadItem]:
    return list(records_from_blob(Blob(name, data), **kw))


def good(items: list[Record | BadItem]) -> list[Record]:
    return [i for i in items if isinstance(i, Record)]


def bad(items: list[Record | BadItem]) -> list[BadItem]:
    return [i for i in items if isinstance(i, BadItem)]


def test_log_file_becomes_compact_records_with_time_id_and_origin() -> None:
    data = (DATA / "cloudtrail_log.json").read_bytes()
    items = run("logs/a.json", data)
    assert bad(items) == []
    recs = good(items)
    source = json.loads(data)["Records"]
    assert [r.raw for r in recs] == [orjson.dumps(s) for s in source]
    assert [json.loads(r.raw) for r in recs] == source  # same content, key order kept
    assert [r.origin for r in recs] == ["logs/a.json#0", "logs/a.json#1", "logs/a.json#2"]
    assert [r.event_id for r in recs] == [s["eventID"] for s in source]
    assert recs[0].ts_ns == int(datetime.datetime(2026, 11, 20, 10, 15, 2, tzinfo=datetime.UTC).timestamp()) * 10**9
    # +02:00 and nanoseconds
    assert recs[1].ts_ns == int(datetime.datetime(2026, 11, 20, 8, 16, 40, tzinfo=datetime.UTC).timestamp()) * 10**9 + 123456789
    assert b"\xc3\xbc" in recs[1].raw  # non-ASCII kept as UTF-8, not escaped
    # The Insight record is kept: the plugin decides what to do with it.
    assert json.loads(recs[2].raw)["eventType"] == "AwsCloudTrailInsight"


def test_seed_log_file_gzip_by_suffix() -> None:
    (path,) = SEED.glob("*.json.gz")
    recs = good(run(str(path), path.read_bytes()))
    assert len(recs) == 12
    assert recs[9].event_id == "78c15027-2ad8-492e-a26f-058a0ce48e96"
    assert recs[9].ts_ns == 1603128256 * 10**9


def test_gzip_detected_by_magic_and_gz_suffix_on_plain_json() -> None:
    data = log_file(rec(1), rec(2))
    assert len(good(run("noext", gzip.compress(data)))) == 2
    assert len(good(run("already-decoded.json.gz", data))) == 2


def test_multi_member_gzip_is_read_whole() -> None:
    lines = [json.dumps(rec(i)).encode() + b"\n" for i in range(4)]
    data = gzip.compress(b"".join(lines[:2])) + gzip.compress(b"".join(lines[2:]))
    assert [r.event_id for r in good(run("x.jsonl.gz", data))] == ["id-0", "id-1", "id-2", "id-3"]


def test_corrupt_gzip_is_a_bad_item_naming_the_file() -> None:
    data = bytearray(gzip.compress(log_file(rec(1)) * 50))
    data[30:60] = b"\xff" * 30
    (item,) = run("bucket/x.json.gz", bytes(data))
    assert isinstance(item, BadItem)
    assert item.origin == "bucket/x.json.gz"
    assert "bucket/x.json.gz" in item.reason and "gzip" in item.reason
    assert item.raw == bytes(data)


def test_not_gzip_despite_name() -> None:
    (item,) = run("x.json.gz", b"PK\x03\x04garbage")
    assert isinstance(item, BadItem) and "not gzip" in item.reason


def test_truncated_gzip_jsonl_keeps_the_complete_lines() -> None:
    lines = b"".join(json.dumps(rec(i)).encode() + b"\n" for i in range(200))
    data = gzip.compress(lines)
    items = run("t.jsonl.gz", data[: len(data) * 2 // 3])
    problems = bad(items)
    assert len(problems) == 1 and "truncated gzip" in problems[0].reason
    ids = [r.event_id for r in good(items)]
    assert 0 < len(ids) < 200
    assert ids == [f"id-{i}" for i in range(len(ids))]


def test_truncated_json_document() -> None:
    data = log_file(rec(1), rec(2))[:-10]
    (item,) = run("cut.json", data)
    assert isinstance(item, BadItem) and "truncated JSON" in item.reason and "cut.json" in item.reason


def test_non_utf8_document_and_line() -> None:
    data = log_file(rec(1, userAgent="XX")).replace(b"XX", b"\xff\xfe")
    (item,) = run("latin.json", data)
    assert isinstance(item, BadItem) and "UTF-8" in item.reason
    lines = json.dumps(rec(1)).encode() + b"\n" + data + b"\n" + json.dumps(rec(3)).encode()
    items = run("mixed.jsonl", lines)
    assert [r.event_id for r in good(items)] == ["id-1", "id-3"]
    (b,) = bad(items)
    assert b.origin == "mixed.jsonl#line2" and "line 2" in b.reason and "UTF-8" in b.reason


def test_jsonl_bad_line_loses_only_that_line() -> None:
    lines = [
        json.dumps(rec(0)),
        "",
        '{"eventTime": "2026-11-20T10:00:00Z", "eventName": "Trunc',
        json.dumps({"Records": [rec(1), rec(2)]}),
        json.dumps({"hello": "world"}),
        json.dumps(rec(3)) + "\r",
    ]
    items = run("day.ndjson", "\n".join(lines).encode())
    assert [r.event_id for r in good(items)] == ["id-0", "id-1", "id-2", "id-3"]
    assert [r.origin for r in good(items)] == ["day.ndjson#0", "day.ndjson#1", "day.ndjson#2", "day.ndjson#3"]
    reasons = [b.reason for b in bad(items)]
    assert len(reasons) == 2
    assert "line 3" in reasons[0] and "truncated JSON" in reasons[0]
    assert "line 5" in reasons[1] and "unknown format" in reasons[1] and "hello" in reasons[1]


def test_json_file_that_is_really_json_lines() -> None:
    data = b"\n".join(json.dumps(rec(i)).encode() for i in range(3))
    assert [r.event_id for r in good(run("export.json", data))] == ["id-0", "id-1", "id-2"]


def test_unknown_format_names_what_it_saw() -> None:
    (item,) = run("odd.json", b'{"Items": [1, 2], "Count": 2}')
    assert isinstance(item, BadItem)
    assert "unknown format" in item.reason and "Items" in item.reason and "odd.json" in item.reason


def test_bad_records_are_reported_and_neighbours_survive() -> None:
    records = [
        rec(0),
        {k: v for k, v in rec(1).items() if k != "eventTime"},
        rec(2, eventTime="yesterday"),
        rec(3, eventTime=1700000000),
        "not an object",
        rec(5, eventTime="2026-02-30T00:00:00Z"),
        rec(6),
    ]
    items = run("f.json", log_file(*records))
    assert [r.event_id for r in good(items)] == ["id-0", "id-6"]
    assert [r.origin for r in good(items)] == ["f.json#0", "f.json#6"]
    by_origin = {b.origin: b.reason for b in bad(items)}
    assert "no eventTime" in by_origin["f.json#1"]
    assert "'yesterday'" in by_origin["f.json#2"] and "RFC 3339" in by_origin["f.json#2"]
    assert "not a string" in by_origin["f.json#3"]
    assert "not a JSON object" in by_origin["f.json#4"]
    assert "RFC 3339" in by_origin["f.json#5"]
    assert all("f.json record" in r for r in by_origin.values())


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth - 1):  # depth - 1 objects; the record around it is one more level
        value = {"a": value}
    return value


def test_deep_nesting_is_rejected_per_record() -> None:
    ok = rec(1, requestParameters=nested(256))  # 256 levels of objects in all (orjson writes only 254)
    too_deep = rec(2, requestParameters=nested(257))  # 257 levels
    items = run("deep.json", log_file(rec(0), ok, too_deep, rec(3)))
    assert [r.event_id for r in good(items)] == ["id-0", "id-1", "id-3"]
    assert json.loads(good(items)[1].raw) == ok
    (b,) = bad(items)
    assert b.origin == "deep.json#2" and "deeper than 256" in b.reason


def test_absurd_nesting_never_reaches_a_recursive_parser() -> None:
    for depth in (5_000, 200_000):
        (item,) = run("bomb.json", b"[" * depth + b"]" * depth)
        assert isinstance(item, BadItem) and "deep" in item.reason
    # Also on the stdlib path (a big integer sends the document there).
    data = b'{"n": 123456789012345678901234, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    (item,) = run("bomb2.json", data)
    assert isinstance(item, BadItem) and "deeper than" in item.reason


def test_record_size_limit() -> None:
    big = rec(1, requestParameters={"blob": "x" * 5000})
    items = run("big.json", log_file(rec(0), big, rec(2)), max_record_bytes=4096)
    assert [r.event_id for r in good(items)] == ["id-0", "id-2"]
    (b,) = bad(items)
    assert "over the 4096 byte record limit" in b.reason and b.raw is not None


def test_gzip_bomb_stops_at_blob_limit() -> None:
    data = gzip.compress(b" " * 5_000_000)
    (item,) = run("bomb.json.gz", data, max_blob_bytes=1_000_000)
    assert isinstance(item, BadItem) and "more than 1000000 bytes" in item.reason


def test_big_integers_are_kept_exactly() -> None:
    data = log_file(rec(1, responseElements={"size": 123456789012345678901234567890, "neg": -98765432109876543210}))
    (r,) = good(run("ints.json", data))
    assert b"123456789012345678901234567890" in r.raw and b"-98765432109876543210" in r.raw
    assert json.loads(r.raw)["responseElements"]["size"] == 123456789012345678901234567890


def test_lone_surrogate_escape_gives_valid_utf8_json() -> None:
    data = log_file(rec(1, userAgent="PLACEHOLDER")).replace(b"PLACEHOLDER", b"\\ud800 caf\\u00e9")
    (r,) = good(run("sur.json", data))
    assert json.loads(r.raw.decode("utf-8"))["userAgent"] == "\ud800 caf\u00e9"


def test_bom_and_eventbridge_and_bare_record_and_array() -> None:
    bridge_event = (DATA / "eventbridge_signin.json").read_bytes()
    assert [r.event_id for r in good(run("eb.json", b"\xef\xbb\xbf" + bridge_event))] == [
        "11111111-2222-4333-8444-555555555504"
    ]
    assert [r.event_id for r in good(run("one.json", json.dumps(rec(7)).encode()))] == ["id-7"]
    arr = json.dumps([rec(1), {"Records": [rec(2)]}, json.loads(bridge_event), 42]).encode()
    items = run("arr.json", arr)
    assert [r.event_id for r in good(items)] == ["id-1", "id-2", "11111111-2222-4333-8444-555555555504"]
    (b,) = bad(items)
    assert b.origin == "arr.json#3" and "unknown format" in b.reason


def test_event_id_missing_or_empty_is_none() -> None:
    r0, r1 = good(run("x.json", log_file(rec(0, eventID=""), {k: v for k, v in rec(1).items() if k != "eventID"})))
    assert r0.event_id is None and r1.event_id is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-10-19T17:24:16Z", "2020-10-19T17:24:16+00:00"),
        ("2020-10-19t17:24:16z", "2020-10-19T17:24:16+00:00"),
        ("2020-10-19T17:24:16.5Z", "2020-10-19T17:24:16.500000+00:00"),
        ("2020-10-19T19:24:16+02:00", "2020-10-19T17:24:16+00:00"),
        ("2020-10-19T12:54:16-04:30", "2020-10-19T17:24:16+00:00"),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59+00:00"),
    ],
)
def test_rfc3339_matches_datetime(text: str, expected: str) -> None:
    want = datetime.datetime.fromisoformat(expected)
    seconds = int((want - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)).total_seconds() // 1)
    ns = parse_rfc3339_ns(text)
    assert ns is not None
    assert ns // 10**9 == seconds
    assert ns % 10**9 == want.microsecond * 1000


def test_rfc3339_nanoseconds_and_rejects() -> None:
    assert parse_rfc3339_ns("1970-01-01T00:00:00.000000001Z") == 1
    assert parse_rfc3339_ns("1970-01-01T00:00:00.1234567891234Z") == 123456789  # extra digits dropped
    for text in ("2020-13-01T00:00:00Z", "2020-02-30T00:00:00Z", "2020-10-19T24:00:00Z",
                 "2020-10-19T17:24:16", "2020-10-19 17:24", "", "2020-10-19T17:24:16+25:00"):
        assert parse_rfc3339_ns(text) is None, text
