"""Bad input through file://: the plugin logs it, counts it, skips it, and keeps the good records."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from plugin_abi import SS_PLUGIN_EOF, Event, PluginError, PluginLib, PluginState
from plugin_samples import log_file_text, make_record, ts_of


def read_all(state: PluginState, target: Path) -> list[Event]:
    inst = state.open(f"file://{target}")
    try:
        events = inst.read_all()
        assert inst.next_batch() == (SS_PLUGIN_EOF, [])
        assert inst.progress()[1] == 10000
        return events
    finally:
        inst.close()


def logged(state: PluginState, *words: str) -> bool:
    return any(all(w in msg for w in words) for _sev, msg in state.logs)


def good_file(path: Path, first: int, count: int) -> list[bytes]:
    body, texts = log_file_text([make_record(first + i) for i in range(count)])
    path.write_bytes(gzip.compress(body) if path.name.endswith(".gz") else body)
    return texts


def test_corrupt_gzip_is_skipped_and_the_next_file_read(state: PluginState, tmp_path: Path) -> None:
    first = good_file(tmp_path / "1.json.gz", 0, 3)
    body, _ = log_file_text([make_record(10 + i) for i in range(200)])
    data = bytearray(gzip.compress(body))
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    (tmp_path / "2.json.gz").write_bytes(bytes(data))
    last = good_file(tmp_path / "3.json.gz", 20, 2)
    events = read_all(state, tmp_path)
    payloads = [e.payload for e in events]
    assert payloads[:3] == first and payloads[-2:] == last
    # Whatever came out of the damaged file is complete records from before the damage.
    middle = payloads[3:-2]
    assert all(json.loads(p)["eventID"].endswith("%012d" % (10 + i)) for i, p in enumerate(middle))
    assert state.metrics()["ctbridge.bad_inputs"] == 1
    assert logged(state, "2.json.gz", "gzip")


def test_truncated_gzip_keeps_the_complete_prefix(state: PluginState, tmp_path: Path) -> None:
    records = [make_record(i) for i in range(100)]
    body, texts = log_file_text(records)
    data = gzip.compress(body)
    (tmp_path / "cut.json.gz").write_bytes(data[: len(data) * 2 // 3])
    last = good_file(tmp_path / "next.json", 200, 1)
    events = read_all(state, tmp_path)
    payloads = [e.payload for e in events]
    assert payloads[-1:] == last
    assert 0 < len(payloads) - 1 < 100
    assert payloads[:-1] == texts[: len(payloads) - 1]
    assert state.metrics()["ctbridge.bad_inputs"] == 1
    assert logged(state, "cut.json.gz", "truncated gzip")


def test_not_gzip_despite_name(state: PluginState, tmp_path: Path) -> None:
    body, _ = log_file_text([make_record(0)])
    (tmp_path / "a.json.gz").write_bytes(body)
    texts = good_file(tmp_path / "b.json", 1, 1)
    assert [e.payload for e in read_all(state, tmp_path)] == texts
    assert logged(state, "a.json.gz", "not gzip")


def test_truncated_json_keeps_earlier_records(state: PluginState, tmp_path: Path) -> None:
    body, texts = log_file_text([make_record(i) for i in range(5)])
    cut = body.index(texts[3]) + len(texts[3]) // 2
    (tmp_path / "t.json").write_bytes(body[:cut])
    events = read_all(state, tmp_path / "t.json")
    assert [e.payload for e in events] == texts[:3]
    assert state.metrics()["ctbridge.bad_inputs"] == 1
    assert logged(state, "t.json", "invalid JSON", "3 complete records")


def test_non_utf8_bytes_are_passed_through(state: PluginState, tmp_path: Path) -> None:
    rec = json.dumps(make_record(0)).encode().replace(b"aws-cli/2.15.0", b"aws-cli/\xff\xfe\xc3(")
    good = json.dumps(make_record(1)).encode()
    (tmp_path / "u.json").write_bytes(b'{"Records":[' + rec + b"," + good + b"]}")
    events = read_all(state, tmp_path / "u.json")
    assert [e.payload for e in events] == [rec, good]
    # Extraction passes the bytes through as they are (no decoding, no replacement characters).
    name, agent = state.extract(events[0].payload, ["ct.name", "ct.useragent"], evtnum=1)
    assert name == "PutBucketAcl"
    assert agent.encode("utf-8", "surrogateescape").startswith(b"[aws-cli/\xff\xfe\xc3( Python/")
    assert state.extract(events[1].payload, ["ct.name"], evtnum=2) == ["PutBucketAcl"]


def test_300kb_record(plugin_lib: PluginLib, state: PluginState, tmp_path: Path) -> None:
    big = make_record(0, requestParameters={"policy": "x" * 300_000, "bucketName": "acme-data"})
    body, texts = log_file_text([big, make_record(1)])
    (tmp_path / "big.json").write_bytes(body)
    events = read_all(state, tmp_path / "big.json")
    assert [e.payload for e in events] == texts
    assert len(events[0].raw) == 38 + len(texts[0]) > 300_000
    assert state.extract(events[0].payload, ["s3.bucket"]) == ["acme-data"]
    small = plugin_lib.init('{"maxRecordBytes": 102400}')
    try:
        assert [e.payload for e in read_all(small, tmp_path / "big.json")] == texts[1:]
        assert small.metrics()["ctbridge.skipped_too_large"] == 1
        assert logged(small, "big.json", "Records[0]", "maxRecordBytes")
    finally:
        small.destroy()


def test_10000_deep_nesting(state: PluginState, tmp_path: Path) -> None:
    deep = b"[" * 10_000 + b"]" * 10_000
    rec = json.dumps(make_record(0)).encode()[:-1] + b',"deep":' + deep + b"}"
    good = json.dumps(make_record(1)).encode()
    (tmp_path / "d.json").write_bytes(b'{"Records":[' + rec + b"," + good + b"]}")
    (tmp_path / "e.jsonl").write_bytes(rec + b"\n" + good + b"\n")
    events = read_all(state, tmp_path)
    assert [e.payload for e in events] == [rec, good, rec, good]
    # Too deep to parse for extraction: a clear error for that event (Falco logs it), no crash.
    with pytest.raises(PluginError, match="nesting deeper than 1024 levels"):
        state.extract(rec, ["ct.name", "ctb.value[/deep]"], evtnum=1)
    assert state.extract(good, ["ct.name"], evtnum=2) == ["PutBucketAcl"]


def test_deep_nesting_unterminated(state: PluginState, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b'{"Records":[{"eventTime":"x","a":' + b"[" * 10_000)
    texts = good_file(tmp_path / "b.json", 0, 1)
    assert [e.payload for e in read_all(state, tmp_path)] == texts
    assert logged(state, "a.json", "invalid JSON")


def test_records_without_event_time(state: PluginState, tmp_path: Path) -> None:
    recs = [
        make_record(0),
        make_record(1, eventTime=...),
        make_record(2, eventTime="yesterday"),
        make_record(3, eventTime=1714564803),
        make_record(4, eventTime="2024-02-30T00:00:00Z"),
        make_record(5),
    ]
    body, texts = log_file_text(recs)
    (tmp_path / "nt.json").write_bytes(body)
    events = read_all(state, tmp_path / "nt.json")
    assert [e.payload for e in events] == [texts[0], texts[5]]
    assert [e.ts for e in events] == [ts_of(0), ts_of(5)]
    assert state.metrics()["ctbridge.skipped_no_time"] == 4
    assert logged(state, "nt.json", "Records[1]", "no eventTime")
    assert logged(state, "nt.json", "Records[2]", "yesterday")
    assert logged(state, "nt.json", "Records[3]", "not a string")


def test_many_skipped_records_are_summarized(state: PluginState, tmp_path: Path) -> None:
    body, _ = log_file_text([make_record(i, eventTime=...) for i in range(50)])
    (tmp_path / "many.json").write_bytes(body)
    texts = good_file(tmp_path / "ok.json", 0, 1)
    assert [e.payload for e in read_all(state, tmp_path)] == texts
    assert state.metrics()["ctbridge.skipped_no_time"] == 50
    assert logged(state, "many.json", "40 more records skipped")


def test_records_without_event_type(state: PluginState, tmp_path: Path) -> None:
    body, texts = log_file_text([make_record(0, eventType=...), make_record(1, eventType=7), make_record(2)])
    (tmp_path / "ty.jsonl").write_bytes(b"\n".join(json.dumps(json.loads(t)).encode() for t in texts))
    events = read_all(state, tmp_path / "ty.jsonl")
    assert [json.loads(e.payload)["eventID"] for e in events] == [make_record(2)["eventID"]]
    assert state.metrics()["ctbridge.skipped_no_type"] == 2
    assert logged(state, "ty.jsonl", "line 1", "no eventType")


def test_insight_records(plugin_lib: PluginLib, state: PluginState, tmp_path: Path) -> None:
    insight = make_record(1, eventType="AwsCloudTrailInsight", eventCategory="Insight")
    body, texts = log_file_text([make_record(0), insight, make_record(2)])
    (tmp_path / "i.json").write_bytes(body)
    assert [e.payload for e in read_all(state, tmp_path / "i.json")] == [texts[0], texts[2]]
    assert state.metrics()["ctbridge.skipped_insight"] == 1
    keep = plugin_lib.init('{"skipInsights": false}')
    try:
        assert [e.payload for e in read_all(keep, tmp_path / "i.json")] == texts
        assert keep.metrics()["ctbridge.skipped_insight"] == 0
    finally:
        keep.destroy()


def test_bad_jsonl_lines(state: PluginState, tmp_path: Path) -> None:
    texts = [json.dumps(make_record(i)).encode() for i in range(3)]
    lines = [texts[0], b'{"eventTime": "2024-05-01T12:00:00Z", "trunc', b"[1,2]", b"\xff\xfe garbage",
             texts[1], b"{} {}", texts[2]]
    (tmp_path / "b.jsonl").write_bytes(b"\n".join(lines))
    events = read_all(state, tmp_path / "b.jsonl")
    assert [e.payload for e in events] == texts
    assert state.metrics()["ctbridge.bad_inputs"] == 4
    assert logged(state, "b.jsonl", "line 2", "invalid JSON")
    assert logged(state, "b.jsonl", "line 3", "not a single JSON object")


def test_records_not_an_array_and_non_object_elements(state: PluginState, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"Records": {"eventTime": "2024-05-01T12:00:00Z"}}')
    rec = json.dumps(make_record(0))
    (tmp_path / "b.json").write_text('{"Records": [1, "x", [], ' + rec + ", null]}")
    events = read_all(state, tmp_path)
    assert [e.payload for e in events] == [rec.encode()]
    assert logged(state, "a.json", "not an array")
    assert logged(state, "b.json", "4 element(s)")
    assert state.metrics()["ctbridge.bad_inputs"] == 2


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 100, bytes(range(256)) * 40, b"\x1f\x8b\x08\x00garbage", b'{"Records":[{"eventTime":"\\u12'],
)
def test_garbage_files_do_not_crash(state: PluginState, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "a.json").write_bytes(content)
    (tmp_path / "a2.jsonl.gz").write_bytes(content)
    texts = good_file(tmp_path / "b.json", 0, 2)
    assert [e.payload for e in read_all(state, tmp_path)] == texts
    assert state.metrics()["ctbridge.bad_inputs"] >= 1
