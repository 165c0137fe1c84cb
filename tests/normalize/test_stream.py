"""The streaming splitter: records keep CloudTrail's bytes, whatever the chunking, and damage is
reported with the record's place."""

from __future__ import annotations

import gzip
import json

import orjson

from bridge.model import BadItem, Record
from bridge.normalize.stream import records_from_chunks


def rec(i: int, **extra: object) -> bytes:
    body = {"eventVersion": "1.09", "userIdentity": {"type": "Root"}, "eventTime": "2026-11-20T10:00:0%dZ" % (i % 10),
            "eventName": "X", "eventID": f"id-{i}", **extra}
    return json.dumps(body).encode()  # with spaces: not the canonical form, kept as is


def log(*records: bytes) -> bytes:
    return b'{"Records":[' + b",".join(records) + b"]}"


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def items(data: bytes, size: int = 1 << 20, name: str = "f.json.gz") -> list[Record | BadItem]:
    return list(records_from_chunks(name, chunked(data, size)))


def test_bytes_kept_for_every_chunking_and_gzip_members() -> None:
    raws = [rec(i) for i in range(20)]
    data = log(*raws)
    for blob in (data, gzip.compress(data), gzip.compress(data[:50]) + gzip.compress(data[50:])):
        for size in (1, 7, 100, 1 << 20):
            got = items(blob, size)
            assert [r.raw for r in got if isinstance(r, Record)] == raws
            assert [r.event_id for r in got if isinstance(r, Record)] == [f"id-{i}" for i in range(20)]


def test_values_match_a_real_parse() -> None:
    raws = [rec(i, note='a "quoted" {brace} and [bracket]', eventTimeLike="2020-01-01T00:00:00Z") for i in range(5)]
    for r in items(log(*raws)):
        assert isinstance(r, Record)
        v = orjson.loads(r.raw)
        assert r.event_id == v["eventID"]
        assert r.ts_ns % 10**9 == 0 and r.raw in raws


def test_a_nested_object_keyed_eventversion_is_not_a_boundary() -> None:
    inner = {"eventVersion": "x", "k": [{"eventVersion": "y"}]}
    nested = json.dumps({"eventVersion": "1.09", "eventTime": "2026-11-20T10:00:00Z", "eventID": "n",
                         "requestParameters": {"items": [inner, inner]}}, separators=(",", ":")).encode()
    got = items(log(rec(1), nested, rec(2)))
    assert [r.raw for r in got if isinstance(r, Record)] == [rec(1), nested, rec(2)]


def test_damage_is_reported_and_the_rest_kept() -> None:
    bad_utf8 = b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z","eventID":"u","x":"caf\xe9"}'
    got = items(log(rec(1), bad_utf8, rec(2)))
    assert [g.event_id for g in got if isinstance(g, Record)] == ["id-1", "id-2"]
    (bad,) = [g for g in got if isinstance(g, BadItem)]
    assert bad.origin == "f.json.gz#1" and "UTF-8" in bad.reason
    truncated = log(rec(1), rec(2))[:-30]
    got = items(truncated)
    assert [g.event_id for g in got if isinstance(g, Record)] == ["id-1"]
    assert "truncated JSON" in got[-1].reason  # type: ignore[union-attr]
    got = items(gzip.compress(log(rec(1), rec(2)))[:-10])
    assert isinstance(got[-1], BadItem) and "gzip" in got[-1].reason
    assert "empty input" in items(b"")[0].reason  # type: ignore[union-attr]


def test_other_shapes_go_through_the_parser() -> None:
    lines = rec(1) + b"\n" + rec(2) + b"\n"
    assert [g.event_id for g in items(lines, name="x.jsonl")] == ["id-1", "id-2"]  # type: ignore[union-attr]
    other_order = b'{"Records":[{"eventID":"o","eventTime":"2026-11-20T10:00:00Z","eventVersion":"1"}]}'
    assert [g.event_id for g in items(other_order)] == ["o"]  # type: ignore[union-attr]
    assert items(b'{"Records":[]}') == []


def test_record_over_the_limit() -> None:
    big = rec(1, blob="x" * 5000)
    got = list(records_from_chunks("f.json", chunked(log(rec(0), big, rec(2)), 1000), max_record_bytes=2000))
    assert [g.event_id for g in got if isinstance(g, Record)] == ["id-0", "id-2"]
    assert any(isinstance(g, BadItem) and "record limit" in g.reason for g in got)
