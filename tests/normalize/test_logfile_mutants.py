"""bridge/normalize/logfile.py limits and edges that make mutation left unchecked: the default record
and blob limits, the nesting limits on the stdlib path, the last nanosecond Falco can hold, 19-digit
negative integers, .ndjson files, and the "named .gz" reason."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from bridge.model import BadItem, Blob, Record
from bridge.normalize import logfile
from bridge.normalize.logfile import records_from_blob

BIG = 12345678901234567890  # beyond 64 bits: sends the file to the stdlib parser


def one(data: bytes, name: str = "f.json", **kw: int) -> Record | BadItem:
    (item,) = records_from_blob(Blob(name, data), **kw)
    return item


def record(**extra: object) -> dict[str, object]:
    return {"eventVersion": "1.09", "eventTime": "2026-11-20T10:00:00Z", "eventID": "e", **extra}


def test_default_limits() -> None:
    # 4 MiB per record, 2 GiB per decompressed blob: the limits docs/threat-model.md documents.
    assert logfile.DEFAULT_MAX_BLOB_BYTES == 2 * 1024**3
    base = len(json.dumps(record(pad=""), separators=(",", ":")))
    at_limit = record(pad="x" * (4 * 1024 * 1024 - base))
    got = one(json.dumps({"Records": [at_limit]}).encode())
    assert isinstance(got, Record) and len(got.raw) == 4 * 1024 * 1024
    over = record(pad="x" * (4 * 1024 * 1024 - base + 1))
    got = one(json.dumps({"Records": [over]}).encode())
    assert isinstance(got, BadItem) and got.reason == f"f.json record 0: {4 * 1024 * 1024 + 1} bytes, over the 4194304 byte record limit"


def _nested(levels: int) -> object:
    v: object = BIG
    for _ in range(levels):
        v = [v]
    return v


def test_nesting_limits_on_the_stdlib_path() -> None:
    # The record itself is one level; 255 lists inside make 256: the most a record may have.
    got = one(json.dumps({"Records": [record(x=_nested(255))]}).encode())
    assert isinstance(got, Record) and str(BIG).encode() in got.raw
    got = one(json.dumps({"Records": [record(x=_nested(256))]}).encode())
    assert isinstance(got, BadItem) and got.reason == "f.json record 0: nested deeper than 256 levels"
    # Beyond what an envelope may add (4 levels above a record), the file is refused before parsing.
    got = one(json.dumps({"Records": [record(x=_nested(257))]}).encode())  # file depth 260
    assert isinstance(got, BadItem) and got.reason == "f.json record 0: nested deeper than 256 levels"
    got = one(json.dumps({"Records": [record(x=_nested(258))]}).encode())  # file depth 261
    assert isinstance(got, BadItem) and got.reason == "f.json: nested deeper than 260 levels"


def test_the_last_nanosecond_falco_can_hold() -> None:
    last = one(json.dumps({"Records": [record(eventTime="2554-07-21T23:34:33.709551615Z")]}).encode())
    assert isinstance(last, Record) and last.ts_ns == 2**64 - 1
    after = one(json.dumps({"Records": [record(eventTime="2554-07-21T23:34:33.709551616Z")]}).encode())
    assert isinstance(after, BadItem) and "outside 1970..2554" in after.reason


def test_negative_19_digit_integers_are_kept_exactly() -> None:
    n = -9223372036854775809  # below int64: orjson cannot hold it
    got = one(json.dumps({"Records": [record(n=n)]}).encode())
    assert isinstance(got, Record) and json.loads(got.raw)["n"] == n


@pytest.mark.parametrize("name", ["f.ndjson", "f.jsonl"])
def test_json_lines_suffixes(name: str) -> None:
    data = (json.dumps(record(eventID="a")) + "\n" + json.dumps(record(eventID="b")) + "\n").encode()
    got = list(records_from_blob(Blob(name, data)))
    assert [g.event_id for g in got if isinstance(g, Record)] == ["a", "b"]
    assert [g.origin for g in got] == [f"{name}#0", f"{name}#1"]


def test_named_gz_but_plain() -> None:
    arr = json.dumps([record()]).encode()
    got = one(arr, name="f.json.gz")  # a plain JSON array named .gz is read as it is
    assert isinstance(got, Record)
    got = one(b"hello, world", name="f.json.gz")
    assert isinstance(got, BadItem)
    assert got.reason == "f.json.gz: named .gz but is not gzip data (starts with b'hello, w')"


@pytest.mark.parametrize(("data", "reason"), [
    (b'{"Records":[', "f.json: truncated JSON: unexpected end of data: line 1 column 13 (char 12)"),
    (b'{"Records":[{"n":12345678901234567890,"s":"abc',  # stdlib's words for the same
     "f.json: truncated JSON: Unterminated string starting at: line 1 column 43 (char 42)"),
    (b"", "f.json: empty input: Input is a zero-length, empty document: line 1 column 1 (char 0)"),
    (b"{x}", "f.json: invalid JSON: unexpected character, expected a string key: line 1 column 2 (char 1)"),
    (b'{"Records":[{"n":NaN,"b":12345678901234567890}]}', "f.json: invalid JSON: NaN is not valid JSON"),
    # Content after the document, and the first line is not a document either: not JSON lines.
    (b'{"Records":[]} garbage', "f.json: invalid JSON: unexpected content after document: line 1 column 16 (char 15)"),
])
def test_whole_file_reasons_in_full(data: bytes, reason: str) -> None:
    got = one(data)
    assert isinstance(got, BadItem) and (got.origin, got.reason, got.raw) == ("f.json", reason, data)


def test_gunzip_limits_and_reasons_in_full() -> None:
    body = json.dumps({"Records": [record(eventID=str(i)) for i in range(50)]}).encode()
    gz = gzip.compress(body)
    assert len(list(records_from_blob(Blob("f.json", gz), max_blob_bytes=len(body)))) == 50
    got = one(gz, max_blob_bytes=len(body) - 1)
    assert isinstance(got, BadItem) and got.reason == f"f.json: decompresses to more than {len(body) - 1} bytes"
    # The limit holds across gzip members too.
    half = len(body) // 2
    two = gzip.compress(body[:half]) + gzip.compress(body[half:])
    assert len(list(records_from_blob(Blob("f.json", two), max_blob_bytes=len(body)))) == 50
    got = one(two, max_blob_bytes=len(body) - 1)
    assert isinstance(got, BadItem) and got.reason == f"f.json: decompresses to more than {len(body) - 1} bytes"
    got = one(gz[:10] + bytes(b ^ 0xFF for b in gz[10:20]) + gz[20:])
    assert isinstance(got, BadItem) and got.reason.startswith("f.json: corrupt gzip data after 0 bytes of output (")
    got = one(gz[:-12])
    total = len(zlib.decompressobj(31).decompress(gz[:-12]))
    assert isinstance(got, BadItem) and got.reason == f"f.json: truncated gzip: stream ends early after {total} bytes of output"
    for tail in (b"X", b"XX\x00"):
        got = one(gz + tail)
        assert isinstance(got, BadItem) and got.reason == f"f.json: trailing garbage after gzip data ({len(tail)} bytes)"
    assert len(list(records_from_blob(Blob("f.json", gz + b"\x00" * 7)))) == 50


LINES = [json.dumps(record(eventID=str(i), pad=str(i) * (i % 97))).encode() + b"\n" for i in range(400)]


@pytest.mark.parametrize(("damage", "reason"), [
    (lambda m2: m2[:-15], "truncated gzip"),
    (lambda m2: m2 + b"XYZ", "trailing garbage"),
    (lambda m2: m2[:-300] + bytes(b ^ 0x55 for b in m2[-300:-200]) + m2[-200:], "corrupt gzip data"),
])
def test_damaged_multi_member_json_lines_keep_every_whole_line(damage: object, reason: str) -> None:
    m1, m2 = gzip.compress(b"".join(LINES[:3])), gzip.compress(b"".join(LINES[3:]))
    got = list(records_from_blob(Blob("f.jsonl.gz", m1 + damage(m2))))  # type: ignore[operator]
    recs = [g for g in got if isinstance(g, Record)]
    # zlib gives nothing of a call that fails, so a corrupt second member adds no line
    assert [r.event_id for r in recs] == [str(i) for i in range(len(recs))] and len(recs) >= 3, reason
    assert len(recs) > 3 or reason == "corrupt gzip data"
    assert all(json.loads(r.raw)["eventID"] == r.event_id for r in recs)
    (bad,) = [g.reason for g in got if isinstance(g, BadItem)]
    assert bad.startswith(f"f.jsonl.gz: {reason}")


def test_json_lines_over_the_size_limit_keep_the_lines_before_it() -> None:
    data = gzip.compress(b"".join(LINES[:3])) + gzip.compress(b"".join(LINES[3:]))
    limit = len(b"".join(LINES[:50])) + 10
    got = list(records_from_blob(Blob("f.jsonl.gz", data), max_blob_bytes=limit))
    assert [g.event_id for g in got if isinstance(g, Record)] == [str(i) for i in range(50)]
    assert [g.reason for g in got if isinstance(g, BadItem)] == [f"f.jsonl.gz: decompresses to more than {limit} bytes"]


def test_depth_scan_counts_only_brackets_outside_strings() -> None:
    # More than 260 brackets in the file, at most 260 deep, some closed before the deep part:
    # the record (258 deep) is refused on its own, not the whole file.
    rec = record(a="[[{{", y=[[1]], x=_nested(257))
    got = one(json.dumps({"Records": [rec]}).encode())
    assert isinstance(got, BadItem) and got.reason == "f.json record 0: nested deeper than 256 levels"


def test_long_digit_runs_inside_strings_and_text_after_them() -> None:
    rec = record(s="1234567890123456789012345", t="9" * 40, u="café")
    got = one(json.dumps({"Records": [rec]}, ensure_ascii=False).encode())
    assert isinstance(got, Record) and json.loads(got.raw) == rec
    big = record(n=10**25, u="café")  # the stdlib re-encoding writes UTF-8, not \u escapes
    got = one(json.dumps({"Records": [big]}, ensure_ascii=False).encode())
    assert isinstance(got, Record) and "café".encode() in got.raw


def test_twenty_digit_integers_beyond_64_bits_are_kept_exactly() -> None:
    n = 99999999999999999999  # 20 digits, above 2**64: orjson would make it a float
    got = one(json.dumps({"Records": [record(n=n, m=[n])]}).encode())
    assert isinstance(got, Record) and json.loads(got.raw)["n"] == n and json.loads(got.raw)["m"] == [n]


def test_closed_brackets_do_not_hide_deep_nesting_from_the_stdlib_parser() -> None:
    # Many closed pairs first, then nesting beyond Python's recursion limit, on the stdlib path.
    data = b'{"Records":[{"n":' + str(BIG).encode() + b',"e":[' + b"[]," * 4000 + b"1]," + \
        b'"x":' + b"[" * 3000 + b"]" * 3000 + b"}]}"
    got = one(data)
    assert isinstance(got, BadItem) and got.reason == "f.json: nested deeper than 260 levels"
