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
