"""bridge/normalize/stream.py details that make mutation left unchecked: gzip framing (padding,
garbage, members split across chunks, the decompressed-size limit), the exact reasons users read
in the quarantine, and the record-boundary edge cases."""

from __future__ import annotations

import gzip
import json
import re

import pytest

from bridge.model import BadItem, Record
from bridge.normalize.stream import records_from_chunks


def rec(i: int, **extra: object) -> bytes:
    body = {"eventVersion": "1.09", "userIdentity": {"type": "Root"}, "eventTime": "2026-11-20T10:00:0%dZ" % (i % 10),
            "eventName": "X", "eventID": f"id-{i}", **extra}
    return json.dumps(body, separators=(",", ":")).encode()


def log(*records: bytes) -> bytes:
    return b'{"Records":[' + b",".join(records) + b"]}"


def run(chunks: list[bytes], name: str = "f.json.gz", **kw: int) -> list[Record | BadItem]:
    return list(records_from_chunks(name, chunks, **kw))


def ids(got: list[Record | BadItem]) -> list[str | None]:
    return [g.event_id for g in got if isinstance(g, Record)]


def bad(got: list[Record | BadItem]) -> list[str]:
    return [g.reason for g in got if isinstance(g, BadItem)]


GZ = gzip.compress(log(rec(1), rec(2)))


@pytest.mark.parametrize("tail", [b"\x00" * 10, b"\x00"])
def test_zero_padding_after_gzip_is_ignored(tail: bytes) -> None:
    for chunks in ([GZ + tail], [GZ, tail], [GZ[:-3], GZ[-3:] + tail]):
        got = run(chunks)
        assert ids(got) == ["id-1", "id-2"] and bad(got) == []


@pytest.mark.parametrize("tail", [b"X", b"\x1f", b"XX", b"ab", b"abc", b"\x00X"])
def test_garbage_after_gzip_is_reported(tail: bytes) -> None:
    # One stray byte too (it passed as clean before: found by mutation testing; logfile's _gunzip
    # always reported it). The record still waiting for the array's end is lost with the damage.
    for chunks in ([GZ + tail], [GZ, tail]):
        got = run(chunks)
        assert ids(got) in (["id-1"], ["id-1", "id-2"])
        assert bad(got) == [f"f.json.gz: trailing garbage after gzip data ({len(tail)} bytes) (after {len(ids(got))} records)"]


def test_next_member_split_after_its_first_bytes() -> None:
    second = gzip.compress(log(rec(3))[:0] + b"")  # an empty member is legal
    a, b = gzip.compress(log(rec(1), rec(2))[:40]), gzip.compress(log(rec(1), rec(2))[40:])
    for cut in (1, 2, 3):
        got = run([a + b[:cut], b[cut:]])
        assert ids(got) == ["id-1", "id-2"] and bad(got) == [], cut
    assert ids(run([GZ + second])) == ["id-1", "id-2"]


def test_decompressed_size_limit_is_inclusive() -> None:
    data = log(rec(1), rec(2))
    assert bad(run([gzip.compress(data)], max_blob_bytes=len(data))) == []
    got = run([gzip.compress(data)], max_blob_bytes=len(data) - 1)
    assert bad(got) == [f"f.json.gz: decompresses to more than {len(data) - 1} bytes"]
    assert bad(run([data], name="f.json", max_blob_bytes=len(data))) == []
    got = run([data[:10], data[10:]], name="f.json", max_blob_bytes=len(data) - 1)
    assert bad(got) == [f"f.json: more than {len(data) - 1} bytes"]


def test_corrupt_and_truncated_gzip_reasons() -> None:
    broken = GZ[:10] + bytes(b ^ 0xFF for b in GZ[10:30]) + GZ[30:]
    (reason,) = bad(run([broken]))
    assert reason.startswith("f.json.gz: corrupt gzip data after 0 bytes of output (")
    got = run([GZ[:-10]])
    m = re.fullmatch(r"f\.json\.gz: truncated gzip: stream ends early after (\d+) bytes of output \(after 1 records\)", bad(got)[-1])
    assert m and 0 < int(m.group(1)) < len(log(rec(1), rec(2))), got


def test_output_held_back_by_the_chunk_cap_still_comes_out() -> None:
    # Highly compressible: zlib consumes all input while more than one CHUNK of output is pending.
    raws = [rec(i, pad="x" * 20_000) for i in range(200)]  # about 4 MB of JSON, a few KB gzip'd
    gz = gzip.compress(log(*raws))
    assert len(gz) < 100_000
    for chunks in ([gz], [gz[:500], gz[500:]]):
        got = run(chunks)
        assert [g.raw for g in got if isinstance(g, Record)] == raws and bad(got) == []


def test_record_over_the_limit_reasons() -> None:
    # Whole in the buffer: parsed and measured.
    big = rec(1, blob="x" * 5000)
    got = run([log(rec(0), big, rec(2))], name="f.json", max_record_bytes=2000)
    assert ids(got) == ["id-0", "id-2"]
    assert bad(got) == [f"f.json record 1: {len(big)} bytes, over the 2000 byte record limit"]
    # Past the limit by more than a read chunk (1 MiB): given up on while streaming, then skipped.
    # When the skip read the file's last chunk, the records after it came out as one merged
    # "record" (id-2's bytes, a comma, id-3's) with id-3's eventID: found by this test.
    huge = rec(1, blob="x" * (3 << 19))
    data = log(rec(0), huge, rec(2), rec(3))
    got = run([data[i:i + 65536] for i in range(0, len(data), 65536)], name="f.json", max_record_bytes=1000)
    assert ids(got) == ["id-0", "id-2", "id-3"]
    assert all(json.loads(g.raw)["eventID"] == g.event_id for g in got if isinstance(g, Record))
    assert bad(got) == ["f.json record 1: over the 1000 byte record limit"]
    assert [g.origin for g in got] == ["f.json#0", "f.json#1", "f.json#2", "f.json#3"]


def spaced(i: int, **extra: object) -> bytes:
    """A record with spaces after separators: kept as is only by the streaming path (the parser
    path re-encodes compactly)."""
    return json.dumps(json.loads(rec(i, **extra))).encode()


def test_streamed_head_forms_keep_the_bytes() -> None:
    raws = [spaced(1), spaced(2)]
    for head in (b'{"Records":[', b'\xef\xbb\xbf \n{ "Records" : [\n'):
        data = head + b",".join(raws) + b"]}\n"
        for chunks in ([data], [data[:1], data[1:]], [data[i:i + 5] for i in range(0, len(data), 5)]):
            got = run(chunks, name="f.json")
            assert [g.raw for g in got if isinstance(g, Record)] == raws, (head, len(chunks))
    gz = gzip.compress(b'{"Records":[' + b",".join(raws) + b"]}")
    assert [g.raw for g in run([gz[:1], gz[1:2], gz[2:]])] == raws  # type: ignore[union-attr]


def test_lines_and_other_shapes_go_to_the_parser_with_the_name_given() -> None:
    lines = spaced(1) + b"\n" + spaced(2) + b"\n"
    for name in ("x.jsonl", "x.NDJSON", "x.jsonl.gz"):
        data = gzip.compress(lines) if name.endswith(".gz") else lines
        got = run([data], name=name)
        assert ids(got) == ["id-1", "id-2"] and all(g.raw == rec(i + 1) for i, g in enumerate(got)), name  # type: ignore[union-attr]
    # A damaged blob handed to the parser keeps the input's own name in its reasons.
    got = run([gzip.compress(b"[1, 2")], name="x.json.gz")
    assert [(g.origin, g.reason) for g in got] == [("x.json.gz", "x.json.gz: truncated JSON: unexpected end of data: line 1 column 6 (char 5)")]  # type: ignore[union-attr]
    got = run([b'{"Records":[7, {"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z"}]}'], name="y.json.gz")
    assert [g.origin for g in got] == ["y.json.gz#0", "y.json.gz#1"] and isinstance(got[1], Record)
    assert got[0].reason == "y.json.gz record 0: is a JSON number, not a JSON object"  # type: ignore[union-attr]


def test_record_level_reasons_and_event_ids() -> None:
    cases = [
        (b'{"eventVersion":"1","eventTime":"x","eventID":"a"}', "f.json record 0: eventTime 'x' is not an RFC 3339 timestamp"),
        (b'{"eventVersion":"1","eventTime":5,"eventID":"a"}', "f.json record 0: eventTime is not a string"),
        (b'{"eventVersion":"1","eventID":"a"}', "f.json record 0: has no eventTime"),
        (b'{"eventVersion":"1","eventTime":"1969-12-31T23:59:59Z"}',
         "f.json record 0: eventTime '1969-12-31T23:59:59Z' is outside 1970..2554, the range of Falco's event timestamps"),
    ]
    for raw, reason in cases:
        (got,) = run([b'{"Records":[' + raw + b"]}"], name="f.json")
        assert isinstance(got, BadItem) and (got.origin, got.reason, got.raw) == ("f.json#0", reason, raw)
    odd_ids = {
        b'"eventID":""': None,  # empty: no eventID
        b'"eventID":"a\\"b"': 'a"b',  # escaped quote: the parser reads it
        b'"eventID":"' + b"i" * 300 + b'"': "i" * 300,  # longer than the quick scan takes
        b'"eventID":7': None,
    }
    for field, want in odd_ids.items():
        raw = b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00.5Z",' + field + b"}"
        (got,) = run([b'{"Records":[' + raw + b"]}"], name="f.json")
        assert isinstance(got, Record) and got.raw == raw and got.event_id == want and got.ts_ns % 10**9 == 5 * 10**8


def test_event_time_is_taken_only_as_a_key() -> None:
    # "eventTime" inside a string value before the real key must not be read as the time.
    raw = b'{"eventVersion":"1","note":"x\\"eventTime\\":\\"2001-01-01T00:00:00Z","eventTime":"2026-11-20T10:00:00Z","eventID":"q"}'
    (got,) = run([b'{"Records":[' + raw + b"]}"], name="f.json")
    assert isinstance(got, Record) and got.ts_ns == 1795168800 * 10**9 and got.event_id == "q"


def test_truncated_inside_the_array_keeps_the_bytes_it_had() -> None:
    data = log(rec(1), rec(2))[:-40]
    got = run([data], name="f.json")
    assert ids(got) == ["id-1"]
    last = got[-1]
    assert isinstance(last, BadItem) and last.origin == "f.json#1"
    assert last.reason == "f.json record 1: truncated JSON: the file ends inside the Records array"
    assert last.raw == rec(2)[:-38]
    got = list(records_from_chunks("f.json", [data], max_record_bytes=10))
    assert isinstance(got[-1], BadItem) and got[-1].raw == rec(2)[:10]


def test_empty_and_tiny_inputs() -> None:
    assert [(g.origin, g.reason, g.raw) for g in run([], name="e.json")] == [("e.json", "e.json: empty input", b"")]  # type: ignore[union-attr]
    assert [(g.origin, g.reason) for g in run([b"", b""], name="e.json")] == [("e.json", "e.json: empty input")]  # type: ignore[union-attr]
    assert run([b'{"Records":[]}'], name="e.json") == []
    assert run([b'{"Records":[ ]}\n'], name="e.json") == []


def test_a_gzip_magic_alone_at_the_end_is_a_truncated_member() -> None:
    got = run([GZ + b"\x1f\x8b"])
    assert bad(got)[-1].startswith("f.json.gz: truncated gzip: stream ends early after ")
    assert [g.origin for g in got if isinstance(g, BadItem)] == [f"f.json.gz#{len(ids(got))}"]


def test_size_limit_counts_every_output_chunk() -> None:
    data = log(*(rec(i, pad="y" * 30_000) for i in range(100)))  # 3 MB: three decompress chunks
    got = run([gzip.compress(data)], max_blob_bytes=2 << 20)
    assert bad(got) == [f"f.json.gz: decompresses to more than {2 << 20} bytes (after {len(ids(got))} records)"]


@pytest.mark.parametrize("name", ["x.jsonl", "x.NDJSON", "x.jsonl.gz", "x.ndjson.gz"])
def test_json_lines_of_log_files_are_read_as_lines(name: str) -> None:
    data = log(rec(1), rec(2)) + b"\n" + log(rec(3)) + b"\n"
    if name.endswith(".gz"):
        data = gzip.compress(data)
    for chunks in ([data], [data[i:i + 9] for i in range(0, len(data), 9)]):
        got = run(chunks, name=name)
        assert ids(got) == ["id-1", "id-2", "id-3"] and bad(got) == [], (name, got)


def test_last_record_damaged_is_reported_not_dropped() -> None:
    broken = b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z","x":{"a":1'
    got = run([log(rec(1), broken)], name="f.json")
    assert ids(got) == ["id-1"]
    assert [(g.origin, g.raw) for g in got if isinstance(g, BadItem)] == [("f.json#1", broken)]


@pytest.mark.parametrize("broken", [
    b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z","x":"caf\xe9"}',  # not UTF-8
    b'{"eventVersion":"1","eventID":"n"}',  # no eventTime
    b'{"eventVersion":"1","eventTime":"2026-13-45T10:00:00Z"}',  # matches the quick scan, not a date
    # Not JSON, and no eventTime where the quick scan takes it (which trusts CloudTrail's bytes and
    # leaves syntax to the plugin): the parser judges, brackets in strings must not make it wait
    # for more input.
    b'{"eventVersion":"1","x":"[","y":tru}',
    b'{"eventVersion":"1","x":1]}',
])
def test_a_bad_record_leaves_its_neighbours_byte_for_byte(broken: bytes) -> None:
    for chunks in ([log(rec(1), broken, rec(2), rec(3))], [log(rec(1), broken, rec(2), rec(3))[i:i + 11] for i in range(0, 500, 11)]):
        got = run(chunks, name="f.json")
        assert [g.raw for g in got if isinstance(g, Record)] == [rec(1), rec(2), rec(3)], broken
        assert [(g.origin, g.raw) for g in got if isinstance(g, BadItem)] == [("f.json#1", broken)]


def test_skipping_a_big_record_finds_a_boundary_split_across_chunks() -> None:
    huge = rec(1, blob="x" * (3 << 19))
    data = log(rec(0), huge, rec(2), rec(3))
    sep = data.index(b'},{"eventVersion"', data.index(b'"id-1"'))
    for cut in (5, 10, 16):
        at = sep + cut
        chunks = [data[i:min(i + 65536, at)] for i in range(0, at, 65536)] + [data[at:]]
        got = run(chunks, name="f.json", max_record_bytes=1000)
        assert ids(got) == ["id-0", "id-2", "id-3"], cut
        assert bad(got) == ["f.json record 1: over the 1000 byte record limit"]


def test_a_big_last_record_is_skipped_to_the_end() -> None:
    data = log(rec(0), rec(1, blob="x" * (3 << 19)))
    got = run([data[i:i + 65536] for i in range(0, len(data), 65536)], name="f.json", max_record_bytes=1000)
    assert [(g.origin, g.event_id if isinstance(g, Record) else g.reason) for g in got] == [
        ("f.json#0", "id-0"), ("f.json#1", "f.json record 1: over the 1000 byte record limit")]


def test_gzip_of_something_else_is_judged_by_the_parser() -> None:
    (got,) = run([gzip.compress(b"hello")], name="x.json.gz")
    assert isinstance(got, BadItem) and got.origin == "x.json.gz"
    assert got.reason.startswith("x.json.gz: invalid JSON: ") and "gzip" not in got.reason


def test_parser_path_reasons_and_the_exact_size_limit() -> None:
    broken = b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z","x":"caf\xe9"}'
    got = run([log(rec(1), broken, rec(2))], name="f.json")
    assert bad(got) == ["f.json record 1: not valid UTF-8 (byte 0xe9 at offset 63)"]
    # A record the quick scan leaves to the parser (an escaped quote in its eventID), exactly at
    # the limit: still a record.
    odd = b'{"eventVersion":"1","eventTime":"2026-11-20T10:00:00Z","eventID":"a\\"b"}'
    for limit, kept in ((len(odd), True), (len(odd) - 1, False)):
        (got1,) = run([log(odd)], name="f.json", max_record_bytes=limit)
        assert isinstance(got1, Record) is kept, limit
